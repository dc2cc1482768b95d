"""The pain model's calibration on the baseline trials, and the EMG features it is measured by.

After the MVIC and baseline trials are solved, :func:`calibrate_pain` takes the configured
effect sizes (:mod:`nmm.synth.conditions`) to a drive ratio ρ from the pooled within-cell
(subject x load) log-SD of the baseline contraction features (:func:`drive_ratio`), and gives
each subject, per condition, a cap on the injected muscle's activation (ρ times its mean
baseline peak activation at each load) and an effort-weight gain from the injected muscle's
own share of the flexor moment (:func:`injected_weight_gain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nmm.data.schema import Signal
from nmm.synth.conditions import (
    condition_effect,
    contraction_features,
    drive_ratio,
    injected_weight_gain,
    mvic_peak,
)
from nmm.synth.plan import TrialPlan
from nmm.synth.settings import SynthSettings
from nmm.synth.subjects import SubjectTruth

__all__ = ["DEFAULT_SHARE", "calibrate_pain", "contraction_rows", "mvic_references"]

#: The injected muscle's share of the flexor moment assumed where no baseline flexion gives one.
DEFAULT_SHARE = 0.3

Results = Mapping[tuple[str, str], Mapping[str, Any]]


def mvic_references(
    settings: SynthSettings,
    subjects: Sequence[SubjectTruth],
    emg: Mapping[tuple[str, str], Signal],
) -> dict[str, dict[str, float]]:
    """Per subject and measured muscle, the MVIC reference of the contraction features' peak
    (mV; :func:`mvic_peak`). Without MVIC trials it is 1 mV: the peak is then in mV, and the
    condition effects (Cohen's d of log features within a subject) do not change with a
    per-subject scale."""
    measured = settings.measured
    if not settings.mvic.include:
        return {s.subject_id: {m: 1.0 for m in measured} for s in subjects}
    notch = settings.emg.powerline_hz
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


def contraction_rows(
    settings: SynthSettings, plan: TrialPlan, emg: Signal, mvic_ref: Mapping[str, float]
) -> list[dict[str, Any]]:
    """The injected muscle's contraction features of one trial (:func:`contraction_features`),
    one row per flexion, with the trial's subject, id, condition, load (kg) and speed class."""
    inj = settings.pain_model.injected_muscle
    notch = settings.emg.powerline_hz
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


def _flexion_spans(plan: TrialPlan) -> list[np.ndarray]:
    """Boolean masks of the motion's time grid, one per flexion phase."""
    t = plan.motion.time
    return [(t >= p.start_s) & (t <= p.end_s) for p in plan.phases if p.label == "flexion"]


def injected_peaks(
    settings: SynthSettings, plan: TrialPlan, result: Mapping[str, Any]
) -> list[float]:
    """Peak truth activation of the injected muscle in each flexion phase."""
    j = settings.muscles.index(settings.pain_model.injected_muscle)
    return [float(np.max(result["activation"][keep, j])) for keep in _flexion_spans(plan)]


def injected_share(
    settings: SynthSettings, plan: TrialPlan, result: Mapping[str, Any]
) -> list[float]:
    """Injected muscle's fraction of the flexor moment (Σ of the positive r·F) at each
    flexion's peak flexor moment."""
    inj = settings.muscles.index(settings.pain_model.injected_muscle)
    moments = result["moment_arm"] * result["tendon_force"]
    flex = np.clip(moments, 0, None).sum(axis=1)
    out = []
    for mask in _flexion_spans(plan):
        keep = np.flatnonzero(mask)
        k = keep[np.argmax(flex[keep])]
        if flex[k] > 0:
            out.append(float(max(moments[k, inj], 0.0) / flex[k]))
    return out


def calibrate_pain(
    settings: SynthSettings,
    subjects: Sequence[SubjectTruth],
    baseline: Sequence[TrialPlan],
    results: Results,
    emg: Mapping[tuple[str, str], Signal],
    mvic_ref: Mapping[str, Mapping[str, float]],
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The baseline trials' contraction features (rows) and the pain calibration
    ``{subject: {condition: {ratio, log_sd_*, share, gain, activation_cap: {load: cap}}}}``.
    Sets each subject's ``pain_injected_weight_gain`` per condition."""
    features: list[dict[str, Any]] = []
    cells: dict[tuple[str, float], list[dict[str, Any]]] = {}
    drive: dict[tuple[str, float], list[float]] = {}
    shares: dict[str, list[float]] = {}
    for p in baseline:
        sid = p.subject.subject_id
        rows = contraction_rows(settings, p, emg[p.key], mvic_ref[sid])
        features += rows
        cells.setdefault((sid, p.load_kg), []).extend(rows)
        shares.setdefault(sid, []).extend(injected_share(settings, p, results[p.key]))
        drive.setdefault((sid, p.load_kg), []).extend(injected_peaks(settings, p, results[p.key]))
    values = {f: [[r[f] for r in rows] for rows in cells.values()] for f in ("peak", "var", "mad")}
    calibration: dict[str, dict[str, Any]] = {}
    for condition in settings.conditions:
        if condition == "baseline":
            continue
        effect = condition_effect(settings.pain_model, condition)
        ratio, sds = drive_ratio(effect.target_d, values)
        for subj in subjects:
            sid = subj.subject_id
            share = float(np.mean(shares[sid])) if shares.get(sid) else DEFAULT_SHARE
            gain = injected_weight_gain(
                ratio, share, redistribution=settings.pain_model.redistribution
            )
            subj.pain_injected_weight_gain[condition] = gain
            caps = {load: ratio * float(np.mean(v)) for (s, load), v in drive.items() if s == sid}
            calibration.setdefault(sid, {})[condition] = {
                "ratio": ratio,
                **sds,
                "share": share,
                "gain": gain,
                "activation_cap": caps,
            }
    return features, calibration
