"""Write a Cohort as a study folder (the layout of :mod:`nmm.data.io.study`), exactly.

Per subject: its model (``Subject.model``, else the ``default_model`` given, copied as
``<subject>/<subject>.osim``), ``subject.yaml`` with the explicit MVIC reference, and per trial
``<id>_ik.mot`` (the angle and any recorded speed and acceleration, rad), ``<id>_id.sto`` (the
moment, N·m, when the trial has one) and ``<id>_emg.sto`` (raw EMG, or envelopes of unit 1).
Numbers are printed at full double precision (``write_sto``, ``yaml.safe_dump``), so reading
the folder back gives the same arrays bit for bit. Trials of a session other than "1" go to a
``session-<session>/`` folder of the subject.

The folder is written beside its target under a temporary name and renamed into place at the
end: an interrupted export leaves no half-written study.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from nmm.atomic import atomic_write_text
from nmm.data.errors import DataValidationError
from nmm.data.io.sto import write_sto
from nmm.data.io.study import MVIC_CONDITION
from nmm.data.io.study_layout import STUDY_FILE, SUBJECT_FILE, StudyLayout
from nmm.data.schema import Cohort, Signal, Subject, Trial

HEADER = "# Written by nmm-study export; the layout is described in nmm/data/io/study.py.\n"


def write_study(
    cohort: Cohort,
    folder: str | os.PathLike[str],
    *,
    model_coordinate: str = StudyLayout.model_coordinate,
    default_model: str | os.PathLike[str] | None = None,
    mains_hz: float | None = None,
) -> Path:
    """Write ``cohort`` as the study folder ``folder`` (new, or empty); returns it.

    model_coordinate: the elbow coordinate's name in the models and in the IK/ID columns;
    default_model: the ``.osim`` copied for subjects without their own (None: no model);
    mains_hz: the mains frequency the study records (Hz, None: not stated).

    Raises:
        FileExistsError: ``folder`` exists and is not empty (checked before any work).
        DataValidationError: a trial the layout cannot hold (no kinematics, no EMG, EMG of
            mixed kinds or units), naming the subject and the trial.
    """
    folder = check_new_folder(folder)
    layout = _layout(cohort, model_coordinate, mains_hz)
    tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        for sid, subject in cohort.subjects.items():
            trials = [t for t in cohort if t.subject == sid]
            _write_subject(tmp / sid, subject, trials, layout, default_model)
        document = yaml.safe_dump(layout.to_document(), sort_keys=False, allow_unicode=True)
        atomic_write_text(tmp / STUDY_FILE, HEADER + document)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def check_new_folder(folder: str | os.PathLike[str]) -> Path:
    """``folder`` as a Path; FileExistsError if it exists and is not an empty folder."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder}: exists and is not an empty folder; write into a new one")
    return folder


def _layout(cohort: Cohort, model_coordinate: str, mains_hz: float | None) -> StudyLayout:
    """The study-wide settings of ``cohort``: one EMG kind and unit, one coordinate."""
    kinds, units, coordinates = set(), set(), {t.coordinate for t in cohort}
    for t in cohort:
        _check_trial(t)
        sig = t.emg if t.emg is not None else t.envelope
        kinds.add("raw" if t.emg is not None else "envelope")
        units.update(sig.units)
    if len(kinds) > 1 or len(coordinates) > 1 or (kinds == {"raw"} and len(units) > 1):
        raise DataValidationError(
            f"a study has one EMG kind, one raw EMG unit and one coordinate; this cohort has "
            f"{sorted(kinds)}, units {sorted(units)}, coordinates {sorted(coordinates)}"
        )
    if kinds == {"envelope"} and units != {"1"}:
        raise DataValidationError(f"envelopes must be of unit 1 in a study, not {sorted(units)}")
    muscle_sets = {t.muscle_set.name for t in cohort}
    kind = kinds.pop() if kinds else "raw"
    return StudyLayout(
        name=cohort.name,
        muscle_set=muscle_sets.pop() if muscle_sets else "elbow",
        model_coordinate=model_coordinate,
        data_coordinate=coordinates.pop() if coordinates else StudyLayout.data_coordinate,
        emg_kind=kind,
        emg_unit=units.pop() if kind == "raw" and units else StudyLayout.emg_unit,
        mains_hz=mains_hz,
        subjects=tuple(cohort.subjects),
    )


def _check_trial(t: Trial) -> None:
    where = f"subject '{t.subject}', trial '{t.trial_id}'"
    if t.kinematics is None:
        raise DataValidationError(f"{where}: no kinematics (a study trial needs its IK file)")
    if (t.emg is None) == (t.envelope is None):
        raise DataValidationError(
            f"{where}: a study trial holds one EMG stream, raw or envelopes; this one has "
            f"{'both' if t.emg is not None else 'neither'}"
        )


def _write_subject(
    folder: Path,
    subject: Subject,
    trials: list[Trial],
    layout: StudyLayout,
    default_model: str | os.PathLike[str] | None,
) -> None:
    folder.mkdir(parents=True)
    document: dict[str, Any] = {
        "body_mass_kg": subject.body_mass_kg,
        "height_m": subject.height_m,
    }
    model = subject.model or default_model
    if model is not None:
        shutil.copyfile(model, folder / f"{subject.subject_id}.osim")
        document["model"] = f"{subject.subject_id}.osim"
    document["mvic_trials"] = [t.trial_id for t in trials if t.condition == MVIC_CONDITION]
    document["mvic"] = {str(m): float(v) for m, v in subject.mvic.items()} or None
    metadata = dict(subject.metadata)
    if "sessions" in metadata:
        document["sessions"] = metadata.pop("sessions")
    document["metadata"] = metadata
    document["trials"] = [_write_trial(folder, t, layout) for t in trials]
    text = yaml.safe_dump(_plain(document), sort_keys=False, allow_unicode=True)
    atomic_write_text(folder / SUBJECT_FILE, HEADER + text)


def _write_trial(folder: Path, t: Trial, layout: StudyLayout) -> dict[str, Any]:
    """Write the trial's files into its folder; returns its ``trials`` entry."""
    sub = "." if t.session == "1" else f"session-{t.session}"
    base = folder / sub
    kin = t.kinematics
    names = [layout.model_coordinate + c.removeprefix(t.coordinate) for c in kin.channels]
    write_sto(base / f"{t.trial_id}_ik.mot", kin.time, kin.values, names, name="Coordinates")
    if t.torque is not None:
        write_sto(
            base / f"{t.trial_id}_id.sto",
            t.torque.time,
            t.torque.values,
            [f"{layout.model_coordinate}_moment"],
            name="Inverse Dynamics Generalized Forces",
        )
    emg: Signal = t.emg if t.emg is not None else t.envelope
    write_sto(base / f"{t.trial_id}_emg.sto", emg.time, emg.values, emg.channels, name="EMG")
    entry: dict[str, Any] = {
        "id": t.trial_id,
        "session": t.session,
        "condition": t.condition,
        "load_kg": float(t.load.mass_kg),
        "lever_arm_m": None if t.load.lever_arm_m is None else float(t.load.lever_arm_m),
    }
    if sub != ".":
        entry["folder"] = sub
    entry["metadata"] = t.metadata
    return entry


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers, for safe_dump."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        return value.item()
    return value
