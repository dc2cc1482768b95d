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

Modules: this one compares conditions (:func:`compare_conditions`, :func:`aggregate_per_subject`);
:mod:`painsig.two_sample` holds the tests and effect sizes of one feature,
:mod:`painsig.condition_data` the checked inputs and the NaN policy,
:mod:`painsig.subject_effect` the within-subject effect with its bootstrap interval, and
:mod:`painsig.multiple_testing` the adjustments.

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

from collections.abc import Hashable
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

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
from painsig.multiple_testing import CORRECTIONS, Correction, adjust_pvalues
from painsig.two_sample import TestChoice, independent_row, paired_row

__all__ = ["CONTRACTION_LEVEL_WARNING", "aggregate_per_subject", "compare_conditions"]

Level = Literal["subject", "contraction"]

#: Text of the ``warning`` column and of ``attrs["warning"]`` for ``level="contraction"``.
CONTRACTION_LEVEL_WARNING = (
    "contraction-level test: contractions of one subject are not independent, so p-values "
    "are too small and subjects with many contractions dominate; use level='subject'"
)


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
    inp = prepare_conditions(features, condition, subject, a, b)
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
    check_choice(level, "level", ("subject", "contraction"))
    check_choice(correction, "correction", CORRECTIONS)
    check_choice(test, "test", ("auto", "parametric", "nonparametric"))
    check_choice(agg, "agg", ("mean", "median"))
    check_choice(nan_policy, "nan_policy", ("drop", "raise"))
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
    inp: ConditionData,
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
    column = feature_column(inp, col, nan_policy)
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
    column: FeatureColumn,
    inp: ConditionData,
    col: Hashable,
    paired: bool,
    test: TestChoice,
    alpha: float,
    normality_alpha: float,
    agg: Agg,
) -> dict[str, object]:
    sa, sb, ca, cb = subject_means(column, inp, agg)
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
                f"{', '.join(subject_names(inp, only))}"
            )
        xa, xb = sa.loc[both].to_numpy(), sb.loc[both].to_numpy()
        row = paired_row(xa, xb, test, alpha, normality_alpha)
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
        row = independent_row(xa, xb, test, alpha, normality_alpha)
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
    column: FeatureColumn,
    inp: ConditionData,
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
    row = independent_row(xa, xb, test, alpha, normality_alpha)
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
    check_choice(agg, "agg", ("mean", "median"))
    inp = prepare_conditions(features, condition, subject, a, b)
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
