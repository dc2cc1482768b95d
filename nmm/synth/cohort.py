"""Generate the synthetic elbow cohort: subjects, tasks, OpenSim truth, EMG, dataset and truth.

**Labels on synthetic data test the pipeline, not physiology** (see
:mod:`nmm.synth.conditions`).

:func:`simulate_cohort` makes a cohort in memory (:class:`~nmm.synth.simulate.SimulatedCohort`);
:func:`generate_cohort` also writes it into one folder (``dataset/``, ``ground_truth/``,
``figures/``: :mod:`nmm.synth.output`) and returns the run's metrics (checks, timings,
trivial baselines, condition effects: :mod:`nmm.synth.report`). Both take the generator's
settings (:class:`~nmm.synth.settings.SynthSettings`), never a config.

How the truth is made (nothing comes from the project's torch model, no inverse crime):

1. Subjects are drawn (:mod:`~nmm.synth.subjects`); each gets its own arm model
   (:mod:`nmm.opensim.arm_model`): arm26 with the shoulder welded at ``posture.
   shoulder_elevation_deg`` and the whole arm tilted by ``posture.base_tilt_deg`` about the
   flexion axis (the default config: shoulder at 0, tilted 115°, so that gravity loads the
   flexors below 65° of elbow flexion and the extensors above), its forearm inertia, the load in
   the hand, and DeGrooteFregly2016 muscles with compliant tendons and its own parameters.
2. Movement trials (:mod:`~nmm.synth.tasks`, planned in :mod:`~nmm.synth.plan`) are solved
   with MocoInverse (:func:`nmm.opensim.truth.solve_excitations`) with a subject-, load- and
   condition-specific cost (effort weights and co-contraction), and checked: an open-loop
   forward simulation in OpenSim of the solved excitations, and OpenSim inverse dynamics against
   the muscles' moment (:mod:`~nmm.synth.simulate`).
3. MVIC trials are forward simulations with the elbow locked, driven by ramp-hold excitations.
4. Baseline and MVIC trials come first; the pain model is calibrated on the baseline EMG
   (:mod:`~nmm.synth.calibration`), then the pain and placebo trials are solved.
5. Raw EMG is synthesised from the measured muscles' excitations (:mod:`~nmm.synth.emg`).

Deterministic for a seed: every random draw has its own stream keyed by subject and trial, and
each Moco problem is solved single-threaded; parallel processes only change the order in which
trials finish. The dataset's stream folder has a random name by design of ``write_dataset``
(``data-<id>/``); the files in it are identical for a seed.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from nmm.data.schema import Signal
from nmm.opensim.arm_model import import_opensim, read_muscle_properties
from nmm.synth.calibration import calibrate_pain, contraction_rows, mvic_references
from nmm.synth.config import SynthConfigError
from nmm.synth.emg import trial_emg
from nmm.synth.generic_model import check_source_model, generic_model_changes, generic_muscles
from nmm.synth.output import folder_sizes, write_cohort
from nmm.synth.plan import TrialJob, TrialPlan, elbow_flexors, movement_job, mvic_job, plan_trials
from nmm.synth.report import cohort_metrics
from nmm.synth.sessions import with_sessions
from nmm.synth.settings import SynthSettings
from nmm.synth.simulate import SimulatedCohort, process_pool, run_jobs
from nmm.synth.subjects import SubjectTruth, draw_subjects

__all__ = ["generate_cohort", "simulate_cohort"]

log = logging.getLogger(__name__)


def _usable(settings: SynthSettings) -> SynthSettings:
    """The settings with the ``.osim`` path expanded (``~``); SynthConfigError when the model
    file is missing or there are fewer than two baseline contractions per load."""
    settings = dataclasses.replace(settings, osim=str(Path(settings.osim).expanduser()))
    if not Path(settings.osim).is_file():
        raise SynthConfigError(f"synth.osim: no model file at {settings.osim}")
    if settings.task.cycles_per_trial * settings.trials_per_cell < 2:
        raise SynthConfigError(
            "synth.task.cycles_per_trial x synth.trials_per_cell must be >= 2: the pain "
            "calibration needs two baseline contractions per load"
        )
    return settings


def _whole_trial_forward(
    settings: SynthSettings, plans: Sequence[TrialPlan]
) -> set[tuple[str, str]]:
    """Keys of the movement trials also run open loop end to end
    (``checks.whole_trial_forward``: ``first`` of each subject, ``all``, or none)."""
    rule = settings.checks.whole_trial_forward
    movement = [p for p in plans if p.kind == "movement"]
    if rule == "all":
        return {p.key for p in movement}
    if rule != "first":
        return set()
    first: dict[str, tuple[str, str]] = {}
    for p in movement:
        first.setdefault(p.subject.subject_id, p.key)
    return set(first.values())


def _first_jobs(
    settings: SynthSettings, plans: Sequence[TrialPlan], flexors: Sequence[str]
) -> list[TrialJob]:
    """The MVIC and baseline jobs (the pain calibration needs their results)."""
    whole = _whole_trial_forward(settings, plans)
    return [
        mvic_job(settings, p, flexors)
        if p.kind == "mvic"
        else movement_job(settings, p, 1.0, p.key in whole, flexors)
        for p in plans
        if p.kind == "mvic" or p.condition == "baseline"
    ]


def _pain_jobs(
    settings: SynthSettings,
    plans: Sequence[TrialPlan],
    flexors: Sequence[str],
    calibration: dict[str, dict[str, Any]],
) -> list[TrialJob]:
    """The pain and placebo jobs, with each subject's calibrated effort-weight gain and
    activation cap of the injected muscle."""
    return [
        movement_job(
            settings,
            p,
            p.subject.pain_injected_weight_gain[p.condition],
            False,
            flexors,
            calibration[p.subject.subject_id][p.condition]["activation_cap"][p.load_kg],
        )
        for p in plans
        if p.kind == "movement" and p.condition != "baseline"
    ]


def _emg(settings: SynthSettings, seed: int, plan: TrialPlan, result: dict[str, Any]) -> Signal:
    """The raw EMG of a solved trial, from its truth excitations."""
    time_s, excitation = plan.motion.time, result["excitation"]
    return trial_emg(settings, seed, plan.subject, plan.trial_id, time_s, excitation)


def _solve(
    settings: SynthSettings,
    seed: int,
    subjects: Sequence[SubjectTruth],
    plans: Sequence[TrialPlan],
    workers: int,
    say: Callable[[str], None],
) -> tuple[list[TrialJob], dict, dict, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Solve the MVIC and baseline trials, calibrate the pain model on them, then solve the
    pain and placebo trials. Returns the jobs, and by key the results and the EMG; the
    contraction features (every movement trial, plan order) and the calibration."""
    by_key = {p.key: p for p in plans}
    flexors = elbow_flexors(settings, subjects[0])
    first = _first_jobs(settings, plans, flexors)
    pool = process_pool(workers)
    try:
        say(f"solving {len(first)} MVIC and baseline trials with {workers} worker(s)")
        results = run_jobs(first, pool, say)
        emg = {key: _emg(settings, seed, by_key[key], res) for key, res in results.items()}
        mvic_ref = mvic_references(settings, subjects, emg)
        baseline = [p for p in plans if p.kind == "movement" and p.condition == "baseline"]
        features, calibration = calibrate_pain(settings, subjects, baseline, results, emg, mvic_ref)
        later = _pain_jobs(settings, plans, flexors, calibration)
        if later:
            say(f"solving {len(later)} pain and placebo trials")
            results.update(run_jobs(later, pool, say))
    finally:
        if pool is not None:
            pool.shutdown()
    for job in later:
        emg[job.key] = _emg(settings, seed, by_key[job.key], results[job.key])
        features += contraction_rows(settings, by_key[job.key], emg[job.key], mvic_ref[job.subject])
    return [*first, *later], results, emg, features, calibration


def simulate_cohort(
    settings: SynthSettings,
    seed: int = 0,
    *,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
) -> SimulatedCohort:
    """Simulate the cohort of ``settings`` in OpenSim (``workers`` processes) and synthesise
    its EMG; nothing is written. SynthConfigError for a model that does not fit the settings."""
    settings = _usable(settings)
    model = import_opensim().Model(settings.osim)
    model.finalizeFromProperties()
    check_source_model(settings, model)
    source = read_muscle_properties(settings.osim, settings.muscles)
    base = generic_muscles(source, settings.posture)
    subjects = draw_subjects(settings, base, seed)
    plans = plan_trials(settings, subjects, seed)
    say = progress or log.info
    jobs, results, emg, features, calibration = _solve(
        settings, seed, subjects, plans, workers, say
    )
    return SimulatedCohort(
        settings=settings,
        seed=seed,
        subjects=subjects,
        plans=plans,
        jobs={j.key: j for j in jobs},
        results=results,
        emg=emg,
        features=features,
        calibration=calibration,
        changes=generic_model_changes(source, base),
    )


def generate_cohort(
    settings: SynthSettings,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    *,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Simulate the cohort of ``settings`` (:func:`simulate_cohort`) and write it into
    ``out_dir`` (:func:`~nmm.synth.output.write_cohort`). workers: OpenSim processes (None:
    ``settings.workers``).

    With ``settings.sessions`` it writes the longitudinal cohort
    (:func:`~nmm.synth.sessions.with_sessions`) of the solved trials.

    Returns the metrics (what ``nmm-synth`` writes to ``metrics.json``), with the timings (s)
    and the folder's sizes (bytes). Raises SynthConfigError for a model that does not fit the
    settings, before anything is written.
    """
    t_start = time.perf_counter()
    workers = settings.workers if workers is None else int(workers)
    run = simulate_cohort(settings, seed, workers=workers, progress=progress)
    out = Path(out_dir)
    if settings.sessions is None:
        write_cohort(run, out)
    else:
        write_cohort(with_sessions(run, elbow_flexors(run.settings, run.subjects[0])), out)
    # the metrics describe the solved trials (a longitudinal cohort's sessions reuse them)
    metrics = cohort_metrics(
        run.settings, run.plans, run.results, run.features, run.calibration, seed
    )
    metrics["timing"] = {
        "total_s": time.perf_counter() - t_start,
        "workers": workers,
        "moco_solve_s_sum": float(sum(r.get("solve_s", 0.0) for r in run.results.values())),
        "opensim_job_s_sum": float(sum(r["wall_s"] for r in run.results.values())),
    }
    metrics["size_bytes"] = folder_sizes(out)
    return metrics
