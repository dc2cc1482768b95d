"""Metrics and figures of a generated synthetic cohort.

:func:`cohort_metrics` collects what the run reports in ``metrics.json``:

- ``checks``: the OpenSim forward simulation of the truth excitations against the prescribed
  kinematics (open-loop windows of ``horizon_s`` restarted from the truth states, and whole-trial
  runs), and OpenSim inverse dynamics against the muscles' moment Σ r·F on the solver grid;
- ``fiber_length``: range of the normalised fibre length of every muscle, and peak excitations;
- ``trivial_baselines``: how well copying the nearest measured synergist reconstructs a hidden
  muscle's excitation (BRA from the mean of the biceps heads, TRImed from TRIlat): RMSE and
  Pearson r, pooled over movement trials and per subject;
- ``force_sharing``: the hidden muscles' share of the flexor or extensor moment per subject and
  load (how much sharing differs);
- ``condition_effects``: Cohen's d of the injected muscle's contraction features, pain and
  placebo against baseline, per subject and averaged, beside the configured targets.

:func:`subject_figure` draws one figure per subject.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nmm.metrics import pearson_r, rmse
from nmm.synth.conditions import FEATURES, effect_sizes
from nmm.synth.settings import SynthSettings

__all__ = ["TRIVIAL_BASELINES", "cohort_metrics", "subject_figure", "trivial_baseline_scores"]

#: Hidden muscle -> measured muscles whose mean excitation is the trivial guess.
TRIVIAL_BASELINES: Mapping[str, tuple[str, ...]] = {
    "BRA": ("BIClong", "BICshort"),
    "TRImed": ("TRIlat",),
}


def trivial_baseline_scores(
    excitations: Sequence[np.ndarray], muscles: Sequence[str], hidden: Sequence[str]
) -> dict[str, dict[str, float]]:
    """RMSE and Pearson r of the trivial guesses, pooled over trials.

    excitations: per trial (N, M) in the order of ``muscles``. Returns
    ``{hidden: {"from": [...], "rmse": .., "r": .., "truth_rms": ..}}`` for hidden muscles
    with a baseline in :data:`TRIVIAL_BASELINES` whose sources are present.
    """
    muscles = list(muscles)
    out: dict[str, dict[str, Any]] = {}
    for h in hidden:
        src = TRIVIAL_BASELINES.get(h)
        if src is None or h not in muscles or any(s not in muscles for s in src):
            continue
        truth = np.concatenate([e[:, muscles.index(h)] for e in excitations])
        guess = np.concatenate(
            [np.mean([e[:, muscles.index(s)] for s in src], axis=0) for e in excitations]
        )
        out[h] = {
            "from": list(src),
            "rmse": rmse(guess, truth),
            "r": pearson_r(guess, truth),
            "truth_rms": float(np.sqrt(np.mean(truth**2))),
        }
    return out


def _phase_mask(time: np.ndarray, phases: Sequence[Any], label: str) -> np.ndarray:
    mask = np.zeros(time.size, bool)
    for p in phases:
        if p.label == label:
            mask |= (time >= p.start_s) & (time <= p.end_s)
    return mask


def _key(plan: Any) -> tuple[str, str]:
    return (plan.subject.subject_id, plan.trial_id)


def _forward_and_id_checks(
    movement: Sequence[Any], results: Mapping[tuple[str, str], Mapping[str, Any]], horizon: float
) -> dict[str, Any]:
    """The OpenSim checks of the movement trials: forward windows (° of the kinematics after
    ``horizon`` s), whole-trial forward runs, ID against Σ r·F (N·m) and the solver's status."""
    win_max, win_all, whole, id_rms, id_max, id_rel = [], [], [], [], [], []
    for p in movement:
        ch = results[_key(p)]["checks"]
        fwd = ch["forward"]
        win_max.append(fwd["max_error_rad"])
        win_all += list(fwd["per_window_rad"])
        if "trial_rms_error_rad" in fwd:
            whole.append(
                {
                    "trial": f"{p.subject.subject_id}/{p.trial_id}",
                    "rms_deg": math.degrees(fwd["trial_rms_error_rad"]),
                    "max_deg": math.degrees(fwd["trial_max_error_rad"]),
                    "stopped_at_s": fwd["trial_stopped_at_s"],
                    "duration_s": float(p.motion.time[-1]),
                }
            )
        id_rms.append(ch["id_vs_muscle_rms_nm"])
        id_max.append(ch["id_vs_muscle_max_nm"])
        id_rel.append(ch["id_vs_muscle_rms_nm"] / max(ch["id_rms_nm"], 1e-12))
    infos = [results[_key(p)]["info"] for p in movement]
    return {
        "forward_window": {
            "horizon_s": horizon,
            "n_windows": len(win_all),
            "rms_error_deg": math.degrees(float(np.sqrt(np.mean(np.square(win_all))))),
            "max_error_deg": math.degrees(float(np.max(win_max))),
            "median_trial_max_error_deg": math.degrees(float(np.median(win_max))),
        },
        "forward_whole_trial": whole,
        "id_vs_muscle_moment": {
            "grid": "the Moco solution's own time points",
            "rms_nm_mean": float(np.mean(id_rms)),
            "rms_nm_max": float(np.max(id_rms)),
            "max_abs_nm": float(np.max(id_max)),
            "rms_relative_to_id_rms_max": float(np.max(id_rel)),
        },
        "solver": {
            "iterations_mean": float(np.mean([i["iterations"] for i in infos])),
            "all_converged": all(i["status"] == "Solve_Succeeded" for i in infos),
        },
    }


def _fiber_lengths(
    muscles: Sequence[str],
    plans: Sequence[Any],
    movement: Sequence[Any],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, dict[str, float]]:
    """Per muscle, the range of the normalised fibre length over every trial and the peak and
    mean excitation over the movement trials."""
    fiber = {}
    for j, m in enumerate(muscles):
        lm = np.concatenate([results[_key(p)]["fiber_length"][:, j] for p in plans])
        ex = np.concatenate([results[_key(p)]["excitation"][:, j] for p in movement])
        fiber[m] = {
            "min": float(lm.min()),
            "max": float(lm.max()),
            "movement_peak_excitation": float(ex.max()),
            "movement_mean_excitation": float(ex.mean()),
        }
    return fiber


def _trivial_baselines(
    muscles: Sequence[str],
    hidden: Sequence[str],
    movement: Sequence[Any],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, Any]:
    """:func:`trivial_baseline_scores` pooled over the movement trials and per subject."""
    exc = [results[_key(p)]["excitation"] for p in movement]
    per_subject = {}
    for sid in sorted({p.subject.subject_id for p in movement}):
        e = [results[_key(p)]["excitation"] for p in movement if p.subject.subject_id == sid]
        per_subject[sid] = trivial_baseline_scores(e, muscles, hidden)
    return {"pooled": trivial_baseline_scores(exc, muscles, hidden), "per_subject": per_subject}


def _force_sharing(
    muscles: Sequence[str],
    hidden: Sequence[str],
    movement: Sequence[Any],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, Any]:
    """Each hidden muscle's mean share of the flexor (or extensor) moment per subject and load
    in the baseline trials (where that moment exceeds 1 N·m), and its range."""
    sharing: dict[str, dict[str, float]] = {}
    for p in movement:
        if p.condition != "baseline":
            continue
        res = results[_key(p)]
        mom = res["moment_arm"] * res["tendon_force"]
        flex = np.clip(mom, 0, None).sum(axis=1)
        ext = np.clip(-mom, 0, None).sum(axis=1)
        fl = _phase_mask(p.motion.time, p.phases, "flexion") & (flex > 1.0)
        row = sharing.setdefault(f"{p.subject.subject_id}/{p.load_kg:g}kg", {})
        for h in hidden:
            j = muscles.index(h)
            total = flex if mom[:, j].mean() > 0 else ext
            ok = fl if mom[:, j].mean() > 0 else (total > 1.0)
            if ok.any():
                row[f"{h}_share"] = float(np.mean(np.abs(mom[ok, j]) / total[ok]))
    share_summary = {}
    for h in hidden:
        vals = [v[f"{h}_share"] for v in sharing.values() if f"{h}_share" in v]
        if vals:
            share_summary[h] = {"min": float(np.min(vals)), "max": float(np.max(vals))}
    return {"per_subject_load": sharing, "range": share_summary}


def _condition_effects(
    settings: SynthSettings, features: Sequence[Mapping[str, Any]], calibration: Mapping[str, Any]
) -> dict[str, Any]:
    """Cohen's d of the injected muscle's features, each condition against baseline, per
    subject and averaged, beside the configured targets; the pain calibration."""
    pm = settings.pain_model
    df = pd.DataFrame(list(features))
    effects: dict[str, Any] = {"injected_muscle": pm.injected_muscle}
    for cond in settings.conditions:
        if cond == "baseline" or df.empty:
            continue
        es = effect_sizes(df, cond)
        frac = 1.0 if cond == "pain" else pm.placebo_fraction
        effects[cond] = {
            "target_d": {k: frac * v for k, v in pm.pain.target_d.items()},
            "mean_d": {f: float(es.loc[es.feature == f, "d"].mean()) for f in FEATURES},
            "mean_relative_change": {
                f: float(es.loc[es.feature == f, "relative_change"].mean()) for f in FEATURES
            },
            "per_subject_d": {
                sid: {r.feature: float(r.d) for r in g.itertuples()}
                for sid, g in es.groupby("subject")
            },
            "n_contractions_per_subject": int(es["n_condition"].max()) if len(es) else 0,
        }
    effects["calibration"] = calibration
    return effects


def cohort_metrics(
    settings: SynthSettings,
    plans: Sequence[Any],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
    features: Sequence[Mapping[str, Any]],
    calibration: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The metrics listed in the module docstring (JSON-ready).

    plans: the cohort's trials (:class:`~nmm.synth.plan.TrialPlan`); results: the OpenSim
    results by (subject, trial id); features: the injected muscle's contraction features, one
    row per contraction; calibration: the pain calibration per subject and condition.
    """
    muscles, hidden = list(settings.muscles), list(settings.hidden)
    movement = [p for p in plans if p.kind == "movement"]
    durations = {c: 0.0 for c in [*settings.conditions, "mvic"]}
    counts = {c: 0 for c in durations}
    for p in plans:
        durations[p.condition] += float(p.motion.time[-1])
        counts[p.condition] += 1
    horizon = settings.checks.forward_horizon_s
    return {
        "seed": int(seed),
        "status": "ok",
        "note": "Labels on synthetic data test the pipeline, not physiology.",
        "n_subjects": len({p.subject.subject_id for p in plans}),
        "n_trials": counts,
        "duration_s": durations,
        "checks": _forward_and_id_checks(movement, results, horizon),
        "fiber_length": _fiber_lengths(muscles, plans, movement, results),
        "trivial_baselines": _trivial_baselines(muscles, hidden, movement, results),
        "force_sharing": _force_sharing(muscles, hidden, movement, results),
        "condition_effects": _condition_effects(settings, features, calibration),
    }


def subject_figure(
    settings: SynthSettings,
    subject: Any,
    plans: Sequence[Any],
    results: Mapping[tuple[str, str], Mapping[str, Any]],
    emg: Mapping[tuple[str, str], Any],
    path: str | os.PathLike[str],
) -> Path:
    """One figure per subject: the heaviest load's first trial of each condition (columns);
    angle, ID vs muscle moment, the six excitations (hidden dashed), raw EMG of the injected
    muscle (rows)."""
    import matplotlib.pyplot as plt

    from nmm.reports.figures import save_figure

    sid = subject.subject_id
    muscles, hidden = list(settings.muscles), set(settings.hidden)
    load = max(settings.loads_kg)
    inj = settings.pain_model.injected_muscle
    cols = []
    for cond in settings.conditions:
        c = [p for p in plans if p.subject is subject and p.condition == cond and p.load_kg == load]
        if c:
            cols.append(c[0])
    fig, axes = plt.subplots(
        4, len(cols), figsize=(4.2 * len(cols), 9), sharex="col", squeeze=False
    )
    colours = plt.cm.tab10(np.arange(len(muscles)))
    for c, p in enumerate(cols):
        res = results[(sid, p.trial_id)]
        t = p.motion.time
        axes[0, c].plot(t, np.degrees(p.motion.q), "k")
        axes[0, c].set_title(f"{sid} {p.condition}, {p.load_kg:g} kg")
        axes[1, c].plot(t, res["torque"], "k", label="inverse dynamics")
        axes[1, c].plot(t, res["muscle_moment"], "C3--", label="Σ r·F (truth)")
        for j, m in enumerate(muscles):
            axes[2, c].plot(
                t,
                res["excitation"][:, j],
                color=colours[j],
                ls="--" if m in hidden else "-",
                label=m + (" (hidden)" if m in hidden else ""),
            )
        sig = emg[(sid, p.trial_id)]
        axes[3, c].plot(sig.time, sig[inj], lw=0.3, color="0.3")
        axes[3, c].set_xlabel("time (s)")
    axes[0, 0].set_ylabel("elbow flexion (°)")
    axes[1, 0].set_ylabel("elbow moment (N·m)")
    axes[2, 0].set_ylabel("excitation")
    axes[3, 0].set_ylabel(f"raw EMG {inj} (mV)")
    axes[1, 0].legend(fontsize=7)
    axes[2, 0].legend(fontsize=6, ncol=2)
    fig.suptitle(
        f"Synthetic subject {sid} (OpenSim truth; labels test the pipeline, not physiology)",
        fontsize=9,
    )
    return save_figure(fig, path, dpi=60)
