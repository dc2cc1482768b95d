"""Conditions of the synthetic cohort: a motor-adaptation model of pain, and its measured effects.

**Labels on synthetic data test the pipeline, not physiology.** The ``pain`` and ``placebo``
epochs are produced by a documented model, so a classifier that separates them shows that the
pipeline can find an effect of this kind and size, not that pain does this.

The model (after the adaptation-to-pain theory of Hodges & Tucker 2011, Pain 152:S90, and the
pain-adaptation model of Lund et al. 1991, Can J Physiol Pharmacol 69:683), per condition:

- the painful (injected) muscle is used less (Lund's reduced agonist activity): its
  activation is capped at ``ρ`` times its mean baseline contraction peak at that load (a Moco
  state bound), so its peak falls to about ``ρ`` of the baseline whatever the other changes do
  and its synergists take over the rest; its effort weight is also raised by a gain ``k > 1``
  aimed at the same drop (``redistribution``, 1 by default), so its drive falls over the whole
  contraction, not only at the peak;
- co-activation rises: the co-contraction reference and floor of the painful muscle's
  antagonists are multiplied by ``cocontraction_gain`` (its synergists are left alone, so they
  take over only what the painful muscle gives up);
- movements get smaller and slower (``amplitude_scale``, ``duration_scale``) and less variable
  from cycle to cycle (``variability_scale``);
- ``placebo`` applies ``placebo_fraction`` of each change (and of the target effect sizes).

The effect sizes are configured as Cohen's d of contraction features of the injected muscle
(``target_d``: peak, VAR, MAD; Becker et al. 2026, METHODS.md §3), measured on log(feature)
within cells (subject x load; :func:`effect_sizes`). Scaling the muscle's drive by ``ρ`` shifts
log(peak) and log(MAD) by ``log ρ`` and log(VAR) by ``2 log ρ``; with ``sd_f`` the pooled
within-cell SD of log(feature) on the baseline, one ``ρ`` gives ``d_f = p_f log ρ / sd_f``, so
:func:`drive_ratio` takes ``log ρ = mean_f(d_f) / mean_f(p_f / sd_f)``: the targets are met on
average over the three features, not each (MAD is estimated more precisely than the peak, so
its d comes out larger for the same drop). Design notes, measured on the tiny cohort: an effort
weight gain alone did not lower the peak reliably (co-activation of the antagonists raises the
agonists' demand) and the cap alone lowered only the peak, so at literature-sized targets the
antagonists' extra co-activation raised MAD and VAR; capping the excitation instead of the
activation clipped Moco's chattering controls and dropped the drive far below ``ρ``; raising
the co-contraction of the synergists too lowered the painful muscle's drive in placebo as much
as in pain. Kinematic and co-activation
changes still move the features, so the realised d differs from the target; the run reports
both.

Contraction features (as in Becker et al. 2026, after Vonsevych et al.), per flexion phase of
the injected muscle's raw EMG band-passed at 20-400 Hz (4th order, zero phase) with a notch at
the mains frequency (``emg.powerline_hz``, 50 Hz by default): ``var`` (sample variance, mV²),
``mad`` (mean absolute deviation, mV), ``int`` (time-normalised integral, mean |x| × 100) and
``peak`` (maximum of the 50 Hz envelope over the same envelope's maximum in the subject's MVIC
trials; in mV for a cohort without MVIC trials).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nmm.data.preprocess import BandPass, Envelope, Notch
from nmm.data.schema import Signal
from nmm.synth.settings import PainModelSettings
from nmm.synth.tasks import MovementShape, Phase

__all__ = [
    "FEATURES",
    "ConditionEffect",
    "condition_effect",
    "contraction_features",
    "drive_ratio",
    "effect_sizes",
    "injected_weight_gain",
    "pooled_log_sd",
]

FEATURES = ("peak", "var", "mad", "int")

#: ρ is kept in this range whatever the configured d and measured CV (design).
RATIO_LIMITS = (0.3, 1.0)


@dataclass(frozen=True)
class ConditionEffect:
    """What a condition changes (all 1 for baseline); target_d: Cohen's d per feature."""

    condition: str
    fraction: float
    cocontraction_gain: float
    shape: MovementShape
    target_d: dict[str, float]


def condition_effect(pain_model: PainModelSettings, condition: str) -> ConditionEffect:
    """The changes of ``condition`` ('baseline', 'pain', 'placebo') under ``pain_model``:
    each factor ``x`` of the pain condition applied as ``1 + fraction · (x - 1)`` and the
    target d as ``fraction · d``, with fraction 0, 1 and ``placebo_fraction``."""
    pain = pain_model.pain
    fraction = {"baseline": 0.0, "pain": 1.0, "placebo": pain_model.placebo_fraction}[condition]

    def toward(value: float) -> float:
        return 1.0 + fraction * (value - 1.0)

    return ConditionEffect(
        condition=condition,
        fraction=fraction,
        cocontraction_gain=toward(pain.cocontraction_gain),
        shape=MovementShape(
            amplitude_scale=toward(pain.amplitude_scale),
            duration_scale=toward(pain.duration_scale),
            variability_scale=toward(pain.variability_scale),
        ),
        target_d={k: fraction * v for k, v in pain.target_d.items()},
    )


#: How each calibrated feature scales with the drive amplitude s: peak and MAD ∝ s, VAR ∝ s².
AMPLITUDE_POWER: Mapping[str, float] = {"peak": 1.0, "mad": 1.0, "var": 2.0}


def pooled_log_sd(cells: Sequence[Sequence[float]]) -> float:
    """Within-cell SD of log(values), pooled over cells (cells with one value add nothing)."""
    ss, dof = 0.0, 0
    for c in cells:
        x = np.log(np.asarray(c, dtype=float))
        if x.size > 1:
            ss += float(np.sum((x - x.mean()) ** 2))
            dof += x.size - 1
    return float(np.sqrt(ss / dof)) if dof > 0 else 0.0


def drive_ratio(
    target_d: Mapping[str, float], baseline: Mapping[str, Sequence[Sequence[float]]]
) -> tuple[float, dict[str, float]]:
    """The factor ρ on the injected muscle's drive that realises ``target_d`` on average.

    baseline: per feature (keys of :data:`AMPLITUDE_POWER`), the baseline values per cell.
    Scaling the drive by ρ shifts log(feature) by ``p_f·log ρ`` (``p_f``: AMPLITUDE_POWER),
    i.e. ``d_f = p_f·log ρ / sd_f`` with ``sd_f`` the pooled within-cell SD of log(feature);
    one ρ cannot hit three targets, so ``log ρ = mean_f(d_f) / mean_f(p_f / sd_f)``.
    Returns ρ (clipped to RATIO_LIMITS) and the log-SDs.
    """
    sds = {f: pooled_log_sd(baseline[f]) for f in AMPLITUDE_POWER if f in target_d}
    usable = [f for f, v in sds.items() if v > 0]
    if not usable:
        return 1.0, {f"log_sd_{f}": v for f, v in sds.items()}
    log_rho = np.mean([target_d[f] for f in usable]) / np.mean(
        [AMPLITUDE_POWER[f] / sds[f] for f in usable]
    )
    ratio = float(np.clip(np.exp(log_rho), *RATIO_LIMITS))
    return ratio, {f"log_sd_{f}": v for f, v in sds.items()}


def injected_weight_gain(ratio: float, share: float, *, redistribution: float = 1.0) -> float:
    """Effort-weight gain ``k`` of the injected muscle for a drive ratio ``ratio`` (ρ).

    share: the injected muscle's fraction of the flexor moment (0-1); redistribution: the
    fraction of the drop ``1 - ρ`` that the gain aims at (the activation cap enforces the peak;
    0 gives ``k = 1``). ``x = ρ'(1 - f)/(1 - ρ' f)``, ``k = 1/x``.
    """
    f = float(np.clip(share, 0.0, 0.95))
    rho = 1.0 - float(np.clip(redistribution, 0.0, 1.0)) * (1.0 - ratio)
    x = rho * (1 - f) / (1 - rho * f)
    return 1.0 / x


def contraction_features(
    emg: Signal,
    channel: str,
    phases: Sequence[Phase],
    mvic_peak: float,
    *,
    label: str = "flexion",
    notch_hz: float = 50.0,
) -> pd.DataFrame:
    """Features (``FEATURES``) of ``channel`` in each phase labelled ``label``; one row each.

    mvic_peak: the channel's MVIC reference (maximum of the 50 Hz envelope of the band-passed,
    notched EMG over the MVIC trials, mV). notch_hz: the mains frequency notched out (Hz).
    Columns: cycle, start_s, end_s and the features.
    """
    sig = emg.select([channel])
    filtered = Notch(notch_hz)(BandPass(20.0, 400.0, 4)(sig))
    env = Envelope(50.0, 4)(filtered)
    rows = []
    for p in phases:
        if p.label != label:
            continue
        keep = (filtered.time >= p.start_s) & (filtered.time <= p.end_s)
        x = filtered.values[keep, 0]
        if x.size < 3:
            continue
        rows.append(
            {
                "cycle": p.cycle,
                "start_s": p.start_s,
                "end_s": p.end_s,
                "peak": float(np.max(env.values[keep, 0]) / mvic_peak),
                "var": float(np.var(x, ddof=1)),
                "mad": float(np.mean(np.abs(x - x.mean()))),
                "int": float(np.mean(np.abs(x)) * 100.0),
            }
        )
    return pd.DataFrame(rows)


def mvic_peak(emg: Signal, channel: str, *, notch_hz: float = 50.0) -> float:
    """Maximum of the 50 Hz envelope of the band-passed EMG of ``channel`` notched at
    ``notch_hz`` (mains, Hz), in mV."""
    sig = emg.select([channel])
    env = Envelope(50.0, 4)(Notch(notch_hz)(BandPass(20.0, 400.0, 4)(sig)))
    return float(np.max(env.values))


def effect_sizes(
    features: pd.DataFrame,
    condition: str,
    *,
    reference: str = "baseline",
    cell: str = "load_kg",
    log: bool = True,
) -> pd.DataFrame:
    """Cohen's d of ``condition`` against ``reference`` per subject and feature.

    features: one row per contraction with columns subject, condition, ``cell`` and the
    features. Per subject: the mean difference within each cell, averaged over cells, divided
    by the SD pooled within cells over both conditions; with ``log`` (default) on log(feature):
    the amplitude features are multiplicative (their SD scales with their mean), so a drop
    would otherwise also shrink the SD it is measured in. Returns rows (subject, feature, d,
    relative_change of the means, n_reference, n_condition).
    """
    rows = []
    for subject, sub in features.groupby("subject", sort=True):
        sub = sub[sub["condition"].isin([reference, condition])]
        for feat in FEATURES:
            diffs, rel, ss, dof = [], [], 0.0, 0
            n_ref = n_cond = 0
            for _, c in sub.groupby(cell, sort=True):
                a = c.loc[c["condition"] == reference, feat].to_numpy(dtype=float)
                b = c.loc[c["condition"] == condition, feat].to_numpy(dtype=float)
                if a.size == 0 or b.size == 0:
                    continue
                n_ref += a.size
                n_cond += b.size
                rel.append(b.mean() / a.mean() - 1.0)
                if log:
                    a, b = np.log(a), np.log(b)
                diffs.append(b.mean() - a.mean())
                for x in (a, b):
                    ss += float(np.sum((x - x.mean()) ** 2))
                    dof += x.size - 1
            if not diffs or dof <= 0 or ss <= 0:
                d = float("nan")
            else:
                d = float(np.mean(diffs) / np.sqrt(ss / dof))
            rows.append(
                {
                    "subject": subject,
                    "feature": feat,
                    "d": d,
                    "relative_change": float(np.mean(rel)) if rel else float("nan"),
                    "n_reference": n_ref,
                    "n_condition": n_cond,
                }
            )
    return pd.DataFrame(rows)
