"""Two-sample tests of one feature and their effect sizes, with the sign convention a - b.

Paired (the same subjects in both conditions): Shapiro-Wilk on the differences a - b, then the
paired t-test if normality is not rejected, else the Wilcoxon signed-rank test; effect sizes
d_z = mean(diff) / sd(diff) (Lakens 2013, eq. 6) and d_av = (mean_a - mean_b) / ((sd_a + sd_b)
/ 2) (Lakens 2013, eq. 10). Independent: Shapiro-Wilk on each group, then Welch's t-test, else
Mann-Whitney U; d_s = (mean_a - mean_b) / pooled SD (Cohen 1988) and Hedges' g = d_s x J(df)
with the exact correction J (Hedges 1981). :mod:`painsig.statistics` runs them per feature.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
from scipy import special, stats

__all__ = [
    "MANN_WHITNEY",
    "PAIRED_T",
    "WELCH_T",
    "WILCOXON",
    "TestChoice",
    "hedges_correction",
    "independent_row",
    "paired_row",
    "safe_ratio",
]

TestChoice = Literal["auto", "parametric", "nonparametric"]

PAIRED_T = "paired t-test"
WILCOXON = "Wilcoxon signed-rank"
WELCH_T = "Welch t-test"
MANN_WHITNEY = "Mann-Whitney U"

_SHAPIRO_MAX_N = 5000  # scipy: the p-value may be inaccurate above this N


def hedges_correction(df: float) -> float:
    """Exact small-sample bias correction J(df) of Cohen's d (Hedges 1981).

    J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df - 1)/2)); Hedges' g = J(df) x d. The common
    approximation is 1 - 3 / (4 df - 1) (Lakens 2013, eq. 4).

    Args:
        df: Degrees of freedom, n_a + n_b - 2 for two independent groups; must be > 1.

    Raises:
        ValueError: ``df <= 1`` (J is undefined there).
    """
    if not df > 1:
        raise ValueError(f"Hedges' correction needs df > 1, got {df}")
    return math.exp(
        special.gammaln(df / 2) - 0.5 * math.log(df / 2) - special.gammaln((df - 1) / 2)
    )


def safe_ratio(num: float, den: float) -> float:
    """``num / den``, NaN when ``den`` is not a positive finite number."""
    if not np.isfinite(den) or den <= 0:
        return math.nan
    return num / den


def _shapiro(x: np.ndarray, notes: list[str], what: str) -> float:
    """Shapiro-Wilk p-value (Shapiro & Wilk 1965), NaN where it cannot be computed."""
    if x.size < 3:
        notes.append(f"Shapiro-Wilk needs n >= 3 ({what}: n = {x.size}); normality not assessed")
        return math.nan
    if np.ptp(x) == 0:
        notes.append(f"{what} is constant; normality not assessed")
        return math.nan
    if x.size > _SHAPIRO_MAX_N:
        notes.append(f"Shapiro-Wilk p may be inaccurate for n > {_SHAPIRO_MAX_N} ({what})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.shapiro(x).pvalue)


def _use_parametric(pvals: list[float], test: TestChoice, normality_alpha: float) -> bool:
    """The t-test unless a test is forced or a Shapiro-Wilk p is below ``normality_alpha``."""
    if test == "parametric":
        return True
    if test == "nonparametric":
        return False
    known = [p for p in pvals if not math.isnan(p)]
    return all(p >= normality_alpha for p in known)


def paired_row(
    xa: np.ndarray, xb: np.ndarray, test: TestChoice, alpha: float, normality_alpha: float
) -> dict[str, object]:
    """Paired test of the (n,) subject values ``xa`` and ``xb``: paired t (with its 1 - alpha
    CI of mean(a - b)) or Wilcoxon signed-rank, d_z and d_av; notes under ``_notes``."""
    notes: list[str] = []
    diff = xa - xb
    sd_a, sd_b = float(np.std(xa, ddof=1)), float(np.std(xb, ddof=1))
    mean_diff = float(np.mean(diff))
    sd_diff = float(np.std(diff, ddof=1))
    p_norm = _shapiro(diff, notes, "differences")
    parametric = _use_parametric([p_norm], test, normality_alpha)
    stat = p = ci_low = ci_high = math.nan
    if sd_diff > 0:
        tres = stats.ttest_rel(xa, xb)
        ci = tres.confidence_interval(1 - alpha)
        ci_low, ci_high = float(ci.low), float(ci.high)
        if parametric:
            stat, p = float(tres.statistic), float(tres.pvalue)
        else:
            wres = stats.wilcoxon(xa, xb)
            stat, p = float(wres.statistic), float(wres.pvalue)
    else:
        notes.append("differences have zero variance; test undefined")
    return {
        "test": PAIRED_T if parametric else WILCOXON,
        "shapiro_p_a": math.nan,
        "shapiro_p_b": math.nan,
        "shapiro_p_diff": p_norm,
        "normal": bool(not math.isnan(p_norm) and p_norm >= normality_alpha),
        "mean_diff": mean_diff,
        "sd_diff": sd_diff,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "statistic": stat,
        "p": p,
        "d": safe_ratio(mean_diff, sd_diff),
        "d_kind": "d_z",
        "d_av": safe_ratio(float(np.mean(xa) - np.mean(xb)), (sd_a + sd_b) / 2),
        "hedges_g": math.nan,
        "_notes": notes,
    }


def independent_row(
    xa: np.ndarray, xb: np.ndarray, test: TestChoice, alpha: float, normality_alpha: float
) -> dict[str, object]:
    """Independent test of ``xa`` (n_a,) against ``xb`` (n_b,): Welch t (with its 1 - alpha CI
    of mean_a - mean_b) or Mann-Whitney U, d_s and Hedges' g; notes under ``_notes``."""
    notes: list[str] = []
    na, nb = xa.size, xb.size
    p_a = _shapiro(xa, notes, "group a")
    p_b = _shapiro(xb, notes, "group b")
    parametric = _use_parametric([p_a, p_b], test, normality_alpha)
    var_a, var_b = float(np.var(xa, ddof=1)), float(np.var(xb, ddof=1))
    mean_diff = float(np.mean(xa) - np.mean(xb))
    df = na + nb - 2
    sd_pooled = math.sqrt(((na - 1) * var_a + (nb - 1) * var_b) / df)
    d = safe_ratio(mean_diff, sd_pooled)
    g = d * hedges_correction(df) if df > 1 and not math.isnan(d) else math.nan
    stat = p = ci_low = ci_high = math.nan
    if var_a > 0 or var_b > 0:
        tres = stats.ttest_ind(xa, xb, equal_var=False)
        ci = tres.confidence_interval(1 - alpha)
        ci_low, ci_high = float(ci.low), float(ci.high)
        if parametric:
            stat, p = float(tres.statistic), float(tres.pvalue)
        else:
            ures = stats.mannwhitneyu(xa, xb, alternative="two-sided")
            stat, p = float(ures.statistic), float(ures.pvalue)
    else:
        notes.append("both groups have zero variance; test undefined")
    normal = all(not math.isnan(q) and q >= normality_alpha for q in (p_a, p_b))
    return {
        "test": WELCH_T if parametric else MANN_WHITNEY,
        "shapiro_p_a": p_a,
        "shapiro_p_b": p_b,
        "shapiro_p_diff": math.nan,
        "normal": normal,
        "mean_diff": mean_diff,
        "sd_diff": math.nan,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "statistic": stat,
        "p": p,
        "d": d,
        "d_kind": "d_s",
        "d_av": math.nan,
        "hedges_g": g,
        "_notes": notes,
    }
