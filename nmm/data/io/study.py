"""A study folder as a lab keeps it: per subject a scaled ``.osim``, per trial IK, ID and EMG.

Layout (``nmm-study init DIR`` writes a commented template of it)::

    study.yaml                 what every subject shares (nmm.data.io.study_layout)
    S01/
      subject.yaml             the subject: body, model, MVIC, sessions, trials
      S01_scaled.osim          the subject's scaled model (any name; subject.yaml says which)
      flexion_01_ik.mot        IK: the elbow coordinate (study.yaml coordinate.model), rad or deg
      flexion_01_id.sto        ID: <coordinate.model>_moment, N·m (optional: computed when absent)
      flexion_01_emg.c3d       EMG: raw analogs in a .c3d, or a .sto/.csv table (raw, or
                               processed envelopes of unit 1, as study.yaml emg.kind says)
    S02/ ...

``subject.yaml``::

    body_mass_kg: 72.5          # kg (optional)
    height_m: 1.81              # m (optional)
    model: S01_scaled.osim      # relative to the subject folder; absent: the run's physics.osim
    mvic_trials: [mvic_flex]    # ids of the MVIC trials below: their condition is "mvic"
    mvic: {BIClong: 0.31}       # optional explicit MVIC reference per muscle, raw EMG units;
                                # absent: the peak of the 20-400 Hz band-passed, 6 Hz envelope
                                # of the MVIC trials' raw EMG (nmm.data.preprocess.mvic_reference)
    lever_arm_m: 0.34           # the grip's distance from the elbow, m (optional)
    locked: {r_shoulder_elev: 1.571}   # the posture the subject was recorded in (optional):
                                # model coordinates held still, rad (m for a translational one),
                                # as physics.locked takes them; absent: physics.locked
    sessions: {"1": {date: 2024-05-02}}   # optional notes per session (subject metadata)
    metadata: {}                # optional, free-form
    trials:
      - id: flexion_01
        session: "1"            # default "1"
        condition: baseline     # default baseline ("mvic" for the MVIC trials)
        load_kg: 2.0            # kg held in the hand (default 0)
        lever_arm_m: 0.34       # m (default: the subject's, else study.yaml load.lever_arm_m)
        folder: .               # where the trial's files are, relative to the subject folder
        files: {ik: ..., id: ..., emg: ...}   # optional: any of the files named explicitly
        metadata: {}            # optional, free-form

Files are found by a naming convention, in the trial's folder: ``<id>_ik.mot``, ``<id>_id.sto``
and ``<id>_emg.c3d``, ``.sto`` or ``.csv`` (exactly one of them); ``files`` names any of them
explicitly instead (relative to the trial's folder). The IK and EMG files are required; a
missing ID file (the convention's, or ``files: {id: null}``) leaves the trial without torque
and :attr:`Study.lacking_torque` lists it: the app layer computes its moment with OpenSim's
inverse dynamics from the subject's model, the load and the filtered kinematics
(:mod:`nmm.opensim.inverse_dynamics`, through :func:`nmm.jobs.study.study_cohort`). An IK file
may also hold ``<coordinate.model>_speed`` and ``_acceleration`` columns (rad/s, rad/s², or per
degree with ``inDegrees=yes``): they become the trial's recorded derivatives.

EMG tables (``.sto``, or ``.csv`` with a ``time`` column in s) have one column per channel;
``study.yaml``'s ``emg.channels`` maps labels to muscles, or, without it, a label whose last
'/'-part up to its first dot is a muscle or an alias of the muscle set is taken (C3D
``Biceps.EMG4``, ``/forceset/BIClong``). Envelopes (``emg.kind: envelope``) become
``Trial.envelope`` in unit 1 with ``metadata["emg_kind"] = "envelope"``, and skip the raw chain.

Reading trusts nothing in the folder: YAML within ``nmm.data.io.textfile``'s limits, every key
checked (a typo is refused), every file inside the study folder once links are resolved. Every
error is a ReaderError or DataValidationError naming the subject, the trial where there is one,
and the file.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nmm.data.errors import DataValidationError, ReaderError
from nmm.data.io.c3d import emg_channels, read_c3d
from nmm.data.io.opensim_files import read_moment
from nmm.data.io.sto import read_sto
from nmm.data.io.study_layout import SUBJECT_FILE, StudyLayout, read_layout
from nmm.data.io.textfile import Fields, load_yaml, read_text
from nmm.data.posture import POSTURE_KEY
from nmm.data.preprocess import mvic_reference, mvic_reference_chain
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial

MVIC_CONDITION = "mvic"
EMG_SUFFIXES = (".c3d", ".sto", ".csv")
_SUBJECT_KEYS = (
    "body_mass_kg",
    "height_m",
    "model",
    "mvic",
    "mvic_trials",
    "lever_arm_m",
    "locked",
    "sessions",
    "metadata",
    "trials",
)
_TRIAL_KEYS = (
    "id",
    "session",
    "condition",
    "load_kg",
    "lever_arm_m",
    "folder",
    "files",
    "metadata",
)
_FILE_KEYS = ("ik", "id", "emg")
TrialKey = tuple[str, str, str]


@dataclass(frozen=True)
class TrialFiles:
    """A trial's files: ik (IK .mot), id (ID .sto, None: to be computed), emg."""

    ik: Path
    id: Path | None
    emg: Path


@dataclass(frozen=True)
class Study:
    """A study folder, read: its layout, the cohort, and each trial's files by
    (subject, session, trial id)."""

    root: Path
    layout: StudyLayout
    cohort: Cohort
    files: Mapping[TrialKey, TrialFiles]

    @property
    def lacking_torque(self) -> list[Trial]:
        """The trials without an ID file, whose moment is to be computed."""
        return [t for t in self.cohort if t.torque is None]


def read_study(root: str | os.PathLike[str]) -> Study:
    """Read the study folder ``root`` (layout in the module doc); ReaderError or
    DataValidationError naming the subject, the trial and the file for anything wrong."""
    root = Path(root)
    if not root.is_dir():
        raise ReaderError("study folder not found", source=str(root))
    layout = read_layout(root)
    subjects, trials, files = [], [], {}
    for sid in layout.subjects or _subject_folders(root):
        subject, subject_trials = _read_subject(root, sid, layout, files)
        subjects.append(subject)
        trials.extend(subject_trials)
    if not subjects:
        raise ReaderError(f"no subject folder (one holding {SUBJECT_FILE})", source=str(root))
    return Study(root, layout, Cohort(subjects, trials, name=layout.name), files)


def study_errors(root: str | os.PathLike[str]) -> list[ReaderError | DataValidationError]:
    """Every refusal of the study folder ``root``, where :func:`read_study` stops at the first:
    one per damaged trial, and one per subject whose own files are wrong (for nmm-check-data).
    A subject with a damaged trial may add the refusals that follow from it (an MVIC trial
    named in subject.yaml that could not be read). Empty when the study reads."""
    root = Path(root)
    try:
        if not root.is_dir():
            raise ReaderError("study folder not found", source=str(root))
        layout = read_layout(root)
    except (ReaderError, DataValidationError) as exc:
        return [exc]
    errors: list[ReaderError | DataValidationError] = []
    for sid in layout.subjects or _subject_folders(root):
        try:
            _read_subject(root, sid, layout, {}, errors)
        except (ReaderError, DataValidationError) as exc:
            errors.append(exc)
    return errors


def _subject_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if (p / SUBJECT_FILE).is_file())


@contextmanager
def naming(subject: str, trial: str | None = None, source: str | Path | None = None) -> Iterator:
    """Within the block, a ReaderError or DataValidationError is raised again with the subject
    (and trial) first in its message, and ``source`` as its file where it names none."""
    try:
        yield
    except (ReaderError, DataValidationError) as exc:
        if getattr(exc, "names_subject", False):
            raise
        where = f"subject '{subject}'" + (f", trial '{trial}'" if trial else "")
        new = type(exc)(
            f"{where}: {exc.reason}",
            source=exc.source or (str(source) if source else None),
            channel=exc.channel,
        )
        new.names_subject = True
        raise new from exc


def _inside(root: Path, base: Path, spec: Fields, key: str) -> Path:
    """The file ``spec[key]`` names relative to ``base``, resolved; ReaderError naming the key
    if it lies outside the study folder ``root``."""
    name = spec.text(key)
    try:
        path = (base / name).resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, loops of links
        raise spec.error(key, f"'{name}' is not a usable path ({exc})") from None
    if not path.is_relative_to(root.resolve()):
        raise spec.error(key, f"'{name}' lies outside the study folder {root.resolve()}")
    return path


def _read_subject(
    root: Path,
    sid: str,
    layout: StudyLayout,
    files: dict[TrialKey, TrialFiles],
    trial_errors: list[ReaderError | DataValidationError] | None = None,
) -> tuple[Subject, list[Trial]]:
    """The subject ``sid`` and its trials; a trial's refusal is raised, or appended to
    ``trial_errors`` (when given) and the trial left out."""
    folder = root / sid
    src = folder / SUBJECT_FILE
    with naming(sid, source=src):
        if not src.is_file():
            raise ReaderError("subject file not found", source=str(src))
        spec = Fields(load_yaml(src, final_newline=False), str(src)).only(_SUBJECT_KEYS)
        model = _model(root, folder, spec)
        mvic_ids = _mvic_trials(spec)
        trials = []
        for entry in spec.sequence("trials"):
            try:
                trial, trial_files = _read_trial(root, folder, sid, entry, spec, layout, mvic_ids)
            except (ReaderError, DataValidationError) as exc:
                if trial_errors is None:
                    raise
                trial_errors.append(exc)
                continue
            files[(trial.subject, trial.session, trial.trial_id)] = trial_files
            trials.append(trial)
        unknown = sorted(set(mvic_ids) - {t.trial_id for t in trials})
        if unknown:
            raise spec.error("mvic_trials", f"no trial with id '{unknown[0]}' in 'trials'")
        mvic = _mvic(spec, [t for t in trials if t.trial_id in mvic_ids], layout)
        metadata = spec.plain("metadata")
        if "sessions" in spec:
            metadata["sessions"] = spec.plain("sessions")
        if "locked" in spec:
            metadata[POSTURE_KEY] = _posture(spec, metadata)
        subject = Subject(
            sid,
            mvic,
            spec.number("body_mass_kg", None),
            spec.number("height_m", None),
            metadata,
            model,
        )
    return subject, trials


def _posture(spec: Fields, metadata: Mapping[str, object]) -> dict[str, float]:
    """subject.yaml's ``locked``: ``{model coordinate: value}`` (rad, or m), the posture the
    subject was recorded in (:mod:`nmm.data.posture`; its range is checked against the model
    where the model is read, :func:`nmm.opensim.torch_elbow.subject_elbows`)."""
    if POSTURE_KEY in metadata:
        raise spec.error("locked", f"given twice: also as metadata.{POSTURE_KEY}")
    fields = spec.mapping("locked")
    posture = {name: fields.number(name) for name in fields.names()}
    if not posture:
        raise spec.error("locked", "expected at least one coordinate: value (rad or m)")
    return posture


def _model(root: Path, folder: Path, spec: Fields) -> str | None:
    if "model" not in spec:
        return None
    path = _inside(root, folder, spec, "model")
    if not path.is_file():
        raise spec.error("model", f"the subject's model '{path}' does not exist")
    if path.suffix != ".osim":
        raise spec.error("model", f"'{path.name}' is not an OpenSim model (.osim)")
    return str(path)


def _mvic_trials(spec: Fields) -> list[str]:
    value = spec.value.get("mvic_trials") or []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise spec.error("mvic_trials", f"expected a list of trial ids, got {value!r:.60}")
    return [str(v) for v in value]


def _mvic(spec: Fields, mvic_trials: list[Trial], layout: StudyLayout) -> dict[str, float]:
    """The explicit reference of ``mvic``, else the peak reference envelope of the MVIC trials'
    raw EMG, else none (envelopes are normalised already; no MVIC trials)."""
    if "mvic" in spec:
        given = spec.mapping("mvic")
        return {muscle: given.number(muscle) for muscle in given.names()}
    if not mvic_trials or layout.emg_kind != "raw":
        return {}
    return mvic_reference(mvic_trials, mvic_reference_chain())


def _read_trial(
    root: Path,
    folder: Path,
    sid: str,
    entry: Fields,
    subject: Fields,
    layout: StudyLayout,
    mvic_ids: list[str],
) -> tuple[Trial, TrialFiles]:
    trial_id = entry.text("id")
    with naming(sid, trial_id, entry.source):
        entry.only(_TRIAL_KEYS)
        files = _trial_files(root, folder, entry, trial_id)
        with naming(sid, trial_id, files.ik):
            kinematics = read_kinematics(files.ik, layout)
        with naming(sid, trial_id, files.emg):
            emg = read_emg(files.emg, layout)
        torque = None
        if files.id is not None:
            with naming(sid, trial_id, files.id):
                torque = read_moment(
                    files.id, layout.data_coordinate, column=f"{layout.model_coordinate}_moment"
                )
        condition, metadata = _condition(entry, trial_id in mvic_ids, layout)
        lever = entry.number("lever_arm_m", subject.number("lever_arm_m", layout.lever_arm_m))
        trial = Trial(
            subject=sid,
            trial_id=trial_id,
            muscle_set=layout.muscle_set,
            kinematics=kinematics,
            torque=torque,
            load=Load(entry.number("load_kg", 0.0), lever),
            session=entry.text("session", "1"),
            condition=condition,
            coordinate=layout.data_coordinate,
            source=entry.source,
            metadata=metadata,
            **{"envelope" if layout.emg_kind == "envelope" else "emg": emg},
        )
    return trial, files


def _condition(entry: Fields, is_mvic: bool, layout: StudyLayout) -> tuple[str, dict]:
    """The trial's condition and metadata: an MVIC trial's condition is ``mvic`` and its
    ``metadata["kind"]`` defaults to ``mvic``; envelopes are marked ``emg_kind: envelope``."""
    metadata = entry.plain("metadata")
    condition = entry.text("condition", MVIC_CONDITION if is_mvic else "baseline")
    if is_mvic and condition != MVIC_CONDITION:
        raise entry.error("condition", f"'{condition}' for a trial of mvic_trials (must be mvic)")
    if condition == MVIC_CONDITION and not is_mvic:
        raise entry.error("condition", "mvic, but the trial is not listed in mvic_trials")
    if is_mvic:
        metadata.setdefault("kind", MVIC_CONDITION)
    if layout.emg_kind == "envelope":
        metadata["emg_kind"] = "envelope"
    return condition, metadata


def _trial_files(root: Path, folder: Path, entry: Fields, trial_id: str) -> TrialFiles:
    """The trial's files: those ``files`` names, else the naming convention's."""
    base = _inside(root, folder, entry, "folder") if "folder" in entry else folder
    given = entry.mapping("files", {}).only(_FILE_KEYS)
    found = {}
    for key in _FILE_KEYS:
        if key in given:
            path = _inside(root, base, given, key)
            if not path.is_file():
                raise given.error(key, f"file '{path}' not found")
            found[key] = path
    ik = found.get("ik") or _convention(root, base, entry, f"{trial_id}_ik.mot", "ik")
    emg = found.get("emg") or _emg_convention(root, base, entry, trial_id)
    if "id" in found or "id" in given.value:  # named, or `id: null`: compute it
        return TrialFiles(ik, found.get("id"), emg)
    id_path = (base / f"{trial_id}_id.sto").resolve()
    return TrialFiles(ik, id_path if id_path.is_file() else None, emg)


def _convention(root: Path, base: Path, entry: Fields, name: str, key: str) -> Path:
    path = (base / name).resolve()
    if not path.is_file():
        raise entry.error(
            "files", f"the {key} file '{name}' not found in {base} (name it in files.{key})"
        )
    if not path.is_relative_to(root.resolve()):
        raise entry.error("files", f"'{path}' lies outside the study folder")
    return path


def _emg_convention(root: Path, base: Path, entry: Fields, trial_id: str) -> Path:
    names = [f"{trial_id}_emg{suffix}" for suffix in EMG_SUFFIXES]
    present = [n for n in names if (base / n).is_file()]
    if len(present) > 1:
        raise entry.error(
            "files", f"several EMG files ({', '.join(present)}): name one in files.emg"
        )
    return _convention(root, base, entry, present[0] if present else " or ".join(names), "emg")


def read_kinematics(path: Path, layout: StudyLayout) -> Signal:
    """The kinematics of an IK ``.mot``: ``coordinate.model`` (and its ``_speed`` and
    ``_acceleration`` columns when present), in rad, rad/s, rad/s², named after
    ``coordinate.data``."""
    table = read_sto(path)
    suffixes = [""] + [
        s for s in ("_speed", "_acceleration") if layout.model_coordinate + s in table.columns
    ]
    units = {"": "rad", "_speed": "rad/s", "_acceleration": "rad/s^2"}
    values = np.column_stack([table.column(layout.model_coordinate + s) for s in suffixes])
    if table.in_degrees:
        values = values * (math.pi / 180.0)  # as nmm.data.io.opensim_files.read_coordinate
    return Signal(
        table.time,
        values,
        tuple(layout.data_coordinate + s for s in suffixes),
        tuple(units[s] for s in suffixes),
        table.rate,
        "kinematics",
        table.source,
    )


def read_emg(path: Path, layout: StudyLayout) -> Signal:
    """The EMG of a ``.c3d``, ``.sto`` or ``.csv`` file, channels mapped onto muscles: raw in
    its unit (C3D: the file's; tables: ``emg.unit``) or envelopes in unit 1."""
    envelope = layout.emg_kind == "envelope"
    if path.suffix == ".c3d":
        if envelope:
            raise ReaderError(
                "envelopes must come as a .sto or .csv table, not a .c3d", source=str(path)
            )
        analogs = read_c3d(path).analogs
    elif path.suffix in (".sto", ".mot"):
        table = read_sto(path)
        analogs = _table_signal(
            table.time, table.data, table.columns, table.rate, path, envelope, layout
        )
    elif path.suffix == ".csv":
        analogs = _csv_signal(path, envelope, layout)
    else:
        raise ReaderError(f"EMG must be a {', '.join(EMG_SUFFIXES)} file", source=str(path))
    emg = emg_channels(analogs, layout.channels, layout.muscle_set)
    return emg.with_values(emg.values, kind="envelope") if envelope else emg


def _table_signal(
    time: np.ndarray,
    values: np.ndarray,
    labels: Sequence[str],
    rate: float,
    path: Path,
    envelope: bool,
    layout: StudyLayout,
) -> Signal:
    """A table's channels as an analog Signal: raw EMG in ``emg.unit``, or envelopes in 1."""
    unit = "1" if envelope else layout.emg_unit
    return Signal(time, values, tuple(labels), (unit,) * len(labels), rate, "analog", str(path))


def _csv_signal(path: Path, envelope: bool, layout: StudyLayout) -> Signal:
    """A CSV table with a ``time`` column (s) and one column per EMG channel."""
    try:
        frame = pd.read_csv(io.StringIO(read_text(path)))
    except ValueError as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise ReaderError(f"cannot read CSV: {exc}", source=str(path)) from exc
    if "time" not in frame.columns or len(frame) < 2:
        raise ReaderError("expected a 'time' column (s) and at least two rows", source=str(path))
    data = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    if np.isnan(data).any():
        row, col = np.argwhere(np.isnan(data))[0]
        raise ReaderError(
            f"line {row + 2}: '{frame.iat[row, col]}' is not a number",
            source=str(path),
            channel=str(frame.columns[col]),
        )
    time = data[:, list(frame.columns).index("time")]
    labels = [str(c) for c in frame.columns if c != "time"]
    values = data[:, [i for i, c in enumerate(frame.columns) if c != "time"]]
    rate = float(np.round(1.0 / np.median(np.diff(time)), 9))
    return _table_signal(time, values, labels, rate, path, envelope, layout)
