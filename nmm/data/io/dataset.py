"""The project's own dataset folder: `manifest.yaml` plus one OpenSim `.sto` per trial stream.

    manifest.yaml
    data-<id>/S01/1_flexion_01_emg.npz, data-<id>/S01/1_flexion_01_kinematics.sto, ...

Kinematics, torque and envelopes are OpenSim `.sto` files; the raw EMG (kHz rates) is a
compressed `.npz` (arrays `time`, `values`, `channels`), exact in float64.

The manifest lists the subjects (MVIC reference, anthropometry) and, per trial, its identity,
load, coordinate, metadata and streams (file and the unit of each channel). Each write puts its
stream files in a new `data-<id>/` folder and writes the manifest last, atomically: an
interrupted write never leaves a manifest that points at missing, half-written or newer files,
and the previous dataset stays readable until the new manifest replaces it.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.errors import ReaderError
from nmm.data.io.sto import read_sto, write_sto
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial

FORMAT = "nmm-painsig-dataset"
VERSION = 1
MANIFEST = "manifest.yaml"
_GENERATION = re.compile(r"^data-[0-9a-f]{12}$")  # stream-file folders made by write_dataset


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


def _read_stream(path: Path, kind: str, units: dict[str, str], rate: float | None) -> Signal:
    if path.suffix != ".npz":
        table = read_sto(path)
        missing = [c for c in units if c not in table.columns]
        if missing:
            raise ReaderError(
                "channel listed in the manifest is missing from the file",
                source=str(path),
                channel=missing[0],
            )
        return table.to_signal(list(units), list(units.values()), kind, rate=rate)
    try:
        with np.load(path, allow_pickle=False) as npz:
            time, values, channels = npz["time"], npz["values"], [str(c) for c in npz["channels"]]
    except (OSError, KeyError, ValueError) as exc:
        raise ReaderError(f"cannot read stream file: {exc}", source=str(path)) from exc
    missing = [c for c in units if c not in channels]
    if missing:
        raise ReaderError(
            "channel listed in the manifest is missing from the file",
            source=str(path),
            channel=missing[0],
        )
    idx = [channels.index(c) for c in units]
    rate = rate if rate is not None else float(1.0 / np.median(np.diff(time)))
    return Signal(time, values[:, idx], tuple(units), tuple(units.values()), rate, kind, str(path))


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


def read_dataset(folder: str | os.PathLike[str]) -> Cohort:
    """Read a dataset folder written by `write_dataset` (or by hand in the same layout)."""
    folder = Path(folder)
    path = folder / MANIFEST
    try:
        manifest: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReaderError(f"cannot read dataset manifest: {exc}", source=str(path)) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ReaderError(f"not a dataset manifest (expected format: {FORMAT})", source=str(path))
    if manifest.get("version") != VERSION:
        raise ReaderError(
            f"manifest version {manifest.get('version')} is not supported "
            f"(this reader knows version {VERSION})",
            source=str(path),
        )
    subjects = [
        Subject(
            str(s["id"]),
            dict(s.get("mvic") or {}),
            s.get("body_mass_kg"),
            s.get("height_m"),
            dict(s.get("metadata") or {}),
        )
        for s in manifest.get("subjects", [])
    ]
    trials = []
    for entry in manifest.get("trials", []):
        streams = {}
        for kind, spec in entry["streams"].items():
            streams[kind] = _read_stream(
                folder / spec["file"], kind, dict(spec["units"]), spec.get("rate_hz")
            )
        trials.append(
            Trial(
                subject=str(entry["subject"]),
                trial_id=str(entry["trial_id"]),
                muscle_set=manifest.get("muscle_set", "elbow"),
                session=str(entry.get("session", "1")),
                condition=str(entry.get("condition", "baseline")),
                coordinate=entry.get("coordinate", "elbow_flexion"),
                load=Load(**(entry.get("load") or {})),
                metadata=dict(entry.get("metadata") or {}),
                source=str(path),
                **streams,
            )
        )
    return Cohort(subjects, trials, name=manifest.get("name", folder.name))
