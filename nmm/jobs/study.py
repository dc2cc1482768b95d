"""Study folders in the apps: the data source of ``data=study`` and what ``nmm-study`` runs.

- :func:`study_cohort` (the ``_target_`` of ``conf/data/study.yaml``) reads a study folder
  (:func:`nmm.data.io.study.read_study`), checks that every subject's model has the study's
  elbow coordinate, and gives each trial without an ID file the elbow moment OpenSim's inverse
  dynamics computes from the subject's model, its kinematics and the load
  (:func:`nmm.opensim.inverse_dynamics.joint_moment`). OpenSim code, so it lives here and not
  in the data layer, which only says which trials lack a moment.
- :func:`run_init` writes the commented template (``nmm-study init DIR``);
  :func:`run_export` writes the cohort of a config's ``data`` option as a study
  (``nmm-study export DIR``, ``conf/study.yaml``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from nmm.data.errors import DataValidationError
from nmm.data.io.sto import read_sto
from nmm.data.io.study import Study, naming, read_study
from nmm.data.io.study_export import check_new_folder, write_study
from nmm.data.io.study_template import write_template
from nmm.data.schema import Cohort, Load, Signal, Trial
from nmm.data.sources import check_coordinate
from nmm.opensim.elbow_twin import grip_lever_arms
from nmm.opensim.geometry_sampling import OsimModelError
from nmm.opensim.inverse_dynamics import HandLoad, KinematicsFilter, joint_moment, model_coordinates

log = logging.getLogger(__name__)

#: The ``_target_`` of ``conf/data/study.yaml``.
SOURCE = "nmm.jobs.study.study_cohort"


def study_cohort(
    path: str | os.PathLike[str],
    coordinate: str = "elbow_flexion",
    default_model: str | None = None,
    default_lever_arm_m: float | None = None,
    inverse_dynamics: Mapping[str, Any] | None = None,
) -> Cohort:
    """The cohort of the study folder ``path``, every trial with its elbow moment.

    coordinate: the name the trials must carry (``data.coordinate``); default_model: the
    ``.osim`` of subjects without their own (``physics.osim``); default_lever_arm_m: the load's
    distance from the elbow (m) where the study gives none; inverse_dynamics: the options of
    :class:`~nmm.opensim.inverse_dynamics.KinematicsFilter` (``cutoff_hz``, ``order``).

    Raises:
        ReaderError, DataValidationError: naming the subject, the trial and the file.
    """
    study = read_study(path)
    check_coordinate(study.cohort, coordinate)
    models = _subject_models(study, default_model)
    if not study.lacking_torque:
        return study.cohort
    smoothing = KinematicsFilter(**dict(inverse_dynamics or {}))
    levers = _default_lever_arms(study, default_model, default_lever_arm_m)
    trials = [
        _with_moment(study, t, models[t.subject], levers.get(t.subject), smoothing)
        if t.torque is None
        else t
        for t in study.cohort
    ]
    return Cohort(study.cohort.subjects.values(), trials, name=study.cohort.name)


def _subject_models(study: Study, default_model: str | None) -> dict[str, str | None]:
    """Each subject's model (its own, else ``default_model``). A subject's own model, and the
    default model of a subject with trials lacking their ID file, must have the study's elbow
    coordinate (checked where OpenSim is installed); the default model of a subject whose moments
    are all recorded need not: the NMM drives it by ``physics.coordinate``, whatever the IK
    files call the joint (the pyomeca trial's ``elbow_flexion`` on arm26's ``r_elbow_flex``)."""
    wanted = study.layout.model_coordinate
    models = {sid: s.model or default_model for sid, s in study.cohort.subjects.items()}
    if importlib.util.find_spec("opensim") is None:  # optional (conda only)
        log.warning("OpenSim is not installed: the subjects' models are not checked")
        return models
    need_id = {t.subject for t in study.lacking_torque}
    checked: dict[str, list[str]] = {}
    for sid, model in models.items():
        if model is None or (study.cohort.subjects[sid].model is None and sid not in need_id):
            continue
        try:
            have = checked.setdefault(model, model_coordinates(model))
        except OsimModelError as exc:
            raise DataValidationError(f"subject '{sid}': {exc.reason}", source=model) from exc
        if wanted not in have:
            raise DataValidationError(
                f"subject '{sid}': the model has no coordinate '{wanted}' (study.yaml "
                f"coordinate.model; the model has: {', '.join(have)})",
                source=model,
            )
    return models


def _default_lever_arms(
    study: Study, default_model: str | None, default_lever_arm_m: float | None
) -> dict[str, float]:
    """Each subject's grip distance from the elbow (m) for trials that give none: the default,
    scaled with the forearm for subjects with their own model, as the NMM and nmm-validate scale
    it (:func:`~nmm.opensim.elbow_twin.grip_lever_arms`)."""
    if default_lever_arm_m is None:
        return {}
    levers = dict.fromkeys(study.cohort.subjects, float(default_lever_arm_m))
    own = {sid: s.model for sid, s in study.cohort.subjects.items() if s.model is not None}
    if own and default_model is not None:
        levers.update(
            grip_lever_arms(default_model, default_lever_arm_m, own, study.layout.model_coordinate)
        )
    return levers


def _with_moment(
    study: Study,
    trial: Trial,
    model: str | None,
    default_lever_arm_m: float | None,
    smoothing: KinematicsFilter,
) -> Trial:
    """``trial`` with the elbow moment of inverse dynamics, on its IK file's time base."""
    layout, ik = study.layout, study.files[(trial.subject, trial.session, trial.trial_id)].ik
    with naming(trial.subject, trial.trial_id, ik):
        if model is None:
            raise DataValidationError(
                "no ID file and no model to compute the moment with: give the subject a model "
                "in subject.yaml, or set physics.osim"
            )
        lever = (
            trial.load.lever_arm_m if trial.load.lever_arm_m is not None else default_lever_arm_m
        )
        if trial.load.mass_kg > 0 and lever is None:
            raise DataValidationError(
                "the load has no lever arm: set lever_arm_m in subject.yaml or study.yaml"
            )
        location = tuple(float(lever or 0.0) * d for d in layout.load_direction)
        table = read_sto(ik)
        try:
            moment = joint_moment(
                model,
                table.time,
                dict(zip(table.columns, table.data.T, strict=True)),
                layout.model_coordinate,
                in_degrees=table.in_degrees,
                load=HandLoad(trial.load.mass_kg, layout.load_body, location),
                smoothing=smoothing,
            )
        except OsimModelError as exc:
            raise DataValidationError(exc.reason, source=exc.path) from exc
        torque = Signal(
            table.time,
            moment,
            (f"{trial.coordinate}_moment",),
            ("N·m",),
            trial.kinematics.rate,
            "torque",
            str(ik),
        )
    source = (
        f"OpenSim InverseDynamicsSolver ({Path(model).name}, {smoothing.cutoff_hz:g} Hz "
        "low-pass of the IK coordinates; muscles off)"
    )
    # the lever arm used is the trial's from now on, so the NMM applies the load where ID did
    load = Load(trial.load.mass_kg, lever)
    return trial.replace(
        torque=torque, load=load, metadata={**trial.metadata, "torque_source": source}
    )


def run_init(folder: str | os.PathLike[str]) -> Path:
    """``nmm-study init DIR``: the commented template study in the new folder ``folder``."""
    return write_template(folder)


def run_export(cfg: Any, folder: str | os.PathLike[str]) -> Path:
    """``nmm-study export DIR``: the cohort of ``cfg.data`` written as the study ``folder``,
    with ``cfg.study``'s model (for subjects without their own), elbow coordinate name and
    mains frequency."""
    folder = check_new_folder(folder)  # before the cohort is read (or generated)
    options = OmegaConf.to_container(cfg.study, resolve=True)
    cohort = instantiate(cfg.data)
    return write_study(
        cohort,
        folder,
        model_coordinate=str(options["model_coordinate"]),
        default_model=options.get("model"),
        mains_hz=options.get("mains_hz"),
    )
