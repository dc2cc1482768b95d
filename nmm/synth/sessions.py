"""Several sessions per subject: the longitudinal cohort with known truth (issue 21, item 5).

**Labels on synthetic data test the pipeline, not physiology.** The sessions follow a documented
model so that a monitor's trends can be scored against a truth.

:func:`with_sessions` repeats the solved movement trials of a one-session cohort in
``sessions.n`` sessions (``conf/synth/longitudinal.yaml``). No trial is solved again: the
kinematics, the elbow moment, the tendon forces and the fibre lengths of a session's trial are
those of the solved baseline trial; only the drive of the injected muscle and of its antagonists
and the EMG change from session to session. The scaled excitations are therefore not dynamically
consistent with the recorded moment (the synergists do not take over what the injected muscle
gives up): use this cohort for monitoring, not to train the NMM. The MVIC trials are in session
1 only, unscaled and unfatigued.

Per session ``s`` (1..n) of a subject:

- **pain effect** ``e(s) = e0 · exp(−(s − 1)/τ)`` (exponential recovery; ``e0``:
  ``sessions.pain_initial``, ``τ``: ``sessions.pain_recovery_sessions``), a fraction of the
  calibrated ``pain`` condition (:mod:`nmm.synth.conditions`). The injected muscle's
  excitation is multiplied by ``ρ^e(s)``, with ``ρ`` the pain condition's drive ratio calibrated
  on the baseline EMG (:func:`~nmm.synth.conditions.drive_ratio`): its features' Cohen's d is
  proportional to ``log ρ``, so the effect size follows ``e(s)``.
- **co-contraction** (Hodges & Tucker 2011, Pain 152:S90: co-activation rises with pain): at
  each instant the excitation of the antagonists of the net muscle moment (the extensors while
  the muscles' moment flexes the elbow, the flexors while it extends it; Falconer & Winter's
  definition of the antagonist) is multiplied by ``1 + c · e(s)`` (``c``:
  ``sessions.cocontraction_rise``), clipped to 1; the injected muscle keeps ``ρ^e(s)``.
- **fatigue** within the session (Lindström & Magnusson 1977; Merletti et al. 1990: the EMG
  spectrum compresses as the conduction velocity falls, ``P_k(f) = P(f/k)/k``,
  :func:`nmm.synth.emg.fatigued_carrier`): per muscle ``k_i(t) = max(k_min, 1 − β · W_i(t))``
  with ``W_i(t) = ∫ e_i dt`` (excitation·s) the muscle's cumulative excitation over the
  session's movement trials in order, a proxy for its accumulated work (``β``:
  ``sessions.fatigue_slope_per_excitation_s``, ``k_min``: ``sessions.fatigue_min_scale``). Each
  session starts rested (``W = 0``); there is no recovery between the trials of a session. The
  median frequency scales by ``k``.
- **truth co-contraction index** per contraction (flexion phase), from all six muscles' truth
  excitations, in the form of Falconer & Winter (1985, Electromyogr Clin Neurophysiol 25:135):
  ``CI = 200 · Σ min(F, E) / Σ (F + E)`` (%) with ``F`` the mean excitation of the elbow flexors
  and ``E`` that of the extensors, summed over the phase's samples.

The activation written as truth is the solved one times the same factors (exact for a linear
first-order activation; an approximation of DeGrooteFregly2016's).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nmm.synth.conditions import condition_effect, drive_ratio
from nmm.synth.emg import trial_emg
from nmm.synth.plan import TrialPlan
from nmm.synth.settings import SessionSettings, SynthSettings
from nmm.synth.simulate import SimulatedCohort

__all__ = [
    "SESSION_CONDITION",
    "cocontraction_index",
    "drive_factors",
    "fatigue_scale",
    "pain_drive_ratio",
    "pain_effect",
    "with_sessions",
]

#: The condition of every movement trial of a session (its trial id starts with it, as
#: ``pain_0kg_1``): the subjects are in pain, to the degree e(s) of the truth.
SESSION_CONDITION = "pain"


def pain_effect(sessions: SessionSettings, session: int) -> float:
    """``e(s) = e0 · exp(−(s − 1)/τ)``: the pain effect of session ``session`` (1-based), a
    fraction of the calibrated pain condition."""
    return sessions.pain_initial * math.exp(-(session - 1) / sessions.pain_recovery_sessions)


def pain_drive_ratio(settings: SynthSettings, features: Sequence[Mapping[str, Any]]) -> float:
    """ρ of the ``pain`` condition (:func:`~nmm.synth.conditions.drive_ratio`) from the
    baseline contraction features (rows with subject, load_kg, condition, peak, var, mad)."""
    cells: dict[tuple[str, float], list[Mapping[str, Any]]] = {}
    for row in features:
        if row["condition"] == "baseline":
            cells.setdefault((row["subject"], row["load_kg"]), []).append(row)
    values = {f: [[r[f] for r in rows] for rows in cells.values()] for f in ("peak", "var", "mad")}
    ratio, _ = drive_ratio(condition_effect(settings.pain_model, "pain").target_d, values)
    return ratio


def drive_factors(
    settings: SynthSettings,
    flexors: Sequence[str],
    moment: np.ndarray,
    effect: float,
    ratio: float,
) -> np.ndarray:
    """(N, M) factors on the excitations of ``settings.muscles`` at pain effect ``effect``:
    ``ρ^e`` on the injected muscle, ``1 + cocontraction_rise · e`` on the antagonists of the
    muscles' moment (N,, N·m, positive flexing) at each sample, 1 elsewhere."""
    is_flexor = np.array([m in flexors for m in settings.muscles])
    antagonist = is_flexor[None, :] != (moment[:, None] > 0)
    factors = np.where(antagonist, 1.0 + settings.sessions.cocontraction_rise * effect, 1.0)
    factors[:, settings.muscles.index(settings.pain_model.injected_muscle)] = ratio**effect
    return factors


def fatigue_scale(
    time: np.ndarray, excitation: np.ndarray, work: np.ndarray, sessions: SessionSettings
) -> tuple[np.ndarray, np.ndarray]:
    """The fatigue scale ``k = max(k_min, 1 − β·W)`` (N, M) of a trial and the cumulative
    excitation ``W`` (M,, excitation·s) at its end. time: (N,) s; excitation: (N, M);
    work: (M,) ``W`` at the trial's start."""
    steps = 0.5 * (excitation[1:] + excitation[:-1]) * np.diff(time)[:, None]
    w = work[None, :] + np.vstack([np.zeros(excitation.shape[1]), np.cumsum(steps, axis=0)])
    k = np.maximum(sessions.fatigue_min_scale, 1.0 - sessions.fatigue_slope_per_excitation_s * w)
    return k, w[-1]


def cocontraction_index(flexor: np.ndarray, extensor: np.ndarray) -> float:
    """Falconer & Winter's (1985) CI (%) of two activities (T,) sampled together:
    ``200 · Σ min(F, E) / Σ (F + E)``; 0 where both are 0 throughout."""
    total = float(np.sum(flexor + extensor))
    return 200.0 * float(np.sum(np.minimum(flexor, extensor))) / total if total > 0 else 0.0


def _contractions(
    settings: SynthSettings,
    plan: TrialPlan,
    excitation: np.ndarray,
    k: np.ndarray,
    flexors: Sequence[str],
) -> list[dict[str, Any]]:
    """Per flexion phase of a session's trial: its times (s), the fatigue scale of each measured
    muscle at its midpoint and the truth co-contraction index (%) of all muscles."""
    t, muscles = plan.motion.time, list(settings.muscles)
    flex = [muscles.index(m) for m in muscles if m in flexors]
    ext = [muscles.index(m) for m in muscles if m not in flexors]
    rows = []
    for phase in (p for p in plan.phases if p.label == "flexion"):
        keep = (t >= phase.start_s) & (t <= phase.end_s)
        mid = 0.5 * (phase.start_s + phase.end_s)
        rows.append(
            {
                "trial_id": plan.trial_id,
                "start_s": phase.start_s,
                "end_s": phase.end_s,
                "fatigue_k": {
                    m: float(np.interp(mid, t, k[:, muscles.index(m)])) for m in settings.measured
                },
                "cocontraction_index": cocontraction_index(
                    excitation[keep][:, flex].mean(axis=1), excitation[keep][:, ext].mean(axis=1)
                ),
            }
        )
    return rows


def _session_trials(
    run: SimulatedCohort,
    movement: Sequence[TrialPlan],
    session: int,
    drive: tuple[float, float],
    flexors: Sequence[str],
) -> tuple[list[TrialPlan], dict, dict, list[dict[str, Any]]]:
    """One session of a subject: its plans, results and EMG by key, and its contractions.
    drive: the session's pain effect and the pain condition's drive ratio ρ."""
    s = run.settings
    plans, results, emg, contractions = [], {}, {}, []
    work = np.zeros(len(s.muscles))
    for p in movement:
        q = dataclasses.replace(
            p,
            trial_id=SESSION_CONDITION + p.trial_id.removeprefix(p.condition),
            session=str(session),
            condition=SESSION_CONDITION,
        )
        res = run.results[p.key]
        factors = drive_factors(s, flexors, res["muscle_moment"], *drive)
        exc = np.clip(res["excitation"] * factors, 0.0, 1.0)
        k, work = fatigue_scale(p.motion.time, exc, work, s.sessions)
        results[q.key] = {
            **res,
            "excitation": exc,
            "activation": np.clip(res["activation"] * factors, 0.0, 1.0),
        }
        emg[q.key] = trial_emg(
            s, run.seed, p.subject, q.trial_id, p.motion.time, exc, session=q.session, fatigue_k=k
        )
        contractions += _contractions(s, q, exc, k, flexors)
        plans.append(q)
    return plans, results, emg, contractions


def with_sessions(run: SimulatedCohort, flexors: Sequence[str]) -> SimulatedCohort:
    """The longitudinal cohort of a simulated one-session cohort (``run.settings.sessions``):
    per subject its MVIC trials (session 1), then its movement trials in every session, with
    the session's drive and fatigued EMG; ``sessions`` holds the truth (module docstring).
    flexors: the muscles with a positive elbow moment arm (:func:`~nmm.synth.plan.elbow_flexors`).
    """
    s, sessions = run.settings, run.settings.sessions
    ratio = pain_drive_ratio(s, run.features)
    plans = [p for p in run.plans if p.kind == "mvic"]
    results = {p.key: run.results[p.key] for p in plans}
    emg = {p.key: run.emg[p.key] for p in plans}
    jobs = {p.key: run.jobs[p.key] for p in plans}
    truth: dict[str, list[dict[str, Any]]] = {}
    for subj in run.subjects:
        movement = [p for p in run.plans if p.subject is subj and p.kind == "movement"]
        for n in range(1, sessions.n + 1):
            effect = pain_effect(sessions, n)
            repeated, solved, signals, contractions = _session_trials(
                run, movement, n, (effect, ratio), flexors
            )
            plans += repeated
            results.update(solved)
            emg.update(signals)
            jobs.update({q.key: run.jobs[p.key] for p, q in zip(movement, repeated, strict=True)})
            truth.setdefault(subj.subject_id, []).append(
                {
                    "session": str(n),
                    "pain_effect": effect,
                    "injected_drive_factor": ratio**effect,
                    "antagonist_drive_factor": 1.0 + sessions.cocontraction_rise * effect,
                    "contractions": contractions,
                }
            )
    model = {
        **dataclasses.asdict(sessions),
        "pain_drive_ratio": ratio,
        "flexors": list(flexors),
        "extensors": [m for m in s.muscles if m not in flexors],
    }
    return dataclasses.replace(
        run,
        plans=plans,
        results=results,
        emg=emg,
        jobs=jobs,
        sessions={"model": model, "subjects": truth},
    )
