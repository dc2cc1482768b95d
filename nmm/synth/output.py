"""Writing a simulated cohort into its folder: the one place the generator writes files.

:func:`write_cohort` writes, into one folder::

    dataset/        the project's dataset format (nmm.data.io.write_dataset): raw EMG of the
                    measured muscles (.npz, mV, 2 kHz), kinematics and elbow moment (.sto, 100 Hz),
                    load, condition and phases per trial, anthropometry and MVIC per subject;
                    generic_model.osim when the generic model differs from the source .osim
    ground_truth/   everything models must not read (nmm.synth.ground_truth): all six
                    excitations, activations, tendon forces, fibre lengths, the muscle moment,
                    each subject's model and true parameters
    figures/        one figure per subject (``output.figures``)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nmm.atomic import atomic_write_json
from nmm.data.io.dataset import write_dataset
from nmm.data.preprocess import mvic_reference, mvic_reference_chain
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial
from nmm.opensim.arm_model import ArmModelSpec, build_arm_model
from nmm.synth.generic_model import write_generic_model
from nmm.synth.ground_truth import round_significant, write_cohort_truth, write_trial_truth
from nmm.synth.plan import TrialJob, TrialPlan, arm_spec
from nmm.synth.report import subject_figure
from nmm.synth.settings import SynthSettings
from nmm.synth.simulate import SimulatedCohort
from nmm.synth.subjects import SubjectTruth

__all__ = [
    "DEFAULT_MAINS_HZ",
    "FORMAT_VERSION",
    "GENERIC_MODEL",
    "SESSIONS_FILE",
    "folder_sizes",
    "write_cohort",
]

#: Bumped when the generator changes what it writes for a given config, so caches regenerate.
FORMAT_VERSION = 1
#: The generic model's file in the dataset folder, written when it differs from the source .osim.
GENERIC_MODEL = "generic_model.osim"
#: The default cohort's mains frequency (Hz, European); another one is recorded per subject.
DEFAULT_MAINS_HZ = 50.0
#: A longitudinal cohort's truth per session (nmm.synth.sessions), in ground_truth/.
SESSIONS_FILE = "sessions.json"
#: The significant digits of the floats in ground_truth/cohort.json.
SUMMARY_DIGITS = 10


def _dataset_trial(
    settings: SynthSettings, plan: TrialPlan, res: Mapping[str, Any], emg: Signal
) -> Trial:
    """One trial of the dataset: raw EMG, kinematics and elbow moment rounded to
    ``output.significant_digits``, its load, condition, phases and how its moment was made."""
    m, coord = plan.motion, settings.coordinate
    digits, rate = settings.output.significant_digits, settings.task.rate_hz
    kin = Signal.uniform(
        round_significant(np.column_stack([m.q, m.qd, m.qdd]), digits),
        rate,
        [coord, f"{coord}_speed", f"{coord}_acceleration"],
        ["rad", "rad/s", "rad/s^2"],
        kind="kinematics",
    )
    tq = Signal.uniform(
        round_significant(np.asarray(res["torque"])[:, None], digits),
        rate,
        [f"{coord}_moment"],
        ["N·m"],
        kind="torque",
    )
    meta: dict[str, Any] = {
        "synthetic": True,
        "kind": plan.kind,
        "unmeasured": [x for x in settings.muscles if x in settings.hidden],
        "phases": [ph.to_list() for ph in plan.phases],
    }
    if plan.kind == "mvic":
        meta["direction"] = plan.direction
        meta["angle_deg"] = settings.mvic.angle_deg
        meta["torque_source"] = (
            "dynamometer: elbow moment of the muscles in an OpenSim forward simulation with the "
            "elbow locked (gravity excluded)"
        )
    else:
        meta["speed_class"] = plan.speed_index
        meta["flexion_duration_s"] = plan.flexion_duration_s
        meta["torque_source"] = "OpenSim InverseDynamicsSolver (muscles off)"
    return Trial(
        subject=plan.subject.subject_id,
        trial_id=plan.trial_id,
        muscle_set="elbow",
        emg=emg,
        kinematics=kin,
        torque=tq,
        load=Load(plan.load_kg, round(plan.subject.load_distance_m, 4)),
        session=plan.session,
        condition=plan.condition,
        coordinate=coord,
        metadata=meta,
    )


def _subject_metadata(
    settings: SynthSettings, subj: SubjectTruth, changes: Mapping[str, Any]
) -> dict[str, Any]:
    """The dataset's metadata of one subject: what a model may know about the set-up.

    The posture (``locked``: ``{shoulder coordinate: rad}``, as ``physics.locked`` takes it;
    ``shoulder_elevation_deg``; ``base_tilt_deg``) is recorded when the shoulder is not at 0,
    the generic model's file (``generic_model``, relative to the dataset folder) when it
    differs from the source ``.osim``, and the mains frequency (``powerline_hz``) when it is
    not :data:`DEFAULT_MAINS_HZ`; absent, they are arm26's 0, the source model and 50 Hz.
    """
    meta: dict[str, Any] = {
        "synthetic": True,
        "mvic_reference": "peak of the 6 Hz envelope of 20-400 Hz band-passed EMG over the MVIC "
        "trials, mV"
        if settings.mvic.include
        else "none: this cohort has no MVIC trials",
        "load_lever_arm_m": round(subj.load_distance_m, 4),
        "forearm_length_m": round(subj.forearm_length_m, 4),
    }
    if subj.shoulder_elevation_deg != 0.0:
        meta["locked"] = {
            ArmModelSpec.shoulder_coordinate: math.radians(subj.shoulder_elevation_deg)
        }
        meta["shoulder_elevation_deg"] = round(subj.shoulder_elevation_deg, 4)
        meta["base_tilt_deg"] = settings.posture.base_tilt_deg
    if changes:
        meta["generic_model"] = GENERIC_MODEL
    if settings.emg.powerline_hz != DEFAULT_MAINS_HZ:
        meta["powerline_hz"] = settings.emg.powerline_hz
    return meta


def dataset_cohort(run: SimulatedCohort) -> Cohort:
    """The dataset of a simulated cohort: every trial in plan order, and per subject its MVIC
    reference (:func:`mvic_reference` of the MVIC trials), anthropometry and metadata."""
    trials, subjects = [], []
    for subj in run.subjects:
        mvic_trials = []
        for p in (q for q in run.plans if q.subject is subj):
            trial = _dataset_trial(run.settings, p, run.results[p.key], run.emg[p.key])
            trials.append(trial)
            if p.kind == "mvic":
                mvic_trials.append(trial)
        subjects.append(
            Subject(
                subj.subject_id,
                mvic_reference(mvic_trials, mvic_reference_chain()),
                body_mass_kg=round(subj.body_mass_kg, 3),
                height_m=round(subj.height_m, 4),
                metadata=_subject_metadata(run.settings, subj, run.changes),
            )
        )
    return Cohort(subjects, trials, name=run.settings.name)


def _trial_summary(plan: TrialPlan, job: TrialJob, res: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "subject": plan.subject.subject_id,
        "session": plan.session,
        "trial_id": plan.trial_id,
        "condition": plan.condition,
        "kind": plan.kind,
        "load_kg": plan.load_kg,
        "duration_s": float(plan.motion.time[-1]),
        "phases": [ph.to_list() for ph in plan.phases],
        "recruitment": job.meta,
        "solver": res.get("info", {}),
        "checks": dict(res.get("checks", {})),
    }


def _round_tree(obj: Any, digits: int = SUMMARY_DIGITS) -> Any:
    """Floats rounded to `digits` significant digits throughout a JSON-ready tree."""
    if isinstance(obj, dict):
        return {str(k): _round_tree(v, digits) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_round_tree(v, digits) for v in obj]
    if isinstance(obj, np.ndarray):
        return _round_tree(obj.tolist(), digits)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}") if math.isfinite(obj) else None
    return obj


def _cohort_summary(run: SimulatedCohort) -> dict[str, Any]:
    """``ground_truth/cohort.json``: seed, muscles, every subject's true parameters, the pain
    calibration and per trial its set-up, solver status and checks."""
    s = run.settings
    changes = run.changes
    return {
        "format": "nmm-synth-ground-truth",
        "version": FORMAT_VERSION,
        "name": s.name,
        "seed": int(run.seed),
        "muscles": list(s.muscles),
        "hidden": list(s.hidden),
        "measured": list(s.measured),
        "injected_muscle": s.pain_model.injected_muscle,
        "osim_source": Path(s.osim).name,
        **({"generic_model": {"file": f"dataset/{GENERIC_MODEL}", **changes}} if changes else {}),
        "subjects": [_round_tree(subj.to_dict()) for subj in run.subjects],
        "calibration": _round_tree(run.calibration),
        "trials": [
            _round_tree(_trial_summary(p, run.jobs[p.key], run.results[p.key])) for p in run.plans
        ],
    }


def write_truth(run: SimulatedCohort, truth_dir: Path) -> None:
    """The ground-truth folder (layout: :mod:`nmm.synth.ground_truth`): per trial the muscle
    states at ``output.truth_rate_hz`` (every k-th sample of the kinematics grid), per subject
    its arm model as simulated (no load), ``cohort.json`` and, for a longitudinal cohort,
    :data:`SESSIONS_FILE`."""
    s = run.settings
    every = round(s.task.rate_hz / s.output.truth_rate_hz)
    for p in run.plans:
        res = run.results[p.key]
        write_trial_truth(
            truth_dir,
            p.subject.subject_id,
            p.session,
            p.trial_id,
            p.motion.time[::every],
            list(s.muscles),
            {
                k: res[k][::every]
                for k in ("excitation", "activation", "tendon_force", "fiber_length")
            },
            res["muscle_moment"][::every],
            s.coordinate,
            s.output.truth_digits,
        )
    for subj in run.subjects:
        m = build_arm_model(arm_spec(s, subj, 0.0))
        m.setName(f"{s.name}_{subj.subject_id}")
        m.printToXML(str(truth_dir / subj.subject_id / "model.osim"))
    write_cohort_truth(truth_dir, _cohort_summary(run))
    if run.sessions is not None:
        atomic_write_json(truth_dir / SESSIONS_FILE, _round_tree(run.sessions))


def write_cohort(run: SimulatedCohort, out: Path) -> None:
    """Write ``dataset/``, ``ground_truth/`` and (``output.figures``) ``figures/`` of a
    simulated cohort into ``out`` (layout in the module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    write_dataset(dataset_cohort(run), out / "dataset")
    if run.changes:
        write_generic_model(run.settings.osim, run.changes, out / "dataset" / GENERIC_MODEL)
    write_truth(run, out / "ground_truth")
    if run.settings.output.figures:
        for subj in run.subjects:
            path = out / "figures" / f"{subj.subject_id}.png"
            subject_figure(run.settings, subj, run.plans, run.results, run.emg, path)


def folder_sizes(out: Path) -> dict[str, int]:
    """Bytes under ``dataset/``, ``ground_truth/`` and ``figures/`` of a cohort folder."""
    return {name: _du(out / name) for name in ("dataset", "ground_truth", "figures")}


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0
