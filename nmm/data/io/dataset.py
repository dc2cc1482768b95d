"""The project's own dataset folder: `manifest.yaml` plus one OpenSim `.sto` per trial stream.

    manifest.yaml
    data-<id>/S01/1_flexion_01_emg.npz, data-<id>/S01/1_flexion_01_kinematics.sto, ...

Kinematics, torque and envelopes are OpenSim `.sto` files; the raw EMG (kHz rates) is a
compressed `.npz` (arrays `time`, `values`, `channels`), exact in float64.

The manifest lists the subjects (MVIC reference, anthropometry, their own scaled `.osim` model if
any: relative to the dataset folder when inside it, else absolute) and, per trial, its identity,
load, coordinate, metadata and streams (file and the unit of each channel). Each write puts its
stream files in a new `data-<id>/` folder and writes the manifest last, atomically: an
interrupted write never leaves a manifest that points at missing, half-written or newer files,
and the previous dataset stays readable until the new manifest replaces it.

Reading trusts nothing in the folder: the manifest is read within the limits of
`nmm.data.io.textfile` (size, line length, final line break, UTF-8), every key is checked for
its type, each stream file must lie inside the dataset folder once links are resolved (a
manifest cannot make the reader open `/etc/passwd`), and a damaged `.npz` is a ReaderError naming
it. Every error names the file, and the key in the manifest where there is one.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.errors import ReaderError, naming_file
from nmm.data.io.sto import read_sto, write_sto
from nmm.data.io.textfile import Fields, load_yaml
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial

FORMAT = "nmm-painsig-dataset"
VERSION = 1
MANIFEST = "manifest.yaml"
_GENERATION = re.compile(r"^data-[0-9a-f]{12}$")  # stream-file folders made by write_dataset
_STREAMS = ("emg", "envelope", "kinematics", "torque")
_NPZ_ARRAYS = ("time", "values", "channels")
# Largest stream .npz accepted, bytes unpacked (the zip directory's sizes, checked before
# unpacking): one hour of 16 channels at 4 kHz in float64 is 1.8 GiB.
MAX_NPZ_BYTES = 4 * 2**30
# What a damaged .npz raises inside zipfile, zlib and numpy's .npy reader
_NPZ_DAMAGE = (
    OSError,
    EOFError,
    KeyError,
    ValueError,
    NotImplementedError,
    MemoryError,
    zipfile.BadZipFile,
    zlib.error,
)


def _opt_float(value: float | None) -> float | None:
    """A plain float for YAML (numpy scalars are not representable by yaml.safe_dump)."""
    return None if value is None else float(value)


def write_dataset(
    cohort: Cohort, folder: str | os.PathLike[str], binary_streams: tuple[str, ...] = ("emg",)
) -> Path:
    """Write `cohort` as a dataset folder; returns the manifest path.

    binary_streams: streams stored as compressed `.npz` (float64, exact) instead of `.sto`:
    by default the raw EMG, which at 2 kHz and more is large as text.

    Stream files go to a new `data-<id>/` folder; the manifest is replaced last. A failed write
    removes what it wrote and leaves the previous dataset as it was; a successful one removes
    the `data-<id>/` folders of earlier writes.
    """
    folder = Path(folder)
    generation = f"data-{uuid.uuid4().hex[:12]}"
    try:
        path = _write(cohort, folder, generation, binary_streams)
    except BaseException:
        shutil.rmtree(folder / generation, ignore_errors=True)
        raise
    for old in folder.iterdir():
        if old.name != generation and _GENERATION.match(old.name) and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return path


def _write_stream(path: Path, sig: Signal, name: str) -> None:
    if path.suffix == ".npz":
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez_compressed(
                f, time=sig.time, values=sig.values, channels=np.array(sig.channels)
            )
    else:
        write_sto(path, sig.time, sig.values, sig.channels, name=name)


def _inside(folder: Path, spec: Fields, key: str) -> Path:
    """The file named by `spec[key]`, resolved; ReaderError if it lies outside `folder`."""
    name = spec.text(key)
    try:
        root = folder.resolve()
        path = (root / name).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, loops of links
        raise spec.error(key, f"'{name}' is not a usable path ({exc})") from None
    if not path.is_relative_to(root):
        raise spec.error(key, f"'{name}' lies outside the dataset folder {root}")
    return path


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """time (T,) s, values (T, C) and channel names (C) of a stream `.npz`.

    ReaderError naming the file for damage of any kind (zip, compression, array headers, missing
    arrays, shapes, types) and for contents over MAX_NPZ_BYTES; never unpickles.
    """
    src = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            size = sum(info.file_size for info in archive.infolist())
        if size > MAX_NPZ_BYTES:
            raise ReaderError(
                f"arrays of {size:,} bytes, over the limit of {MAX_NPZ_BYTES:,}", source=src
            )
        with np.load(path, allow_pickle=False) as npz:
            time, values, channels = (npz[name] for name in _NPZ_ARRAYS)
    except _NPZ_DAMAGE as exc:
        raise ReaderError(f"damaged ({type(exc).__name__}: {exc})", source=src) from None
    shapes_ok = (
        time.ndim == 1
        and values.ndim == 2
        and channels.ndim == 1
        and values.shape == (time.size, channels.size)
    )
    numbers = time.dtype.kind in "fiu" and values.dtype.kind in "fiu"
    if not (shapes_ok and numbers and channels.dtype.kind == "U"):
        raise ReaderError(
            f"arrays time {time.dtype}{time.shape}, values {values.dtype}{values.shape}, "
            f"channels {channels.dtype}{channels.shape}: expected time (T,), values (T, C) "
            "numbers and C channel names",
            source=src,
        )
    return time, values, [str(c) for c in channels]


def _read_stream(folder: Path, kind: str, spec: Fields) -> Signal:
    """The `kind` stream described by the manifest entry `spec` (file, units, rate_hz,
    allow_gaps), from its `.npz` or `.sto` file inside `folder`."""
    path = _inside(folder, spec, "file")
    units_spec = spec.mapping("units")
    units = {name: units_spec.text(name) for name in units_spec.names()}
    if not units:
        raise spec.error("units", "no channels")
    rate = spec.number("rate_hz", None)
    allow_gaps = spec.flag("allow_gaps", False)
    if path.suffix != ".npz":
        table = read_sto(path)
        time, values, channels = table.time, table.data, list(table.columns)
    else:
        time, values, channels = _read_npz(path)
    missing = [c for c in units if c not in channels]
    if missing:
        raise ReaderError(
            "channel listed in the manifest is missing from the file",
            source=str(path),
            channel=missing[0],
        )
    if rate is None:  # the median step; Signal refuses a time base too short for one
        rate = float(1.0 / np.median(np.diff(time))) if time.size > 1 else float("nan")
    idx = [channels.index(c) for c in units]
    return Signal(
        time, values[:, idx], tuple(units), tuple(units.values()), rate, kind, str(path), allow_gaps
    )


def _write(cohort: Cohort, folder: Path, generation: str, binary_streams: tuple[str, ...]) -> Path:
    trials = []
    for t in cohort:
        streams = {}
        for kind, sig in t.streams().items():
            suffix = ".npz" if kind in binary_streams else ".sto"
            rel = Path(generation) / t.subject / f"{t.session}_{t.trial_id}_{kind}{suffix}"
            _write_stream(folder / rel, sig, name=f"{t.trial_id} {kind}")
            streams[kind] = {
                "file": rel.as_posix(),
                "rate_hz": sig.rate,
                "units": dict(zip(sig.channels, sig.units, strict=True)),
            }
        trials.append(
            {
                "subject": t.subject,
                "trial_id": t.trial_id,
                "session": t.session,
                "condition": t.condition,
                "coordinate": t.coordinate,
                "load": {
                    "mass_kg": float(t.load.mass_kg),
                    "lever_arm_m": _opt_float(t.load.lever_arm_m),
                },
                "metadata": t.metadata,
                "streams": streams,
            }
        )
    subjects = [
        {
            "id": s.subject_id,
            "mvic": {str(m): float(v) for m, v in s.mvic.items()},
            "body_mass_kg": _opt_float(s.body_mass_kg),
            "height_m": _opt_float(s.height_m),
            "metadata": s.metadata,
            "model": _model_entry(s.model, folder),
        }
        for s in cohort.subjects.values()
    ]
    muscle_set = cohort.trials[0].muscle_set.name if cohort.trials else "elbow"
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "name": cohort.name,
        "muscle_set": muscle_set,
        "subjects": subjects,
        "trials": trials,
    }
    return atomic_write_text(
        folder / MANIFEST, yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)
    )


def read_dataset(folder: str | os.PathLike[str], subjects: Sequence[str] | None = None) -> Cohort:
    """Read a dataset folder written by `write_dataset` (or by hand in the same layout).

    A stream entry may set `allow_gaps: true` to accept rows missing mid-file (see Signal).
    ReaderError or DataValidationError naming the file (and the manifest key) for anything
    malformed; see the module's docstring for what is checked.

    subjects: ids of the subjects to read, with their trials, in the manifest's order (the
    others' stream files are not opened); None: every subject. ReaderError naming the manifest
    for an id it lacks or an empty list.
    """
    folder = Path(folder)
    src = str(folder / MANIFEST)
    document = load_yaml(folder / MANIFEST, final_newline=True)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReaderError(f"not a dataset manifest (expected format: {FORMAT})", source=src)
    manifest = Fields(document, src)
    if manifest.value.get("version") != VERSION:
        raise ReaderError(
            f"manifest version {manifest.value.get('version')!r:.20} is not supported "
            f"(this reader knows version {VERSION})",
            source=src,
        )
    muscle_set = manifest.text("muscle_set", "elbow")
    with naming_file(src):
        chosen = [_subject(entry, folder) for entry in _chosen_subjects(manifest, subjects)]
        keep = {s.subject_id for s in chosen}
        trials = [
            _trial(entry, folder, muscle_set)
            for entry in manifest.sequence("trials")
            if subjects is None or entry.text("subject") in keep
        ]
        return Cohort(chosen, trials, name=manifest.text("name", folder.name))


def _chosen_subjects(manifest: Fields, subjects: Sequence[str] | None) -> list[Fields]:
    """The manifest's entries of ``subjects`` (None: all), in its order; ReaderError naming
    the manifest for ids it lacks or none."""
    entries = list(manifest.sequence("subjects"))
    if subjects is None:
        return entries
    have = [entry.text("id") for entry in entries]
    chosen = [str(s) for s in subjects]
    missing = [s for s in chosen if s not in have]
    if missing or not chosen:
        what = f"{missing} not in the dataset" if missing else "no subject chosen"
        raise ReaderError(f"subjects {chosen}: {what} (it has {have})", source=manifest.source)
    return [entry for entry, sid in zip(entries, have, strict=True) if sid in set(chosen)]


def _model_entry(model: str | None, folder: Path) -> str | None:
    """A subject's model as the manifest stores it: relative to the dataset folder when inside
    it (the folder moves with its models), else absolute."""
    if model is None:
        return None
    path = Path(model).resolve()
    root = folder.resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def _model_path(folder: Path, entry: Fields) -> str | None:
    """The subject's model named by `entry['model']`, resolved: a relative path must stay inside
    the dataset folder, an absolute one is taken as written; ReaderError if it is no file."""
    if "model" not in entry:
        return None
    name = entry.text("model")
    path = Path(name) if Path(name).is_absolute() else _inside(folder, entry, "model")
    if not path.is_file():
        raise entry.error("model", f"the subject's model '{path}' does not exist")
    return str(path)


def _subject(entry: Fields, folder: Path) -> Subject:
    mvic = entry.mapping("mvic", {})
    return Subject(
        entry.text("id"),
        {muscle: mvic.number(muscle) for muscle in mvic.names()},
        entry.number("body_mass_kg", None),
        entry.number("height_m", None),
        entry.plain("metadata"),
        _model_path(folder, entry),
    )


def _trial(entry: Fields, folder: Path, muscle_set: str) -> Trial:
    spec = entry.mapping("streams")
    streams = {}
    for kind in spec.names():
        if kind not in _STREAMS:
            raise spec.error(kind, f"unknown stream (known: {', '.join(_STREAMS)})")
        streams[kind] = _read_stream(folder, kind, spec.mapping(kind))
    load = entry.mapping("load", {}).only(("mass_kg", "lever_arm_m"))
    return Trial(
        subject=entry.text("subject"),
        trial_id=entry.text("trial_id"),
        muscle_set=muscle_set,
        session=entry.text("session", "1"),
        condition=entry.text("condition", "baseline"),
        coordinate=entry.text("coordinate", "elbow_flexion"),
        load=Load(load.number("mass_kg", 0.0), load.number("lever_arm_m", None)),
        metadata=entry.plain("metadata"),
        source=entry.source,
        **streams,
    )
