"""Feature statistics between conditions (e.g. pre vs pain), with the subject as the unit.

Becker et al. (2026) compared EMG features between the pre-injection and the painful epoch at
the level of single contractions (VAR d = 0.348, MAD d = 0.378, peak d = 0.311, all p < .001).
Contractions of one subject are not independent: they share the subject's anatomy, electrode
placement, MVIC normalisation and session, so a contraction-level test treats ~100
correlated observations per subject as ~100 independent ones. Its p-values are far too small
and subjects with many contractions dominate the estimate.

A random-intercept linear mixed model would be the textbook fix. It needs statsmodels, which
this project does not depend on. The default here is the classic, exact alternative for a
two-condition design: **aggregate first, then test**. Each subject's contractions are reduced
to one mean (or median) per subject x condition, and the test runs across subjects, paired when
the same subjects contribute to both conditions (pre vs pain within a session). With equal
numbers of contractions per cell, the paired t-test on subject means is the same test as the
condition F-test of the classic repeated-measures (split-plot) ANOVA, i.e. a mixed model with
random subject intercepts and random subject x condition effects. With unequal numbers it
weights every subject equally, however many contractions the subject has.
``level="contraction"`` reproduces the paper's analysis. Its results carry a ``warning``
column and ``DataFrame.attrs["warning"]`` saying that contractions are not independent.

Tests, chosen per feature when ``test="auto"``:

- paired (subject level, same subjects in both conditions): Shapiro-Wilk on the per-subject
  differences a - b; the paired t-test if p >= ``normality_alpha``, else the Wilcoxon
  signed-rank test.
- independent: Shapiro-Wilk on each group; Welch's t-test if both p >= ``normality_alpha``,
  else the Mann-Whitney U test.

Shapiro-Wilk needs n >= 3. With fewer units normality is not assessed (NaN) and the t-test is
used, with a note in ``warning``.

Sign convention: every difference is **a - b**, as in ``scipy.stats.ttest_rel(a, b)``. With
``a="pre"`` and ``b="pain"``, a feature that falls under pain has a positive mean difference,
t statistic and Cohen's d.

Effect sizes (Cohen 1988; Lakens 2013):

- paired: ``d`` is d_z = mean(diff) / sd(diff) (Lakens 2013, eq. 6). ``d_av`` is
  (mean_a - mean_b) / ((sd_a + sd_b) / 2) (Lakens 2013, eq. 10), comparable with
  between-subject designs.
- independent: ``d`` is d_s = (mean_a - mean_b) / pooled SD (Cohen 1988; Lakens 2013, eq. 1).
  ``hedges_g`` is d_s x J(df) with the exact small-sample correction
  J(df) = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = n_a + n_b - 2 (Hedges 1981).
  Lakens (2013, eq. 4) gives its approximation 1 - 3 / (4 df - 1).

Multiple comparisons across the feature columns of one call
(:func:`painsig.multiple_testing.adjust_pvalues`): Holm (1979) step-down by default,
Bonferroni, or the Benjamini-Hochberg (1995) false discovery rate. Holm and Bonferroni
control the family-wise error rate; BH controls the FDR.

Missing values: with ``nan_policy="drop"`` (the default), contractions whose value of a
feature is NaN or +-inf are left out **for that feature only** (sample entropy and the
spectral features can be undefined for a single epoch). A warning naming the feature and the
counts per condition is logged, and the counts go into the ``n_dropped`` column.
``nan_policy="raise"`` raises :class:`ValueError` naming the feature. Missing condition or
subject labels always raise.

References:

- Becker et al. (2026). Can Machines Identify Pain Effects? Bioengineering 13(2):141.
- Cohen J. (1988). Statistical Power Analysis for the Behavioral Sciences, 2nd ed. Erlbaum.
- Lakens D. (2013). Calculating and reporting effect sizes to facilitate cumulative science:
  a practical primer for t-tests and ANOVAs. Front Psychol 4:863.
- Hedges L.V. (1981). Distribution theory for Glass's estimator of effect size and related
  estimators. J Educ Stat 6(2):107-128.
- Holm S. (1979). A simple sequentially rejective multiple test procedure.
  Scand J Stat 6(2):65-70.
- Benjamini Y., Hochberg Y. (1995). Controlling the false discovery rate: a practical and
  powerful approach to multiple testing. J R Stat Soc B 57(1):289-300.
- Shapiro S.S., Wilk M.B. (1965). An analysis of variance test for normality (complete
  samples). Biometrika 52(3/4):591-611.
- Welch B.L. (1947). The generalization of "Student's" problem when several different
  population variances are involved. Biometrika 34(1/2):28-35.
- Wilcoxon F. (1945). Individual comparisons by ranking methods. Biometrics Bull 1(6):80-83.
- Mann H.B., Whitney D.R. (1947). On a test of whether one of two random variables is
  stochastically larger than the other. Ann Math Stat 18(1):50-60.
- Field C.A., Welsh A.H. (2007). Bootstrapping clustered data. J R Stat Soc B 69(3):369-390
  (cluster bootstrap: resample whole subjects).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import special, stats

from nmm.bootstrap import cluster_draws, percentile_interval
from painsig.multiple_testing import CORRECTIONS, Correction, adjust_pvalues

__all__ = [
    "CONTRACTION_LEVEL_WARNING",
    "MANN_WHITNEY",
    "PAIRED_T",
    "WELCH_T",
    "WILCOXON",
    "aggregate_per_subject",
    "compare_conditions",
    "hedges_correction",
    "subject_level_effect",
]

logger = logging.getLogger(__name__)

Level = Literal["subject", "contraction"]
TestChoice = Literal["auto", "parametric", "nonparametric"]
NanPolicy = Literal["drop", "raise"]
Agg = Literal["mean", "median"]

#: Text of the ``warning`` column and of ``attrs["warning"]`` for ``level="contraction"``.
CONTRACTION_LEVEL_WARNING = (
    "contraction-level test: contractions of one subject are not independent, so p-values "
    "are too small and subjects with many contractions dominate; use level='subject'"
)

PAIRED_T = "paired t-test"
WILCOXON = "Wilcoxon signed-rank"
WELCH_T = "Welch t-test"
MANN_WHITNEY = "Mann-Whitney U"

_SHAPIRO_MAX_N = 5000  # scipy: the p-value may be inaccurate above this N


# --------------------------------------------------------------------------------------------
# Effect sizes
# --------------------------------------------------------------------------------------------


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


def _safe_ratio(num: float, den: float) -> float:
    if not np.isfinite(den) or den <= 0:
        return math.nan
    return num / den


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


@dataclass
class _Inputs:
    features: pd.DataFrame
    condition: np.ndarray
    subject_codes: np.ndarray  # int codes, one per row
    subject_labels: pd.Index  # label of each code
    a: Hashable
    b: Hashable
    columns: list[Hashable] = field(default_factory=list)


def _labels(values: pd.Series | npt.ArrayLike, name: str, features: pd.DataFrame) -> np.ndarray:
    if isinstance(values, pd.Series) and not values.index.equals(features.index):
        raise ValueError(
            f"{name}.index does not match features.index; align them first or pass "
            f"{name}.to_numpy() to use the row order"
        )
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != len(features):
        raise ValueError(f"{name} has length {arr.shape[0]} but features has {len(features)} rows")
    missing = pd.isna(arr)
    if missing.any():
        raise ValueError(f"{name} has {int(missing.sum())} missing labels (NaN/None)")
    return arr


def _prepare(
    features: pd.DataFrame,
    condition: pd.Series | npt.ArrayLike,
    subject: pd.Series | npt.ArrayLike,
    a: Hashable,
    b: Hashable,
) -> _Inputs:
    if not isinstance(features, pd.DataFrame):
        raise ValueError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    if features.shape[1] == 0:
        raise ValueError("features has no columns")
    if len(features) == 0:
        raise ValueError("features has no rows")
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    bad += [c for c in features.columns if pd.api.types.is_bool_dtype(features[c])]
    if bad:
        raise ValueError(f"feature columns must be numeric (not bool); offending: {bad}")
    if features.columns.has_duplicates:
        raise ValueError("feature column names must be unique")
    cond = _labels(condition, "condition", features)
    subj = _labels(subject, "subject", features)
    if a == b:
        raise ValueError(f"conditions a and b must differ, both are {a!r}")
    present = pd.unique(cond)
    for label, which in ((a, "a"), (b, "b")):
        if not np.any(cond == label):
            raise ValueError(
                f"condition {which}={label!r} not present in condition; "
                f"labels present: {sorted(map(str, present))}"
            )
    codes, uniques = pd.factorize(subj)
    return _Inputs(
        features=features,
        condition=cond,
        subject_codes=codes,
        subject_labels=pd.Index(uniques),
        a=a,
        b=b,
        columns=list(features.columns),
    )


def _check_choice(value: object, name: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


@dataclass
class _Column:
    """One feature's finite values and labels, after the NaN policy."""

    x: np.ndarray
    cond: np.ndarray
    codes: np.ndarray
    n_dropped: int
    notes: list[str]


def _column(inp: _Inputs, col: Hashable, nan_policy: NanPolicy) -> _Column:
    values = inp.features[col].to_numpy(dtype=float)
    in_ab = (inp.condition == inp.a) | (inp.condition == inp.b)
    bad = in_ab & ~np.isfinite(values)
    notes: list[str] = []
    n_bad = int(bad.sum())
    if n_bad:
        n_bad_a = int((bad & (inp.condition == inp.a)).sum())
        n_bad_b = n_bad - n_bad_a
        msg = (
            f"feature {col!r}: {n_bad} contraction(s) with NaN/inf values "
            f"({inp.a!r}: {n_bad_a}, {inp.b!r}: {n_bad_b})"
        )
        if nan_policy == "raise":
            raise ValueError(msg + "; drop them or use nan_policy='drop'")
        logger.warning("%s dropped for this feature", msg)
        notes.append(f"dropped {n_bad} NaN/inf contraction(s)")
    keep = in_ab & np.isfinite(values)
    return _Column(
        x=values[keep],
        cond=inp.condition[keep],
        codes=inp.subject_codes[keep],
        n_dropped=n_bad,
        notes=notes,
    )


def _per_subject(x: np.ndarray, codes: np.ndarray, agg: Agg) -> pd.Series:
    """Aggregate of x per subject code, indexed by code (sorted)."""
    return pd.Series(x).groupby(codes, sort=True).agg(agg)


def _subject_means(
    column: _Column, inp: _Inputs, agg: Agg
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Per-subject aggregates and contraction counts for condition a and b."""
    is_a = column.cond == inp.a
    is_b = ~is_a
    sa = _per_subject(column.x[is_a], column.codes[is_a], agg)
    sb = _per_subject(column.x[is_b], column.codes[is_b], agg)
    ca = pd.Series(column.codes[is_a]).value_counts().sort_index()
    cb = pd.Series(column.codes[is_b]).value_counts().sort_index()
    return sa, sb, ca, cb


def _names(inp: _Inputs, codes: pd.Index | np.ndarray) -> list[str]:
    return [str(inp.subject_labels[c]) for c in codes]


# --------------------------------------------------------------------------------------------
# Tests on one feature
# --------------------------------------------------------------------------------------------


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
    if test == "parametric":
        return True
    if test == "nonparametric":
        return False
    known = [p for p in pvals if not math.isnan(p)]
    return all(p >= normality_alpha for p in known)


def _paired_row(
    xa: np.ndarray, xb: np.ndarray, test: TestChoice, alpha: float, normality_alpha: float
) -> dict[str, object]:
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
        "d": _safe_ratio(mean_diff, sd_diff),
        "d_kind": "d_z",
        "d_av": _safe_ratio(float(np.mean(xa) - np.mean(xb)), (sd_a + sd_b) / 2),
        "hedges_g": math.nan,
        "_notes": notes,
    }


def _independent_row(
    xa: np.ndarray, xb: np.ndarray, test: TestChoice, alpha: float, normality_alpha: float
) -> dict[str, object]:
    notes: list[str] = []
    na, nb = xa.size, xb.size
    p_a = _shapiro(xa, notes, "group a")
    p_b = _shapiro(xb, notes, "group b")
    parametric = _use_parametric([p_a, p_b], test, normality_alpha)
    var_a, var_b = float(np.var(xa, ddof=1)), float(np.var(xb, ddof=1))
    mean_diff = float(np.mean(xa) - np.mean(xb))
    df = na + nb - 2
    sd_pooled = math.sqrt(((na - 1) * var_a + (nb - 1) * var_b) / df)
    d = _safe_ratio(mean_diff, sd_pooled)
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


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


_COLUMNS = [
    "level",
    "paired",
    "test",
    "n_a",
    "n_b",
    "n_subjects",
    "n_subjects_a",
    "n_subjects_b",
    "n_units_a",
    "n_units_b",
    "n_dropped",
    "mean_a",
    "sd_a",
    "mean_b",
    "sd_b",
    "mean_diff",
    "sd_diff",
    "ci_low",
    "ci_high",
    "shapiro_p_a",
    "shapiro_p_b",
    "shapiro_p_diff",
    "normal",
    "statistic",
    "p",
    "p_adjusted",
    "significant",
    "d",
    "d_kind",
    "d_av",
    "hedges_g",
    "warning",
]


def compare_conditions(
    features: pd.DataFrame,
    condition: pd.Series | npt.ArrayLike,
    subject: pd.Series | npt.ArrayLike,
    a: str,
    b: str,
    paired: bool,
    alpha: float = 0.05,
    correction: Correction = "holm",
    *,
    level: Level = "subject",
    test: TestChoice = "auto",
    normality_alpha: float = 0.05,
    agg: Agg = "mean",
    nan_policy: NanPolicy = "drop",
) -> pd.DataFrame:
    """Compare every feature column between conditions ``a`` and ``b``.

    Unit of analysis (see the module docstring): at ``level="subject"`` (default) one ``agg``
    per subject x condition, paired over the subjects in both conditions (the others are
    named in ``warning``) or as two independent groups (``warning`` notes subjects in both);
    at ``level="contraction"`` every contraction (Becker et al. 2026), unpaired only, with
    :data:`CONTRACTION_LEVEL_WARNING` in every ``warning`` and in ``attrs["warning"]``.

    Args:
        features: One row per contraction, one numeric column per feature (e.g. the output
            of :func:`painsig.features.extract_features`). Rows whose condition is neither
            ``a`` nor ``b`` are ignored.
        condition: Condition label per row (array-like, or a Series with the same index as
            ``features``). No missing labels.
        subject: Subject label per row, like ``condition``.
        a, b: The two condition labels; every difference is a - b.
        paired: Paired (within-subject) test; see above.
        alpha: Significance level for ``significant`` (on ``p_adjusted``) and the CI level
            1 - alpha of ``ci_low``/``ci_high``. These CIs are not adjusted for multiplicity.
        correction: Multiple-comparison adjustment across the feature columns:
            ``"holm"`` (Holm 1979), ``"bonferroni"``, ``"fdr_bh"`` (Benjamini & Hochberg
            1995) or ``"none"``; see :func:`adjust_pvalues`.
        level: ``"subject"`` or ``"contraction"``.
        test: ``"auto"`` picks the test from Shapiro-Wilk (Shapiro & Wilk 1965) at
            ``normality_alpha``; ``"parametric"`` / ``"nonparametric"`` force it.
        normality_alpha: Shapiro-Wilk p below which normality is rejected.
        agg: Per-subject aggregate at subject level, ``"mean"`` or ``"median"``.
        nan_policy: ``"drop"`` leaves out NaN/inf values per feature and logs a warning;
            ``"raise"`` raises ValueError.

    Returns:
        DataFrame indexed by feature (index name ``"feature"``) with columns:

        - ``level``, ``paired``, ``test``: the analysis run.
        - ``n_a``, ``n_b``: contractions used per condition. ``n_subjects``: distinct
          subjects used. ``n_subjects_a``, ``n_subjects_b``: per condition.
          ``n_units_a``, ``n_units_b``: the observations tested (subjects at subject level,
          contractions at contraction level). ``n_dropped``: NaN/inf contractions left out.
        - ``mean_a``, ``sd_a``, ``mean_b``, ``sd_b``: mean and SD (ddof = 1) of the tested
          units. ``mean_diff`` = mean_a - mean_b. ``sd_diff``: SD of paired differences.
        - ``ci_low``, ``ci_high``: t-based 1 - alpha CI of the mean difference (paired or
          Welch), given even when ``p`` comes from a rank test.
        - ``shapiro_p_a``, ``shapiro_p_b`` (independent), ``shapiro_p_diff`` (paired),
          ``normal``: the normality check.
        - ``statistic``, ``p``: t (sign of a - b) for the t-tests; for Wilcoxon the
          smaller of the signed-rank sums (``scipy.stats.wilcoxon``, zeros dropped); U of
          group a for Mann-Whitney. All p are two-sided.
        - ``p_adjusted``, ``significant`` (p_adjusted < alpha).
        - ``d`` with ``d_kind`` ``"d_z"`` (paired) or ``"d_s"`` (independent);
          ``d_av`` (paired); ``hedges_g`` (independent). See the module docstring.
        - ``warning``: notes joined by "; " (empty string when there are none).

        ``attrs`` holds ``level``, ``paired``, ``a``, ``b``, ``alpha``, ``correction`` and
        ``warning`` (:data:`CONTRACTION_LEVEL_WARNING` or None).

    Raises:
        ValueError: a label not present in ``condition``; ``a == b``; length or index
            mismatches; missing labels; non-numeric columns; fewer than 2 subjects per
            condition at subject level (fewer than 2 contractions at contraction level), also
            after NaN dropping, named by feature; ``paired=True`` at contraction level or with
            fewer than 2 subjects in both conditions; NaN values with ``nan_policy="raise"``;
            bad option values.
    """
    _check_compare_options(level, correction, test, agg, nan_policy, alpha, normality_alpha)
    _check_pairing(paired, level)
    inp = _prepare(features, condition, subject, a, b)
    rows = {
        col: _feature_row(
            inp, col, level, bool(paired), test, alpha, normality_alpha, agg, nan_policy
        )
        for col in inp.columns
    }
    out = _comparison_frame(rows, correction, alpha)
    out.attrs = {
        "level": level,
        "paired": bool(paired),
        "a": a,
        "b": b,
        "alpha": alpha,
        "correction": correction,
        "warning": CONTRACTION_LEVEL_WARNING if level == "contraction" else None,
    }
    return out


def _check_compare_options(
    level: Level,
    correction: Correction,
    test: TestChoice,
    agg: Agg,
    nan_policy: NanPolicy,
    alpha: float,
    normality_alpha: float,
) -> None:
    """ValueError naming the first option of :func:`compare_conditions` out of its range."""
    _check_choice(level, "level", ("subject", "contraction"))
    _check_choice(correction, "correction", CORRECTIONS)
    _check_choice(test, "test", ("auto", "parametric", "nonparametric"))
    _check_choice(agg, "agg", ("mean", "median"))
    _check_choice(nan_policy, "nan_policy", ("drop", "raise"))
    for name, value in (("alpha", alpha), ("normality_alpha", normality_alpha)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must lie in (0, 1), got {value}")


def _check_pairing(paired: object, level: Level) -> None:
    """``paired`` is a bool, and a paired test runs at subject level only."""
    if not isinstance(paired, bool | np.bool_):
        raise ValueError(f"paired must be True or False, got {paired!r}")
    if paired and level == "contraction":
        raise ValueError(
            "paired=True needs level='subject': contractions of two conditions have no "
            "natural pairing; use paired=False at contraction level"
        )


def _feature_row(
    inp: _Inputs,
    col: Hashable,
    level: Level,
    paired: bool,
    test: TestChoice,
    alpha: float,
    normality_alpha: float,
    agg: Agg,
    nan_policy: NanPolicy,
) -> dict[str, object]:
    """One feature's row of :func:`compare_conditions` before the multiplicity adjustment."""
    column = _column(inp, col, nan_policy)
    if level == "subject":
        row = _subject_level_row(column, inp, col, paired, test, alpha, normality_alpha, agg)
    else:
        row = _contraction_level_row(column, inp, col, test, alpha, normality_alpha)
    row["n_dropped"] = column.n_dropped
    notes = column.notes + list(row.pop("_notes"))  # type: ignore[call-overload]
    if level == "contraction":
        notes.insert(0, CONTRACTION_LEVEL_WARNING)
    row["warning"] = "; ".join(notes)
    row["level"] = level
    row["paired"] = paired
    return row


#: Count columns of :func:`compare_conditions`, stored as integers.
_COUNT_COLUMNS = (
    "n_a",
    "n_b",
    "n_subjects",
    "n_subjects_a",
    "n_subjects_b",
    "n_units_a",
    "n_units_b",
    "n_dropped",
)


def _comparison_frame(
    rows: dict[Hashable, dict[str, object]], correction: Correction, alpha: float
) -> pd.DataFrame:
    """The rows as a frame indexed by feature, with ``p_adjusted`` and ``significant``."""
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "feature"
    out["p_adjusted"] = adjust_pvalues(out["p"].to_numpy(dtype=float), correction)
    out["significant"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    out = out[_COLUMNS]
    for c in _COUNT_COLUMNS:
        out[c] = out[c].astype(int)
    return out


def _subject_level_row(
    column: _Column,
    inp: _Inputs,
    col: Hashable,
    paired: bool,
    test: TestChoice,
    alpha: float,
    normality_alpha: float,
    agg: Agg,
) -> dict[str, object]:
    sa, sb, ca, cb = _subject_means(column, inp, agg)
    for s, label in ((sa, inp.a), (sb, inp.b)):
        if len(s) < 2:
            raise ValueError(
                f"feature {col!r}: condition {label!r} has {len(s)} subject(s) with data; "
                "subject-level statistics need at least 2 subjects per condition"
            )
    notes: list[str] = []
    if paired:
        both = sa.index.intersection(sb.index)
        if len(both) < 2:
            raise ValueError(
                f"feature {col!r}: {len(both)} subject(s) have data in both {inp.a!r} and "
                f"{inp.b!r}; a paired test needs at least 2 (use paired=False for "
                "independent groups)"
            )
        only = sa.index.union(sb.index).difference(both)
        if len(only):
            notes.append(
                f"left out {len(only)} subject(s) not in both conditions: "
                f"{', '.join(_names(inp, only))}"
            )
        xa, xb = sa.loc[both].to_numpy(), sb.loc[both].to_numpy()
        row = _paired_row(xa, xb, test, alpha, normality_alpha)
        n_a, n_b = int(ca.loc[both].sum()), int(cb.loc[both].sum())
        n_sa = n_sb = n_subjects = len(both)
    else:
        overlap = sa.index.intersection(sb.index)
        if len(overlap):
            notes.append(
                f"{len(overlap)} subject(s) appear in both conditions; the independent test "
                "ignores this pairing (consider paired=True)"
            )
        xa, xb = sa.to_numpy(), sb.to_numpy()
        row = _independent_row(xa, xb, test, alpha, normality_alpha)
        n_a, n_b = int(ca.sum()), int(cb.sum())
        n_sa, n_sb = len(sa), len(sb)
        n_subjects = len(sa.index.union(sb.index))
    row["_notes"] = notes + list(row["_notes"])  # type: ignore[call-overload]
    row.update(_describe(xa, xb))
    row.update(
        n_a=n_a,
        n_b=n_b,
        n_subjects=n_subjects,
        n_subjects_a=n_sa,
        n_subjects_b=n_sb,
        n_units_a=xa.size,
        n_units_b=xb.size,
    )
    return row


def _contraction_level_row(
    column: _Column,
    inp: _Inputs,
    col: Hashable,
    test: TestChoice,
    alpha: float,
    normality_alpha: float,
) -> dict[str, object]:
    is_a = column.cond == inp.a
    xa, xb = column.x[is_a], column.x[~is_a]
    for x, label in ((xa, inp.a), (xb, inp.b)):
        if x.size < 2:
            raise ValueError(
                f"feature {col!r}: condition {label!r} has {x.size} contraction(s) with data; "
                "at least 2 are needed"
            )
    row = _independent_row(xa, xb, test, alpha, normality_alpha)
    row.update(_describe(xa, xb))
    n_sa = np.unique(column.codes[is_a]).size
    n_sb = np.unique(column.codes[~is_a]).size
    row.update(
        n_a=xa.size,
        n_b=xb.size,
        n_subjects=np.unique(column.codes).size,
        n_subjects_a=n_sa,
        n_subjects_b=n_sb,
        n_units_a=xa.size,
        n_units_b=xb.size,
    )
    return row


def _describe(xa: np.ndarray, xb: np.ndarray) -> dict[str, float]:
    return {
        "mean_a": float(np.mean(xa)),
        "sd_a": float(np.std(xa, ddof=1)),
        "mean_b": float(np.mean(xb)),
        "sd_b": float(np.std(xb, ddof=1)),
    }


def aggregate_per_subject(
    features: pd.DataFrame,
    condition: pd.Series | npt.ArrayLike,
    subject: pd.Series | npt.ArrayLike,
    a: str,
    b: str,
    agg: Agg = "mean",
) -> pd.DataFrame:
    """Per-subject x condition aggregate of every feature (conditions ``a`` and ``b`` only).

    NaN/inf values are skipped per feature (the aggregate uses the finite values only).

    Returns:
        DataFrame with a (``subject``, ``condition``) MultiIndex, one column per feature and
        ``n_contractions`` (rows of that subject and condition). Subjects keep their order of
        first appearance; conditions are ordered a, b.

    Raises:
        ValueError: as :func:`compare_conditions` for bad labels or shapes.
    """
    _check_choice(agg, "agg", ("mean", "median"))
    inp = _prepare(features, condition, subject, a, b)
    in_ab = (inp.condition == inp.a) | (inp.condition == inp.b)
    vals = inp.features.loc[in_ab].astype(float).replace([np.inf, -np.inf], np.nan)
    cond_codes = np.where(inp.condition[in_ab] == inp.a, 0, 1)
    keys = [inp.subject_codes[in_ab], cond_codes]
    grouped = vals.reset_index(drop=True).groupby(keys, sort=True)
    out = grouped.agg(agg)
    out["n_contractions"] = grouped.size()
    out.index = pd.MultiIndex.from_arrays(
        [
            inp.subject_labels[out.index.get_level_values(0)],
            np.array([inp.a, inp.b], dtype=object)[out.index.get_level_values(1)],
        ],
        names=["subject", "condition"],
    )
    return out


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
    inp = _prepare(features, condition, subject, a, b)
    rng = np.random.default_rng(seed)
    rows = {
        col: _effect_row(_column(inp, col, nan_policy), inp, col, agg, ci, n_boot, rng)
        for col in inp.columns
    }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "feature"
    out["n_subjects"] = out["n_subjects"].astype(int)
    out.attrs = {"a": a, "b": b, "agg": agg, "ci": ci, "n_boot": n_boot}
    return out


def _check_effect_options(agg: Agg, nan_policy: NanPolicy, ci: float, n_boot: int) -> None:
    """ValueError naming the first option of :func:`subject_level_effect` out of its range."""
    _check_choice(agg, "agg", ("mean", "median"))
    _check_choice(nan_policy, "nan_policy", ("drop", "raise"))
    if not 0 < ci < 1:
        raise ValueError(f"ci must lie in (0, 1), got {ci}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0, got {n_boot!r}")


def _paired_subject_values(
    column: _Column, inp: _Inputs, col: Hashable, agg: Agg
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-subject ``agg`` of a and b over the subjects with data in both, (n,) each, and the
    notes (subjects left out); fewer than 2 such subjects raise."""
    sa, sb, _, _ = _subject_means(column, inp, agg)
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
            f"{', '.join(_names(inp, only))}"
        )
    return sa.loc[both].to_numpy(), sb.loc[both].to_numpy(), notes


def _effect_row(
    column: _Column,
    inp: _Inputs,
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
        "d_z": _safe_ratio(mean_diff, sd_diff),
        "d_av": _safe_ratio(float(xa.mean() - xb.mean()), sd_avg),
        "warning": "; ".join(notes),
    }
