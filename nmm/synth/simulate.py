"""Running the cohort's OpenSim jobs (:class:`~nmm.synth.plan.TrialJob`), here or in a pool.

A movement job solves MocoInverse for the truth excitations, then checks them: OpenSim inverse
dynamics against the muscles' moment on the solver's grid, and open-loop forward simulations
(:func:`nmm.opensim.truth.forward_check`). An MVIC job is a forward simulation with the elbow
locked. Each Moco problem is solved single-threaded; parallel processes only change the order
in which jobs finish, and results are keyed by (subject, trial id).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmm.data.schema import Signal
from nmm.metrics import rmse
from nmm.opensim.truth import forward_check, inverse_dynamics, isometric_effort, solve_excitations
from nmm.synth.plan import TrialJob, TrialPlan
from nmm.synth.settings import SynthSettings
from nmm.synth.subjects import SubjectTruth

__all__ = ["SimulatedCohort", "process_pool", "run_job", "run_jobs"]

#: Arrays of a job's result, on the motion's time grid: (N, M) per muscle, (N,) moments (N·m).
QUANTITIES = ("excitation", "activation", "tendon_force", "fiber_length", "moment_arm")


def _run_mvic(job: TrialJob, t0: float) -> dict[str, Any]:
    res = isometric_effort(job.spec, float(job.angle), job.motion.time, job.excitation, job.muscles)
    return {
        "key": job.key,
        "excitation": job.excitation,
        **{k: res[k] for k in QUANTITIES[1:]},
        "muscle_moment": res["muscle_moment"],
        "torque": res["muscle_moment"],
        "info": {"status": "forward simulation", "iterations": 0, "objective": 0.0},
        "checks": {},
        "wall_s": time.perf_counter() - t0,
    }


def _run_movement(job: TrialJob, t0: float) -> dict[str, Any]:
    solver, grid = job.solver, job.motion.time
    truth = solve_excitations(
        job.spec,
        job.motion,
        job.muscles,
        weights=job.weights,
        reference=job.reference,
        min_excitation=job.floor,
        max_activation=job.ceiling,
        mesh_interval=solver.mesh_interval_s,
        tolerance=solver.tolerance,
        constraint_tolerance=solver.constraint_tolerance,
        transcription=solver.transcription,
        max_iterations=solver.max_iterations,
        label=f"{job.subject}/{job.trial_id}",
    )
    solve_s = time.perf_counter() - t0
    torque = inverse_dynamics(job.spec, job.motion)
    # ID against the muscles' moment on the solver's own grid (no interpolation)
    id_on_solver = np.interp(truth.time, grid, torque)
    diff = truth.muscle_moment - id_on_solver
    checks: dict[str, Any] = {
        "id_vs_muscle_rms_nm": rmse(truth.muscle_moment, id_on_solver),
        "id_vs_muscle_max_nm": float(np.max(np.abs(diff))),
        "id_rms_nm": float(np.sqrt(np.mean(id_on_solver**2))),
    }
    checks["forward"] = forward_check(
        job.spec,
        truth,
        job.motion,
        horizon_s=job.checks.forward_horizon_s,
        n_windows=job.checks.forward_windows,
        whole_trial=job.whole_trial,
    )
    res = truth.resample(grid)
    return {
        "key": job.key,
        **{k: res[k] for k in QUANTITIES},
        "muscle_moment": res["muscle_moment"],
        "torque": torque,
        "info": {k: v for k, v in truth.info.items() if k != "solve_time_s"},
        "checks": checks,
        "solve_s": solve_s,
        "wall_s": time.perf_counter() - t0,
    }


def run_job(job: TrialJob) -> dict[str, Any]:
    """Run one job in OpenSim: its :data:`QUANTITIES`, ``muscle_moment`` and ``torque`` (the
    inverse-dynamics moment of a movement, the muscles' of an MVIC) on the motion's time grid,
    the solver's ``info``, the ``checks`` and the wall time (s). Used by the process pool."""
    t0 = time.perf_counter()
    return _run_mvic(job, t0) if job.kind == "mvic" else _run_movement(job, t0)


def run_jobs(
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


def process_pool(workers: int) -> cf.Executor | None:
    """A pool of ``workers`` OpenSim processes, or None (run here) for one worker."""
    if workers <= 1:
        return None
    # spawn: OpenSim/CasADi state is not shared with a forked parent
    ctx = multiprocessing.get_context("spawn")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@dataclass
class SimulatedCohort:
    """Everything a cohort's generation produced, before anything is written: the settings and
    seed, the subjects, the trials in dataset order (:class:`~nmm.synth.plan.TrialPlan`), and
    by (subject, trial id) the OpenSim jobs, their results (:func:`run_job`) and the raw EMG;
    the injected muscle's contraction features, the pain calibration and the generic model's
    changes to the source ``.osim`` (:func:`~nmm.synth.generic_model.generic_model_changes`);
    a longitudinal cohort's truth per session (:func:`nmm.synth.sessions.with_sessions`)."""

    settings: SynthSettings
    seed: int
    subjects: list[SubjectTruth]
    plans: list[TrialPlan]
    jobs: dict[tuple[str, str], TrialJob]
    results: dict[tuple[str, str], dict[str, Any]]
    emg: dict[tuple[str, str], Signal]
    features: list[dict[str, Any]]
    calibration: dict[str, dict[str, Any]]
    changes: dict[str, Any]
    sessions: dict[str, Any] | None = None
