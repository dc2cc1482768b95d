"""``nmm-validate`` (``conf/validate.yaml``): the OpenSim torque validation of a run's predictions
or of a user's files, into ``run_dir``; the validation itself is :mod:`nmm.opensim.validate`.
Torch is not imported (a subprocess test checks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from nmm.data.schema import Cohort
from nmm.jobs.check_data import check_before_work
from nmm.jobs.run_dir import write_config
from nmm.jobs.synthetic_source import synthetic_truth_dir
from nmm.opensim.elbow_twin import grip_lever_arms
from nmm.opensim.validate import validate_files, validate_predictions
from nmm.opensim.validation_inputs import ValidationInputError
from nmm.physics.muscle_models import CONFIG_KEY, get_muscle_model

__all__ = ["run_validate"]


def _own_lever_arms(physics: Any, cohort: Cohort, locked: dict[str, float]) -> dict[str, float]:
    """The default lever arm (m) of each subject with its own ``.osim``, as the NMM took it: the
    configured grip scaled with the subject's forearm
    (:func:`~nmm.opensim.elbow_twin.grip_lever_arms`)."""
    models = {s: subject.model for s, subject in cohort.subjects.items()}
    return grip_lever_arms(
        physics.osim, float(physics.load.lever_arm_m), models, str(physics.coordinate), locked
    )


def run_validate(cfg: Any) -> dict[str, Any]:
    """``nmm-validate`` (``conf/validate.yaml``): validate ``validate.predictions`` against a
    dataset (``data=...``, default the synthetic cohort, whose subjects' simulated bodies give
    the inverse dynamics), or a user's ``validate.osim`` + ``validate.activations`` +
    ``validate.kinematics``. Writes ``config.yaml`` and the outputs into ``run_dir``."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg, run_dir)
    v = cfg.validate
    physics = cfg.physics
    locked = {str(k): float(x) for k, x in dict(physics.get("locked") or {}).items()}
    id_locked = v.id_model.get("locked")
    id_locked = (
        None if id_locked is None else {str(k): float(x) for k, x in dict(id_locked).items()}
    )
    chain = instantiate(cfg.preprocess.kinematics) if cfg.get("preprocess") else None
    data_coordinate = str(cfg.data.coordinate)
    columns = [
        str(c) for c in (v.get("kinematics_columns") or [physics.coordinate, data_coordinate])
    ]
    common = {
        "coordinate": str(physics.coordinate),
        "locked": locked,
        "torch_tolerance": float(v.torch_tolerance),
        "max_figures": v.get("max_figures"),
        "muscle_model": get_muscle_model(str(physics.muscle_model), CONFIG_KEY).name,
    }
    if v.get("predictions"):
        id_osim = v.id_model.get("osim")
        cohort = instantiate(cfg.data)
        check_before_work(cfg, cohort)  # the data checks: errors raise, warnings are logged
        truth = synthetic_truth_dir(OmegaConf.to_container(cfg.data, resolve=True))
        if truth is not None and id_osim is None and v.id_model.get("synthetic_bodies", True):
            # The synthetic subjects were simulated with their own bodies and posture.
            id_osim = str(truth / "{subject}" / "model.osim")
            id_locked = {} if id_locked is None else id_locked
        return validate_predictions(
            v.predictions,
            cohort,
            run_dir,
            osim=v.get("osim"),
            id_osim=id_osim,
            kinematics=v.get("kinematics"),
            kinematics_chain=chain,
            use_recorded_derivatives=bool(v.use_recorded_derivatives),
            default_lever_arm_m=float(physics.load.lever_arm_m),
            subject_lever_arm_m=_own_lever_arms(physics, cohort, locked),
            kinds=None if v.get("kinds") is None else [str(k) for k in v.kinds],
            id_locked=id_locked,
            **common,
        )
    missing = [k for k in ("osim", "activations", "kinematics") if not v.get(k)]
    if missing:
        raise ValidationInputError(
            "give validate.predictions=<run>/predictions, or validate.osim, validate.activations "
            f"and validate.kinematics (missing: {', '.join('validate.' + k for k in missing)})"
        )
    return validate_files(
        v.osim,
        v.activations,
        v.kinematics,
        run_dir,
        load_kg=float(v.load_kg),
        lever_arm_m=float(v.lever_arm_m),
        id_osim=v.id_model.get("osim"),
        kinematics_columns=columns,
        data_coordinate=data_coordinate,
        kinematics_chain=chain,
        id_locked=id_locked,
        **common,
    )
