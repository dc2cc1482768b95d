"""Within-subject effect a - b per feature with the subject as the unit: the mean of per-subject
differences, its t interval and a subject-cluster bootstrap interval (:mod:`nmm.bootstrap`).

The stand-in for a random-intercept mixed model (statsmodels is not a dependency). References:
Lakens D. (2013), Front Psychol 4:863 (d_z, d_av); Field C.A., Welsh A.H. (2007), J R Stat Soc B
69(3):369-390 (cluster bootstrap).
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from nmm.bootstrap import cluster_draws, percentile_interval
from painsig.condition_data import (
    Agg,
    ConditionData,
    FeatureColumn,
    NanPolicy,
    check_choice,
    feature_column,
    prepare_conditions,
    subject_means,
    subject_names,
)
from painsig.two_sample import safe_ratio

__all__ = ["subject_level_effect"]


def subject_level_effect(
    features: pd.DataFrame,
    condition: pd.Series | npt.ArrayLike,
    subject: pd.Series | npt.ArrayLike,
    a: str,
    b: str,
    *,
    agg: Agg = "mean",
    ci: float = 0.95,
    n_boot: int = 2000,
    seed: int | np.random.Generator | None = None,
    nan_policy: NanPolicy = "drop",
) -> pd.DataFrame:
    """Within-subject effect a - b per feature, with the subject as the unit of analysis.

    The stand-in for a random-intercept mixed model (not available without statsmodels):
    each subject's contractions are reduced to one ``agg`` per condition, and the effect is
    the mean over subjects of the per-subject differences a - b. Only subjects with data in
    both conditions count. Two intervals are given:

    - ``ci_low``/``ci_high``: the t-based interval of the paired design
      (``scipy.stats.ttest_rel(a, b).confidence_interval(ci)``).
    - ``boot_low``/``boot_high``: a percentile cluster bootstrap (Field & Welsh 2007) that
      resamples whole subjects with replacement ``n_boot`` times and recomputes the mean of
      the per-subject differences. Because whole subjects are resampled, their contractions
      stay together, and this does not assume normal differences. ``n_boot=0`` skips it (NaN).

    Args:
        features, condition, subject, a, b: As in :func:`compare_conditions`.
        agg: ``"mean"`` or ``"median"`` per subject x condition.
        ci: Interval level in (0, 1).
        n_boot: Bootstrap resamples (>= 0).
        seed: Seed or Generator for the bootstrap.
        nan_policy: As in :func:`compare_conditions`.

    Returns:
        DataFrame indexed by feature with ``n_subjects``, ``mean_a``, ``mean_b`` (means of the
        subject aggregates), ``mean_diff``, ``sd_diff``, ``se_diff``, ``ci_low``, ``ci_high``,
        ``boot_low``, ``boot_high``, ``d_z`` and ``d_av`` (Lakens 2013), and ``warning``.

    Raises:
        ValueError: fewer than 2 subjects with data in both conditions for a feature, bad
            options, or any input error of :func:`compare_conditions`.
    """
    _check_effect_options(agg, nan_policy, ci, n_boot)
    inp = prepare_conditions(features, condition, subject, a, b)
    rng = np.random.default_rng(seed)
    rows = {
        col: _effect_row(feature_column(inp, col, nan_policy), inp, col, agg, ci, n_boot, rng)
        for col in inp.columns
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "feature"
    out["n_subjects"] = out["n_subjects"].astype(int)
    out.attrs = {"a": a, "b": b, "agg": agg, "ci": ci, "n_boot": n_boot}
    return out


def _check_effect_options(agg: Agg, nan_policy: NanPolicy, ci: float, n_boot: int) -> None:
    """ValueError naming the first option of :func:`subject_level_effect` out of its range."""
    check_choice(agg, "agg", ("mean", "median"))
    check_choice(nan_policy, "nan_policy", ("drop", "raise"))
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot!r}")


def _paired_subject_values(
    column: FeatureColumn, inp: ConditionData, col: Hashable, agg: Agg
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-subject ``agg`` of a and b over the subjects with data in both, (n,) each, and the
    notes (subjects left out); fewer than 2 such subjects raise."""
    sa, sb, _, _ = subject_means(column, inp, agg)
    both = sa.index.intersection(sb.index)
    if len(both) < 2:
        raise ValueError(
            f"feature {col!r}: {len(both)} subject(s) have data in both {inp.a!r} and "
            f"{inp.b!r}; at least 2 are needed"
        )
    notes = list(column.notes)
    only = sa.index.union(sb.index).difference(both)
    if len(only):
        notes.append(
            f"left out {len(only)} subject(s) not in both conditions: "
            f"{', '.join(subject_names(inp, only))}"
        )
    return sa.loc[both].to_numpy(), sb.loc[both].to_numpy(), notes


def _effect_row(
    column: FeatureColumn,
    inp: ConditionData,
    col: Hashable,
    agg: Agg,
    ci: float,
    n_boot: int,
    rng: np.random.Generator,
) -> dict[str, object]:
    """One feature's row of :func:`subject_level_effect`; draws its bootstrap from ``rng``."""
    xa, xb, notes = _paired_subject_values(column, inp, col, agg)
    diff = xa - xb
    n = diff.size
    mean_diff = float(diff.mean())
    sd_diff = float(diff.std(ddof=1))
    se = sd_diff / math.sqrt(n)
    # t interval of the paired mean difference: mean ± t_{(1+ci)/2, n-1} · sd / sqrt(n)
    half = float(stats.t.ppf(0.5 + ci / 2, n - 1)) * se
    boot_low = boot_high = math.nan
    if n_boot > 0:
        # resample whole subjects (Field & Welsh 2007) with the shared draws of nmm.bootstrap
        boot = diff[cluster_draws(n, n_boot, rng)].mean(axis=1)
        boot_low, boot_high = percentile_interval(boot, ci)
    sd_avg = (float(np.std(xa, ddof=1)) + float(np.std(xb, ddof=1))) / 2
    return {
        "n_subjects": n,
        "mean_a": float(xa.mean()),
        "mean_b": float(xb.mean()),
        "mean_diff": mean_diff,
        "sd_diff": sd_diff,
        "se_diff": se,
        "ci_low": mean_diff - half,
        "ci_high": mean_diff + half,
        "boot_low": boot_low,
        "boot_high": boot_high,
        "d_z": safe_ratio(mean_diff, sd_diff),
        "d_av": safe_ratio(float(xa.mean() - xb.mean()), sd_avg),
        "warning": "; ".join(notes),
    }
