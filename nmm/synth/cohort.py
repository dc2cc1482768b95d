"""Generate the synthetic elbow cohort: subjects, tasks, OpenSim truth, EMG, dataset and truth.

**Labels on synthetic data test the pipeline, not physiology** (see
:mod:`nmm.synth.conditions`).

:func:`generate_cohort` writes, into one folder::

    dataset/        the project's dataset format (nmm.data.io.write_dataset): raw EMG of the
                    measured muscles (.npz, mV, 2 kHz), kinematics and elbow moment (.sto, 100 Hz),
                    load, condition and phases per trial, anthropometry and MVIC per subject
    ground_truth/   everything models must not read (nmm.synth.ground_truth): all six
                    excitations, activations, tendon forces, fibre lengths, the muscle moment,
                    each subject's model and true parameters
    figures/        one figure per subject

and returns the run's metrics (checks, timings, trivial baselines, condition effects).

How the truth is made (nothing comes from the project's torch model, no inverse crime):

1. Subjects are drawn (:mod:`~nmm.synth.subjects`); each gets its own arm model
   (:mod:`nmm.opensim.arm_model`): arm26 with the shoulder welded at 0, tilted 90° (supine) so
   gravity loads flexors and extensors, its forearm inertia, the load in the hand, and
   DeGrooteFregly2016 muscles with compliant tendons and its own parameters.
2. Movement trials (:mod:`~nmm.synth.tasks`) are solved with MocoInverse
   (:func:`nmm.opensim.truth.solve_excitations`) with a subject-, load- and condition-specific
   cost (effort weights and co-contraction), and checked: an open-loop forward simulation in
   OpenSim of the solved excitations, and OpenSim inverse dynamics against the muscles' moment.
3. MVIC trials are forward simulations with the elbow locked, driven by ramp-hold excitations.
4. Baseline and MVIC trials come first; the pain gain of each subject is calibrated on its
   baseline EMG, then the pain and placebo trials are solved.
5. Raw EMG is synthesised from the measured muscles' excitations (:mod:`~nmm.synth.emg`).

Deterministic for a seed: every random draw has its own stream keyed by subject and trial, and
each Moco problem is solved single-threaded; parallel processes only change the order in which
trials finish. The dataset's stream folder has a random name by design of ``write_dataset``
(``data-<id>/``); the files in it are identical for a seed.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_write_json
from nmm.config import CONF_DIR, compose_config
from nmm.data.io.dataset import write_dataset
from nmm.data.preprocess import BandPass, Chain, Envelope, mvic_reference
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial
from nmm.metrics import rmse
from nmm.opensim.arm_model import (
    ArmModelSpec,
    build_arm_model,
    import_opensim,
    read_muscle_properties,
)
from nmm.opensim.geometry_sampling import file_sha256
from nmm.opensim.truth import (
    Motion,
    forward_check,
    inverse_dynamics,
    isometric_effort,
    solve_excitations,
)
from nmm.synth.conditions import (
    ConditionEffect,
    condition_effect,
    contraction_features,
    drive_ratio,
    injected_weight_gain,
    mvic_peak,
)
from nmm.synth.config import (
    SynthConfigError,
    check_model_muscles,
    check_shoulder_range,
    mvic_included,
    rng,
    shoulder_elevation_range,
    validate_config,
)
from nmm.synth.emg import synthesize_emg
from nmm.synth.ground_truth import (
    round_significant,
    write_cohort_truth,
    write_trial_truth,
)
from nmm.synth.report import cohort_metrics, subject_figure
from nmm.synth.subjects import SubjectTruth, draw_subjects
from nmm.synth.tasks import Phase, movement_motion, mvic_excitation, mvic_motion

__all__ = [
    "DEFAULT_ROOT",
    "FORMAT_VERSION",
    "TrialJob",
    "ensure_default_cohort",
    "ensure_variant_cohort",
    "generate_cohort",
    "run_job",
    "variant_names",
    "variant_root",
]

log = logging.getLogger(__name__)

#: Where `ensure_default_cohort` caches the embedded default cohort (git-ignored).
DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "data" / "default_cohort"
#: Where `ensure_variant_cohort` caches generator variants' cohorts, one folder each (git-ignored).
VARIANT_ROOT = Path(__file__).resolve().parents[2] / "outputs" / "cache" / "cohorts"
#: Bumped when the generator changes what it writes for a given config, so caches regenerate.
FORMAT_VERSION = 1
SESSION = "1"
FINGERPRINT = "cohort.fingerprint"
#: The generic model's file in the dataset folder, written when it differs from the source .osim.
GENERIC_MODEL = "generic_model.osim"
#: The cohort family: generator variants of conf/synth/ (docs/cohort_family.md).
FAMILY = (
    "default",
    "no_mvic",
    "shoulder_elevated",
    "cocontraction",
    "few_trials",
    "low_snr",
    "speeds_rom",
)
#: The default cohort's mains frequency (Hz, European); another one is recorded per subject.
DEFAULT_MAINS_HZ = 50.0


# --------------------------------------------------------------------------- jobs (picklable)


@dataclass
class TrialJob:
    """One OpenSim job: a movement trial (MocoInverse) or an MVIC trial (forward simulation)."""

    subject: str
    trial_id: str
    condition: str
    kind: str  # 'movement' | 'mvic'
    load_kg: float
    spec: ArmModelSpec
    motion: Motion
    phases: list[Phase]
    muscles: tuple[str, ...]
    solver: dict[str, Any]
    checks: dict[str, Any]
    weights: np.ndarray | None = None
    reference: np.ndarray | None = None
    floor: np.ndarray | None = None
    ceiling: np.ndarray | None = None
    excitation: np.ndarray | None = None  # MVIC only, (N, M)
    angle: float | None = None  # MVIC only, rad
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.subject, self.trial_id)


def run_job(job: TrialJob) -> dict[str, Any]:
    """Run one job in OpenSim; arrays on the motion's time grid. Used by the process pool."""
    t0 = _time.perf_counter()
    grid = job.motion.time
    if job.kind == "mvic":
        res = isometric_effort(job.spec, float(job.angle), grid, job.excitation, job.muscles)
        return {
            "key": job.key,
            "excitation": job.excitation,
            "activation": res["activation"],
            "tendon_force": res["tendon_force"],
            "fiber_length": res["fiber_length"],
            "moment_arm": res["moment_arm"],
            "muscle_moment": res["muscle_moment"],
            "torque": res["muscle_moment"],
            "info": {"status": "forward simulation", "iterations": 0, "objective": 0.0},
            "checks": {},
            "wall_s": _time.perf_counter() - t0,
        }
    truth = solve_excitations(
        job.spec,
        job.motion,
        job.muscles,
        weights=job.weights,
        reference=job.reference,
        min_excitation=job.floor,
        max_activation=job.ceiling,
        mesh_interval=job.solver["mesh_interval_s"],
        tolerance=job.solver["tolerance"],
        constraint_tolerance=job.solver.get("constraint_tolerance", 1e-3),
        transcription=job.solver.get("transcription", "hermite-simpson"),
        max_iterations=job.solver["max_iterations"],
        label=f"{job.subject}/{job.trial_id}",
    )
    solve_s = _time.perf_counter() - t0
    torque = inverse_dynamics(job.spec, job.motion)
    # ID against the muscles' moment on the solver's own grid (no interpolation)
    id_on_solver = np.interp(truth.time, grid, torque)
    diff = truth.muscle_moment - id_on_solver
    checks: dict[str, Any] = {
        "id_vs_muscle_rms_nm": rmse(truth.muscle_moment, id_on_solver),
        "id_vs_muscle_max_nm": float(np.max(np.abs(diff))),
        "id_rms_nm": float(np.sqrt(np.mean(id_on_solver**2))),
    }
    fwd = forward_check(
        job.spec,
        truth,
        job.motion,
        horizon_s=job.checks["forward_horizon_s"],
        n_windows=job.checks["forward_windows"],
        whole_trial=bool(job.checks.get("whole_trial", False)),
    )
    checks["forward"] = fwd
    res = truth.resample(grid)
    return {
        "key": job.key,
        "excitation": res["excitation"],
        "activation": res["activation"],
        "tendon_force": res["tendon_force"],
        "fiber_length": res["fiber_length"],
        "moment_arm": res["moment_arm"],
        "muscle_moment": res["muscle_moment"],
        "torque": torque,
        "info": {k: v for k, v in truth.info.items() if k != "solve_time_s"},
        "checks": checks,
        "solve_s": solve_s,
        "wall_s": _time.perf_counter() - t0,
    }


def _run_all(
    jobs: Sequence[TrialJob],
    pool: cf.Executor | None,
    progress: Callable[[str], None],
) -> dict[tuple[str, str], dict[str, Any]]:
    """Run jobs in ``pool`` (or here, one after another, without one); results by (subject,
    trial id), whatever order they finish in."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if pool is None:
        for k, job in enumerate(jobs):
            out[job.key] = run_job(job)
            progress(f"[{k + 1}/{len(jobs)}] {job.subject} {job.trial_id}")
        return out
    futures = {pool.submit(run_job, job): job for job in jobs}
    for k, fut in enumerate(cf.as_completed(futures)):
        job = futures[fut]
        out[job.key] = fut.result()
        progress(f"[{k + 1}/{len(jobs)}] {job.subject} {job.trial_id}")
    return out


def _pool(workers: int) -> cf.Executor | None:
    if workers <= 1:
        return None
    # spawn: OpenSim/CasADi state is not shared with a forked parent
    ctx = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


# --------------------------------------------------------------------------- planning


@dataclass
class _Plan:
    subject: SubjectTruth
    trial_id: str
    condition: str
    kind: str
    load_kg: float
    motion: Motion
    phases: list[Phase]
    effect: ConditionEffect | None = None
    speed_index: int | None = None
    flexion_duration_s: float | None = None
    direction: str | None = None  # MVIC: 'flexion' | 'extension'


def _load_label(load: float) -> str:
    return f"{load:g}kg"


def _spec(cfg: Mapping[str, Any], subj: SubjectTruth, load: float) -> ArmModelSpec:
    mp, posture = cfg["muscle_parameters"], cfg["posture"]
    return ArmModelSpec(
        osim_path=str(cfg["osim"]),
        muscles=subj.muscles,
        shoulder_elevation=math.radians(subj.shoulder_elevation_deg),
        base_tilt=math.radians(posture["base_tilt_deg"]),
        forearm=subj.forearm,
        load_kg=float(load),
        load_distance_m=subj.load_distance_m,
        tendon_strain=float(mp["tendon_strain"]),
        fiber_damping=float(mp["fiber_damping"]),
        activation_time_constant_s=float(mp["activation_time_constant_s"]),
        deactivation_time_constant_s=float(mp["deactivation_time_constant_s"]),
        activation_smoothing=float(mp["activation_smoothing"]),
        elbow_coordinate=str(cfg["model_coordinate"]),
    )


def _plans(cfg: Mapping[str, Any], subjects: Sequence[SubjectTruth], seed: int) -> list[_Plan]:
    task, mesh = cfg["task"], float(cfg["solver"]["mesh_interval_s"])
    speeds = list(task["flexion_duration_s"])
    plans = []
    directions = ("flexion", "extension") if mvic_included(cfg) else ()
    for subj in subjects:
        for direction in directions:
            motion, phases = mvic_motion(
                cfg["mvic"]["angle_deg"], cfg["mvic"], task["rate_hz"], mesh
            )
            plans.append(
                _Plan(
                    subj,
                    f"mvic_{direction}",
                    "mvic",
                    "mvic",
                    0.0,
                    motion,
                    phases,
                    direction=direction,
                )
            )
        for condition in cfg["conditions"]:
            effect = condition_effect(cfg["pain_model"], condition)
            for li, load in enumerate(cfg["loads_kg"]):
                for k in range(int(cfg["trials_per_cell"])):
                    trial_id = f"{condition}_{_load_label(load)}_{k + 1}"
                    speed_index = (li * int(cfg["trials_per_cell"]) + k) % len(speeds)
                    g = rng(seed, "motion", subj.index, trial_id)
                    motion, phases = movement_motion(
                        g,
                        task,
                        low_deg=subj.low_target_deg,
                        high_deg=subj.high_target_deg,
                        flexion_duration_s=float(speeds[speed_index]),
                        shape=effect.shape,
                        mesh_interval_s=mesh,
                    )
                    plans.append(
                        _Plan(
                            subj,
                            trial_id,
                            condition,
                            "movement",
                            float(load),
                            motion,
                            phases,
                            effect,
                            speed_index,
                            float(speeds[speed_index]),
                        )
                    )
    return plans


def _movement_job(
    cfg: Mapping[str, Any],
    plan: _Plan,
    gain: float,
    whole_trial: bool,
    flexors: Sequence[str],
    cap: float | None = None,
) -> TrialJob:
    """A MocoInverse job; gain multiplies the injected muscle's effort weight and cap (if given)
    bounds its activation from above (pain and placebo)."""
    subj, muscles = plan.subject, tuple(cfg["muscles"])
    cc = cfg["recruitment"]["cocontraction"]
    weights = subj.weights_at(plan.load_kg, muscles)
    inj = muscles.index(cfg["pain_model"]["injected_muscle"])
    weights[inj] *= gain
    # co-activation rises in the painful muscle's antagonists (its synergists are left alone so
    # that they take over only what the painful muscle gives up)
    agonist_side = muscles[inj] in flexors
    gains = np.array(
        [
            plan.effect.cocontraction_gain if ((m in flexors) != agonist_side) else 1.0
            for m in muscles
        ]
    )
    level = subj.cocontraction_level(plan.load_kg)
    factors = np.array([subj.cocontraction_muscle[m] for m in muscles]) * gains
    acc = np.abs(plan.motion.qdd)
    acc = acc / acc.max() if acc.max() > 0 else acc
    reference = level * factors[None, :] * (1.0 + cc["acceleration_gain"] * acc[:, None])
    floor = np.clip(cc["hard_floor_fraction"] * level * factors, 0.01, 0.5)
    ceiling = np.ones(len(muscles))
    if cap is not None:
        ceiling[inj] = float(np.clip(cap, floor[inj] + 0.05, 1.0))
    return TrialJob(
        subject=subj.subject_id,
        trial_id=plan.trial_id,
        condition=plan.condition,
        kind="movement",
        load_kg=plan.load_kg,
        spec=_spec(cfg, subj, plan.load_kg),
        motion=plan.motion,
        phases=plan.phases,
        muscles=muscles,
        solver=dict(cfg["solver"]),
        checks={
            "forward_horizon_s": float(cfg["checks"]["forward_horizon_s"]),
            "forward_windows": int(cfg["checks"]["forward_windows"]),
            "whole_trial": whole_trial,
        },
        weights=weights,
        reference=reference,
        floor=floor,
        ceiling=ceiling,
        meta={
            "weights": dict(zip(muscles, map(float, weights), strict=True)),
            "cocontraction_level": float(level),
            "cocontraction_gain": float(plan.effect.cocontraction_gain),
            "excitation_floor": dict(zip(muscles, map(float, floor), strict=True)),
            "injected_weight_gain": float(gain),
            "injected_activation_cap": float(ceiling[inj]),
        },
    )


def _flexors(cfg: Mapping[str, Any], subj: SubjectTruth) -> list[str]:
    """Muscles with a positive elbow moment arm at the MVIC angle (OpenSim)."""
    model = build_arm_model(_spec(cfg, subj, 0.0))
    state = model.initSystem()
    coord = model.getCoordinateSet().get(cfg["model_coordinate"])
    coord.setValue(state, math.radians(cfg["mvic"]["angle_deg"]))
    model.realizePosition(state)
    return [
        m for m in cfg["muscles"] if model.getMuscles().get(m).computeMomentArm(state, coord) > 0
    ]


def _mvic_job(cfg: Mapping[str, Any], plan: _Plan, flexors: Sequence[str]) -> TrialJob:
    subj, muscles = plan.subject, tuple(cfg["muscles"])
    agonists = flexors if plan.direction == "flexion" else [m for m in muscles if m not in flexors]
    exc = mvic_excitation(
        plan.motion.time,
        plan.phases,
        muscles,
        agonists,
        peak=subj.voluntary_activation,
        antagonist=subj.mvic_antagonist,
    )
    return TrialJob(
        subject=subj.subject_id,
        trial_id=plan.trial_id,
        condition="mvic",
        kind="mvic",
        load_kg=0.0,
        spec=_spec(cfg, subj, 0.0),
        motion=plan.motion,
        phases=plan.phases,
        muscles=muscles,
        solver=dict(cfg["solver"]),
        checks={},
        excitation=exc,
        angle=math.radians(cfg["mvic"]["angle_deg"]),
        meta={"agonists": list(agonists), "voluntary_activation": subj.voluntary_activation},
    )


# --------------------------------------------------------------------------- posture and model


def _check_posture(cfg: Mapping[str, Any], model: Any) -> None:
    """SynthConfigError unless the configured shoulder elevation lies in the shoulder
    coordinate's range of the (finalised) source model."""
    name = ArmModelSpec.shoulder_coordinate  # the default: arm26's r_shoulder_elev
    coords = model.getCoordinateSet()
    if not coords.contains(name):
        raise SynthConfigError(
            f"synth.posture: the model {cfg['osim']} has no shoulder coordinate '{name}'"
        )
    coord = coords.get(name)
    low, high = shoulder_elevation_range(cfg["posture"])
    check_shoulder_range(
        low, high, (coord.getRangeMin(), coord.getRangeMax()), name, str(cfg["osim"])
    )


def generic_muscles(
    source: Mapping[str, Mapping[str, float]], posture: Mapping[str, Any]
) -> dict[str, dict[str, float]]:
    """The generic model's muscle properties (N, m): the source ``.osim``'s, with each
    ``tendon_slack_length`` in ``posture.tendon_slack_scale`` ({muscle: factor}) scaled.
    Subjects' factors are drawn on these."""
    scale = posture.get("tendon_slack_scale") or {}
    out = {m: dict(props) for m, props in source.items()}
    for muscle, factor in scale.items():
        out[muscle]["tendon_slack_length"] *= float(factor)
    return out


def generic_model_changes(
    source: Mapping[str, Mapping[str, float]], generic: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"changed": {muscle: {property: {"source": v, "generic": v}}}}`` where the generic
    model differs from the source ``.osim`` (N, m); empty when it does not."""
    changed: dict[str, dict[str, dict[str, float]]] = {}
    for muscle, props in generic.items():
        for key, value in props.items():
            if value != source[muscle][key]:
                changed.setdefault(muscle, {})[key] = {
                    "source": source[muscle][key],
                    "generic": value,
                }
    return {"changed": changed} if changed else {}


#: OpenSim setters of the muscle properties a generic model may change.
_SETTERS: Mapping[str, str] = {
    "max_isometric_force": "setMaxIsometricForce",
    "optimal_fiber_length": "setOptimalFiberLength",
    "tendon_slack_length": "setTendonSlackLength",
}


def write_generic_model(osim_path: str, changes: Mapping[str, Any], path: Path) -> Path:
    """Write the source ``.osim`` with the changes of :func:`generic_model_changes` applied:
    the model a study would give its NMM (joints, muscle types and paths as in the source).
    Returns path."""
    osim = import_opensim()
    model = osim.Model(osim_path)
    model.finalizeFromProperties()
    muscles = model.updMuscles()
    for name, props in changes["changed"].items():
        for key, values in props.items():
            getattr(muscles.get(name), _SETTERS[key])(float(values["generic"]))
    model.setName(f"{model.getName()}_generic")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.printToXML(str(path))
    return path


def _subject_metadata(
    cfg: Mapping[str, Any], subj: SubjectTruth, changes: Mapping[str, Any]
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
        if mvic_included(cfg)
        else "none: this cohort has no MVIC trials",
        "load_lever_arm_m": round(subj.load_distance_m, 4),
        "forearm_length_m": round(subj.forearm_length_m, 4),
    }
    if subj.shoulder_elevation_deg != 0.0:
        meta["locked"] = {
            ArmModelSpec.shoulder_coordinate: math.radians(subj.shoulder_elevation_deg)
        }
        meta["shoulder_elevation_deg"] = round(subj.shoulder_elevation_deg, 4)
        meta["base_tilt_deg"] = float(cfg["posture"]["base_tilt_deg"])
    if changes:
        meta["generic_model"] = GENERIC_MODEL
    if float(cfg["emg"]["powerline_hz"]) != DEFAULT_MAINS_HZ:
        meta["powerline_hz"] = float(cfg["emg"]["powerline_hz"])
    return meta


# --------------------------------------------------------------------------- EMG and features


def _mvic_features(
    cfg: Mapping[str, Any],
    subjects: Sequence[SubjectTruth],
    emg: Mapping[tuple[str, str], Signal],
    measured: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Per subject and measured muscle, the MVIC reference of the contraction features' peak
    (mV; :func:`mvic_peak`). Without MVIC trials it is 1 mV: the peak is then in mV, and the
    condition effects (Cohen's d of log features within a subject) do not change with a
    per-subject scale."""
    if not mvic_included(cfg):
        return {s.subject_id: {m: 1.0 for m in measured} for s in subjects}
    notch = float(cfg["emg"]["powerline_hz"])
    return {
        s.subject_id: {
            m: max(
                mvic_peak(emg[(s.subject_id, f"mvic_{d}")], m, notch_hz=notch)
                for d in ("flexion", "extension")
            )
            for m in measured
        }
        for s in subjects
    }


def _emg_signal(
    cfg: Mapping[str, Any], seed: int, plan: _Plan, result: Mapping[str, Any]
) -> Signal:
    muscles = list(cfg["muscles"])
    measured = [m for m in muscles if m not in cfg["hidden"]]
    idx = [muscles.index(m) for m in measured]
    g = rng(seed, "emg", plan.subject.index, plan.trial_id)
    _, values = synthesize_emg(
        g, plan.motion.time, result["excitation"][:, idx], measured, plan.subject, cfg["emg"]
    )
    return Signal.uniform(values, cfg["emg"]["rate_hz"], measured, "mV", kind="emg")


def _features(
    cfg: Mapping[str, Any], plan: _Plan, emg: Signal, mvic_ref: Mapping[str, float]
) -> list[dict[str, Any]]:
    inj = cfg["pain_model"]["injected_muscle"]
    notch = float(cfg["emg"]["powerline_hz"])
    df = contraction_features(emg, inj, plan.phases, mvic_ref[inj], notch_hz=notch)
    rows = df.to_dict("records")
    for r in rows:
        r.update(
            subject=plan.subject.subject_id,
            trial_id=plan.trial_id,
            condition=plan.condition,
            load_kg=plan.load_kg,
            speed_index=plan.speed_index,
        )
    return rows


def _injected_peaks(cfg: Mapping[str, Any], plan: _Plan, result: Mapping[str, Any]) -> list[float]:
    """Peak truth activation of the injected muscle in each flexion phase."""
    j = list(cfg["muscles"]).index(cfg["pain_model"]["injected_muscle"])
    out = []
    for p in plan.phases:
        if p.label == "flexion":
            keep = (plan.motion.time >= p.start_s) & (plan.motion.time <= p.end_s)
            out.append(float(np.max(result["activation"][keep, j])))
    return out


def _injected_share(cfg: Mapping[str, Any], plan: _Plan, result: Mapping[str, Any]) -> list[float]:
    """Injected muscle's fraction of the flexor moment at each flexion's peak flexor moment."""
    muscles = list(cfg["muscles"])
    inj = muscles.index(cfg["pain_model"]["injected_muscle"])
    moments = result["moment_arm"] * result["tendon_force"]
    flex = np.clip(moments, 0, None).sum(axis=1)
    out = []
    for p in plan.phases:
        if p.label != "flexion":
            continue
        keep = np.flatnonzero((plan.motion.time >= p.start_s) & (plan.motion.time <= p.end_s))
        k = keep[np.argmax(flex[keep])]
        if flex[k] > 0:
            out.append(float(max(moments[k, inj], 0.0) / flex[k]))
    return out


# --------------------------------------------------------------------------- main entry


def generate_cohort(
    synth_cfg: Any,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulate the cohort described by ``synth_cfg`` (the ``synth`` config node) into ``out_dir``.

    Returns the metrics (also what ``nmm-synth`` writes to ``metrics.json``). Raises
    SynthConfigError for a bad config (negative load, unknown muscle, zero trials, ...).
    """

    t_start = _time.perf_counter()
    cfg = validate_config(synth_cfg)
    cfg["osim"] = str(Path(cfg["osim"]).expanduser())
    if not Path(cfg["osim"]).is_file():
        raise SynthConfigError(f"synth.osim: no model file at {cfg['osim']}")
    if int(cfg["task"]["cycles_per_trial"]) * int(cfg["trials_per_cell"]) < 2:
        raise SynthConfigError(
            "synth.task.cycles_per_trial x synth.trials_per_cell must be >= 2: the pain "
            "calibration needs two baseline contractions per load"
        )
    workers = int(workers if workers is not None else cfg.get("workers", 1))
    say = progress or (lambda msg: log.info(msg))
    out = Path(out_dir)
    muscles = list(cfg["muscles"])
    measured = [m for m in muscles if m not in cfg["hidden"]]

    osim = import_opensim()
    model = osim.Model(cfg["osim"])
    model.finalizeFromProperties()
    have = [model.getMuscles().get(i).getName() for i in range(model.getMuscles().getSize())]
    check_model_muscles(muscles, have, cfg["osim"])

    _check_posture(cfg, model)
    source = read_muscle_properties(cfg["osim"], muscles)
    base = generic_muscles(source, cfg["posture"])
    subjects = draw_subjects(cfg, base, seed)
    changes = generic_model_changes(source, base)
    plans = _plans(cfg, subjects, seed)
    by_key = {(p.subject.subject_id, p.trial_id): p for p in plans}
    flexors = _flexors(cfg, subjects[0])
    whole = cfg["checks"].get("whole_trial_forward", "first")
    first_movement: dict[str, str] = {}
    for p in plans:
        if p.kind == "movement":
            first_movement.setdefault(p.subject.subject_id, p.trial_id)

    def want_whole(p: _Plan) -> bool:
        return whole == "all" or (
            whole == "first" and first_movement[p.subject.subject_id] == p.trial_id
        )

    # Phase A: MVIC and baseline
    jobs_a = [
        _mvic_job(cfg, p, flexors)
        if p.kind == "mvic"
        else _movement_job(cfg, p, 1.0, want_whole(p), flexors)
        for p in plans
        if p.kind == "mvic" or p.condition == "baseline"
    ]
    pool = _pool(workers)
    try:
        say(f"solving {len(jobs_a)} MVIC and baseline trials with {workers} worker(s)")
        results = _run_all(jobs_a, pool, say)
        jobs: dict[tuple[str, str], TrialJob] = {j.key: j for j in jobs_a}

        emg: dict[tuple[str, str], Signal] = {}
        for key, res in results.items():
            emg[key] = _emg_signal(cfg, seed, by_key[key], res)
        inj = cfg["pain_model"]["injected_muscle"]
        mvic_feat = _mvic_features(cfg, subjects, emg, measured)

        # Calibrate the pain model: the drive ratio ρ from the configured d and the pooled
        # within-cell (subject x load) log-SD of the baseline features; per subject, the cap on
        # the injected muscle (ρ x its mean baseline peak activation at each load) and the
        # effort-weight gain from its own share of the flexor moment.
        features: list[dict[str, Any]] = []
        calibration: dict[str, dict[str, Any]] = {}
        cells: dict[tuple[str, float], list[dict[str, Any]]] = {}
        drive: dict[tuple[str, float], list[float]] = {}
        shares: dict[str, list[float]] = {}
        for p in plans:
            if p.kind != "movement" or p.condition != "baseline":
                continue
            sid = p.subject.subject_id
            rows = _features(cfg, p, emg[(sid, p.trial_id)], mvic_feat[sid])
            features += rows
            cells.setdefault((sid, p.load_kg), []).extend(rows)
            shares.setdefault(sid, []).extend(_injected_share(cfg, p, results[(sid, p.trial_id)]))
            drive.setdefault((sid, p.load_kg), []).extend(
                _injected_peaks(cfg, p, results[(sid, p.trial_id)])
            )
        baseline = {
            f: [[r[f] for r in rows] for rows in cells.values()] for f in ("peak", "var", "mad")
        }
        redistribution = float(cfg["pain_model"].get("redistribution", 1.0))
        for condition in cfg["conditions"]:
            if condition == "baseline":
                continue
            effect = condition_effect(cfg["pain_model"], condition)
            ratio, sds = drive_ratio(effect.target_d, baseline)
            for subj in subjects:
                sid = subj.subject_id
                share = float(np.mean(shares[sid])) if shares.get(sid) else 0.3
                gain = injected_weight_gain(ratio, share, redistribution=redistribution)
                subj.pain_injected_weight_gain[condition] = gain
                caps = {
                    load: ratio * float(np.mean(v))
                    for (s_id, load), v in drive.items()
                    if s_id == sid
                }
                calibration.setdefault(sid, {})[condition] = {
                    "ratio": ratio,
                    **sds,
                    "share": share,
                    "gain": gain,
                    "activation_cap": caps,
                }

        # Phase B: pain and placebo
        jobs_b = [
            _movement_job(
                cfg,
                p,
                p.subject.pain_injected_weight_gain[p.condition],
                False,
                flexors,
                calibration[p.subject.subject_id][p.condition]["activation_cap"][p.load_kg],
            )
            for p in plans
            if p.kind == "movement" and p.condition != "baseline"
        ]
        if jobs_b:
            say(f"solving {len(jobs_b)} pain and placebo trials")
            results_b = _run_all(jobs_b, pool, say)
            results.update(results_b)
            jobs.update({j.key: j for j in jobs_b})
            for key, res in results_b.items():
                emg[key] = _emg_signal(cfg, seed, by_key[key], res)
                features += _features(cfg, by_key[key], emg[key], mvic_feat[key[0]])
    finally:
        if pool is not None:
            pool.shutdown()

    # Dataset
    digits = int(cfg["output"]["significant_digits"])
    coord = str(cfg["coordinate"])
    msk_env = _mvic_chain()
    trials, subjects_ds = [], []
    ordered = list(plans)  # plan order: subject, MVIC, then condition, load, trial
    for subj in subjects:
        sid = subj.subject_id
        mvic_trials = []
        for p in (q for q in ordered if q.subject is subj):
            trial = _dataset_trial(
                cfg,
                p,
                jobs[(sid, p.trial_id)],
                results[(sid, p.trial_id)],
                emg[(sid, p.trial_id)],
                digits,
                coord,
            )
            trials.append(trial)
            if p.kind == "mvic":
                mvic_trials.append(trial)
        subjects_ds.append(
            Subject(
                sid,
                mvic_reference(mvic_trials, msk_env),
                body_mass_kg=round(subj.body_mass_kg, 3),
                height_m=round(subj.height_m, 4),
                metadata=_subject_metadata(cfg, subj, changes),
            )
        )
    cohort = Cohort(subjects_ds, trials, name=str(cfg["name"]))
    out.mkdir(parents=True, exist_ok=True)
    write_dataset(cohort, out / "dataset")
    if changes:
        write_generic_model(cfg["osim"], changes, out / "dataset" / GENERIC_MODEL)

    # Ground truth (at truth_rate_hz: every k-th sample of the kinematics grid)
    truth_dir = out / "ground_truth"
    t_digits = int(cfg["output"].get("truth_significant_digits", digits))
    every = round(float(cfg["task"]["rate_hz"]) / float(cfg["output"].get("truth_rate_hz", 100.0)))
    for p in ordered:
        key = (p.subject.subject_id, p.trial_id)
        res = results[key]
        write_trial_truth(
            truth_dir,
            key[0],
            SESSION,
            p.trial_id,
            p.motion.time[::every],
            muscles,
            {
                k: res[k][::every]
                for k in ("excitation", "activation", "tendon_force", "fiber_length")
            },
            res["muscle_moment"][::every],
            coord,
            t_digits,
        )
    for subj in subjects:
        m = build_arm_model(_spec(cfg, subj, 0.0))
        m.setName(f"{cfg['name']}_{subj.subject_id}")
        m.printToXML(str(truth_dir / subj.subject_id / "model.osim"))
    summary = {
        "format": "nmm-synth-ground-truth",
        "version": FORMAT_VERSION,
        "name": cfg["name"],
        "seed": int(seed),
        "muscles": muscles,
        "hidden": list(cfg["hidden"]),
        "measured": measured,
        "injected_muscle": inj,
        "osim_source": Path(cfg["osim"]).name,
        **({"generic_model": {"file": f"dataset/{GENERIC_MODEL}", **changes}} if changes else {}),
        "subjects": [_round_tree(s.to_dict()) for s in subjects],
        "calibration": _round_tree(calibration),
        "trials": [
            _round_tree(
                _trial_summary(
                    p,
                    jobs[(p.subject.subject_id, p.trial_id)],
                    results[(p.subject.subject_id, p.trial_id)],
                )
            )
            for p in ordered
        ],
    }
    write_cohort_truth(truth_dir, summary)

    metrics = cohort_metrics(cfg, plans, results, features, calibration, seed)
    if cfg["output"].get("figures", True):
        for subj in subjects:
            subject_figure(
                cfg, subj, plans, results, emg, out / "figures" / f"{subj.subject_id}.png"
            )
    metrics["timing"] = {
        "total_s": _time.perf_counter() - t_start,
        "workers": workers,
        "moco_solve_s_sum": float(sum(r.get("solve_s", 0.0) for r in results.values())),
        "opensim_job_s_sum": float(sum(r["wall_s"] for r in results.values())),
    }
    metrics["size_bytes"] = {
        "dataset": _du(out / "dataset"),
        "ground_truth": _du(truth_dir),
        "figures": _du(out / "figures"),
    }
    return metrics


def _mvic_chain() -> Callable[[Signal], Signal]:
    return Chain([BandPass(20.0, 400.0, 4), Envelope(6.0, 4)])


def _dataset_trial(
    cfg: Mapping[str, Any],
    plan: _Plan,
    job: TrialJob,
    res: Mapping[str, Any],
    emg: Signal,
    digits: int,
    coord: str,
) -> Trial:
    m = plan.motion
    kin = Signal.uniform(
        round_significant(np.column_stack([m.q, m.qd, m.qdd]), digits),
        cfg["task"]["rate_hz"],
        [coord, f"{coord}_speed", f"{coord}_acceleration"],
        ["rad", "rad/s", "rad/s^2"],
        kind="kinematics",
    )
    tq = Signal.uniform(
        round_significant(np.asarray(res["torque"])[:, None], digits),
        cfg["task"]["rate_hz"],
        [f"{coord}_moment"],
        ["N·m"],
        kind="torque",
    )
    meta: dict[str, Any] = {
        "synthetic": True,
        "kind": plan.kind,
        "unmeasured": [x for x in cfg["muscles"] if x in cfg["hidden"]],
        "phases": [ph.to_list() for ph in plan.phases],
    }
    if plan.kind == "mvic":
        meta["direction"] = plan.direction
        meta["angle_deg"] = float(cfg["mvic"]["angle_deg"])
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
        session=SESSION,
        condition=plan.condition,
        coordinate=coord,
        metadata=meta,
    )


def _trial_summary(plan: _Plan, job: TrialJob, res: Mapping[str, Any]) -> dict[str, Any]:
    checks = dict(res.get("checks", {}))
    return {
        "subject": plan.subject.subject_id,
        "session": SESSION,
        "trial_id": plan.trial_id,
        "condition": plan.condition,
        "kind": plan.kind,
        "load_kg": plan.load_kg,
        "duration_s": float(plan.motion.time[-1]),
        "phases": [ph.to_list() for ph in plan.phases],
        "recruitment": job.meta,
        "solver": res.get("info", {}),
        "checks": checks,
    }


def _round_tree(obj: Any, digits: int = 10) -> Any:
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


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


# --------------------------------------------------------------------------- cached cohorts


def _fingerprint(cfg: Mapping[str, Any], seed: int) -> str:
    """SHA-256 of the config, seed and format version. The ``.osim`` enters by its content, not
    its path, so the embedded cohort is reused from any clone and any working directory."""
    cfg = dict(cfg)
    if cfg.get("osim") and Path(cfg["osim"]).is_file():
        cfg["osim"] = "sha256:" + file_sha256(cfg["osim"])
    text = json.dumps({"cfg": cfg, "seed": int(seed), "version": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _compose_default() -> Any:
    return compose_config("synth")


def _cached_cohort(
    plain: Mapping[str, Any], seed: int, root: Path, workers: int | None = None
) -> Path:
    """``root`` holding the cohort of the validated config ``plain`` and ``seed``: reused when
    its fingerprint matches, else generated through ``<root>.tmp`` and moved into place, with
    ``metrics.json`` (plus ``generation_s``, the wall time of the generation in s),
    ``config.yaml`` and the fingerprint. workers: OpenSim processes (None: ``synth.workers``);
    not part of the fingerprint, since it does not change the files."""
    fp = _fingerprint(plain, seed)
    stamp = root / FINGERPRINT
    if (
        stamp.is_file()
        and stamp.read_text().strip() == fp
        and (root / "dataset" / "manifest.yaml").is_file()
    ):
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = _time.perf_counter()
    metrics = generate_cohort(plain, tmp, seed, workers=workers)
    metrics["generation_s"] = _time.perf_counter() - t0
    atomic_write_json(tmp / "metrics.json", metrics)
    (tmp / "config.yaml").write_text(
        OmegaConf.to_yaml(OmegaConf.create({"seed": seed, "synth": dict(plain)})),
        encoding="utf-8",
    )
    (tmp / FINGERPRINT).write_text(fp + "\n", encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def ensure_default_cohort(
    cfg: Any | None = None, root: str | os.PathLike[str] | None = None, *, seed: int | None = None
) -> Path:
    """The embedded default cohort's folder, generated on first use and cached.

    cfg: a config with a ``synth`` node (and optionally ``seed``), or the ``synth`` node itself;
    default: ``conf/synth.yaml`` composed as is. root: the cache folder (default
    ``data/default_cohort/`` of the repository). The cohort is regenerated when the config, the
    seed or :data:`FORMAT_VERSION` changes. Returns the folder; the dataset is its
    ``dataset/`` (``read_dataset``), the truth its ``ground_truth/``.
    """

    if cfg is None:
        cfg = _compose_default()
    node = cfg.get("synth", cfg) if isinstance(cfg, DictConfig | Mapping) else cfg
    if seed is None:
        seed = int(cfg.get("seed", 0)) if "synth" in cfg else 0
    root = Path(root) if root is not None else DEFAULT_ROOT
    return _cached_cohort(validate_config(node), seed, root)


def variant_names() -> list[str]:
    """The cohort family (docs/cohort_family.md): :data:`FAMILY`, the generator variants that
    change how the truth is made (``tiny``, a size, is not one)."""
    return list(FAMILY)


def _synth_options() -> list[str]:
    """Every option of the ``synth`` config group (``conf/synth/*.yaml``)."""
    return sorted(p.stem for p in (Path(CONF_DIR) / "synth").glob("*.yaml"))


def _synth_override(override: str) -> str:
    """A Hydra override of the ``synth`` node (``n_subjects=2``, ``+mvic.include=false``) as
    one of the ``synth`` app config (``synth.n_subjects=2``); ``synth.``-prefixed ones pass."""
    sign = override[: len(override) - len(override.lstrip("+~"))]
    body = override[len(sign) :]
    return override if body.startswith("synth.") else f"{sign}synth.{body}"


def variant_root(name: str, overrides: Sequence[str] = (), seed: int = 0) -> Path:
    """The default cache folder of a variant's cohort: ``outputs/cache/cohorts/<name>`` for
    the variant as configured (seed 0), ``<name>-<8 hex digits>`` (a hash of the overrides and
    seed) otherwise, so a small and a full cohort of one variant do not replace each other."""
    if not overrides and seed == 0:
        return VARIANT_ROOT / name
    text = json.dumps({"overrides": list(overrides), "seed": int(seed)})
    return VARIANT_ROOT / f"{name}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def ensure_variant_cohort(
    name: str,
    root: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    seed: int = 0,
    workers: int | None = None,
) -> Path:
    """The folder of a generator variant's cohort, generated once and then reused.

    A variant is an option of the ``synth`` config group (``conf/synth/<name>.yaml``): one of
    the cohort family (:func:`variant_names`: ``default``, ``no_mvic``,
    ``shoulder_elevated``, ``cocontraction``, ``few_trials``, ``low_snr``, ``speeds_rom``;
    docs/cohort_family.md) or ``tiny``. Its config is ``conf/synth.yaml`` composed with
    ``synth=<name>`` and then ``overrides``.

    Args:
        name: the variant.
        root: the cache folder; default :func:`variant_root` (``outputs/cache/cohorts/<name>``,
            git-ignored, with a hash suffix when overrides or a seed are given). A root holds
            one cohort: another config given the same root replaces it.
        overrides: Hydra overrides of the ``synth`` node, e.g. ``["n_subjects=2",
            "task.cycles_per_trial=1"]`` (a ``synth.`` prefix is accepted too).
        seed: the generator's seed.
        workers: parallel OpenSim processes for a generation (default ``synth.workers``); it
            does not change the files, so it is not part of the fingerprint.

    Returns:
        The folder: ``dataset/`` (``nmm.data.io.read_dataset``; what a model may read, with the
        set-up a model must be told in its subjects' metadata: see
        :func:`~nmm.synth.model_inputs.variant_physics_overrides`), ``ground_truth/`` (for
        evaluation only), ``metrics.json`` (with ``generation_s``, the wall time in s of the
        generation that made it), ``config.yaml`` and ``cohort.fingerprint``. It is reused as it
        is while the composed config's fingerprint (config, seed, the ``.osim``'s content,
        :data:`FORMAT_VERSION`) is unchanged, and regenerated otherwise.

    Raises:
        SynthConfigError: for an unknown variant or a config the generator cannot use.
    """

    names = _synth_options()
    if name not in names:
        raise SynthConfigError(f"unknown synth variant {name!r} (conf/synth/: {', '.join(names)})")
    cfg = compose_config("synth", [f"synth={name}", *map(_synth_override, overrides)])
    folder = Path(root) if root is not None else variant_root(name, overrides, seed)
    return _cached_cohort(validate_config(cfg.synth), int(seed), folder, workers)
