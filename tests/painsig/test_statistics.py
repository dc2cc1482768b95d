"""Tests for painsig.statistics (and its parts: two_sample, condition_data, subject_effect,
multiple_testing, markdown) against scipy.stats, hand computations and textbook values."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from painsig.markdown import markdown_table
from painsig.multiple_testing import adjust_pvalues
from painsig.statistics import CONTRACTION_LEVEL_WARNING, aggregate_per_subject, compare_conditions
from painsig.subject_effect import subject_level_effect
from painsig.two_sample import MANN_WHITNEY, PAIRED_T, WELCH_T, WILCOXON, hedges_correction

RTOL = 1e-10


def make_cohort(
    n_subjects: int = 15,
    n_per: int | list[int] = 8,
    shift: float = 0.5,
    seed: int = 0,
    noise: float = 0.5,
) -> pd.DataFrame:
    """Contractions with a subject random intercept; ``shifted`` is lower under pain."""
    rng = np.random.default_rng(seed)
    counts = [n_per] * n_subjects if isinstance(n_per, int) else n_per
    rows = []
    for s, k in enumerate(counts):
        mu = rng.normal(0, 1.0)
        slope = rng.normal(0, 0.1)
        for cond, delta in (("pre", 0.0), ("pain", -shift)):
            for _ in range(k):
                rows.append(
                    {
                        "subject": f"S{s:02d}",
                        "condition": cond,
                        "shifted": mu + delta + slope + rng.normal(0, noise),
                        "null": mu + rng.normal(0, noise),
                    }
                )
    return pd.DataFrame(rows)


def hand_means(df: pd.DataFrame, col: str, cond: str) -> dict[str, float]:
    """Per-subject mean, computed with a plain loop (independent of the module)."""
    out: dict[str, float] = {}
    for s in sorted(set(df["subject"])):
        vals = [
            v
            for v, ss, c in zip(df[col], df["subject"], df["condition"], strict=True)
            if ss == s and c == cond
        ]
        if vals:
            out[s] = sum(vals) / len(vals)
    return out


def run(df: pd.DataFrame, cols=("shifted", "null"), **kw) -> pd.DataFrame:
    kw.setdefault("paired", True)
    return compare_conditions(df[list(cols)], df["condition"], df["subject"], "pre", "pain", **kw)


# --------------------------------------------------------------------------------------------
# p-value adjustment
# --------------------------------------------------------------------------------------------


def test_holm_textbook_example() -> None:
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02])


def test_bonferroni_and_none() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    np.testing.assert_allclose(adjust_pvalues(p, "none"), p)


def test_bh_matches_scipy() -> None:
    rng = np.random.default_rng(1)
    p = np.concatenate([rng.uniform(size=20), rng.uniform(0, 0.01, size=5), [0.02, 0.02]])
    np.testing.assert_allclose(
        adjust_pvalues(p, "fdr_bh"), stats.false_discovery_control(p, method="bh"), rtol=1e-12
    )


def test_bh_textbook_example() -> None:
    # p sorted: 0.005 (x4/1=0.02), 0.01 (x4/2=0.02), 0.03 (x4/3=0.04), 0.04 (x4/4=0.04)
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(adjust_pvalues(p, "fdr_bh"), [0.02, 0.04, 0.04, 0.02])


def test_adjust_ignores_nan() -> None:
    out = adjust_pvalues([0.01, np.nan, 0.04, 0.03, 0.005], "holm")
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3, 4]], [0.03, 0.06, 0.06, 0.02])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_adjust_properties(p: list[float]) -> None:
    arr = np.array(p)
    holm = adjust_pvalues(arr, "holm")
    bh = adjust_pvalues(arr, "fdr_bh")
    bonf = adjust_pvalues(arr, "bonferroni")
    assert np.all(holm >= arr - 1e-15) and np.all(holm <= 1)
    assert np.all(bh >= arr - 1e-15) and np.all(bh <= holm + 1e-12)
    assert np.all(holm <= bonf + 1e-12)
    order = np.argsort(arr, kind="stable")
    assert np.all(np.diff(holm[order]) >= -1e-15)
    np.testing.assert_allclose(bh, stats.false_discovery_control(arr), rtol=1e-10, atol=1e-15)


def test_adjust_bad_input() -> None:
    with pytest.raises(ValueError, match="correction must be"):
        adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_pvalues([0.1, 1.2])
    with pytest.raises(ValueError, match="1-D"):
        adjust_pvalues([[0.1]])


# --------------------------------------------------------------------------------------------
# Effect sizes on a hand-computed case
# --------------------------------------------------------------------------------------------


def hand_case() -> pd.DataFrame:
    """Subject means pre = [2, 4, 6, 8], pain = [1, 2, 3, 4], two contractions (m +- 1) each."""
    rows = []
    for s, (pre, pain) in enumerate(zip([2, 4, 6, 8], [1, 2, 3, 4], strict=True)):
        for cond, m in (("pre", pre), ("pain", pain)):
            for e in (-1.0, 1.0):
                rows.append({"subject": s, "condition": cond, "x": m + e})
    return pd.DataFrame(rows)


def test_cohens_d_paired_by_hand() -> None:
    # diffs [1, 2, 3, 4]: mean 2.5, sd sqrt(5/3) -> d_z = 2.5 / sqrt(5/3) = 1.936492
    # sd_pre = sqrt(20/3), sd_pain = sqrt(5/3) -> d_av = 2.5 / (1.5 sqrt(5/3)) = 1.290994
    res = run(hand_case(), cols=("x",), test="parametric").loc["x"]
    assert res["d_kind"] == "d_z"
    assert res["d"] == pytest.approx(1.9364916731, rel=1e-9)
    assert res["d_av"] == pytest.approx(1.2909944487, rel=1e-9)
    assert res["mean_diff"] == pytest.approx(2.5)
    assert res["n_a"] == 8 and res["n_b"] == 8 and res["n_subjects"] == 4
    assert math.isnan(res["hedges_g"])


def test_cohens_d_independent_by_hand() -> None:
    # pooled sd = sqrt((20/3 + 5/3) / 2) = sqrt(25/6); d_s = 2.5 / sqrt(25/6) = sqrt(1.5)
    # J(6) = Gamma(3) / (sqrt(3) Gamma(2.5)) = 0.8686267; g = 1.0638461
    df = hand_case()
    df.loc[df["condition"] == "pain", "subject"] += 10  # different subjects
    res = run(df, cols=("x",), paired=False, test="parametric").loc["x"]
    assert res["d_kind"] == "d_s"
    assert res["d"] == pytest.approx(math.sqrt(1.5), rel=1e-12)
    assert res["hedges_g"] == pytest.approx(1.063846081070, rel=1e-9)
    assert math.isnan(res["d_av"])
    assert res["n_subjects"] == 8 and res["n_units_a"] == 4


def test_hedges_correction() -> None:
    assert hedges_correction(6) == pytest.approx(2 / (math.sqrt(3) * math.gamma(2.5)))
    for df in (10, 30, 100):
        assert hedges_correction(df) == pytest.approx(1 - 3 / (4 * df - 1), abs=0.05 / df**2)
    with pytest.raises(ValueError, match="df > 1"):
        hedges_correction(1)


# --------------------------------------------------------------------------------------------
# Tests against scipy on hand-aggregated numbers
# --------------------------------------------------------------------------------------------


def test_paired_ttest_matches_scipy_on_subject_means() -> None:
    df = make_cohort(n_per=[3, 7, 12, 5, 9, 4, 6, 8, 10, 5, 7, 6])
    res = run(df, test="parametric")
    for col in ("shifted", "null"):
        pre, pain = hand_means(df, col, "pre"), hand_means(df, col, "pain")
        xa = np.array([pre[s] for s in sorted(pre)])
        xb = np.array([pain[s] for s in sorted(pre)])
        ref = stats.ttest_rel(xa, xb)
        row = res.loc[col]
        assert row["test"] == PAIRED_T
        assert row["statistic"] == pytest.approx(ref.statistic, rel=RTOL)
        assert row["p"] == pytest.approx(ref.pvalue, rel=RTOL)
        ci = ref.confidence_interval(0.95)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=RTOL)
        assert row["shapiro_p_diff"] == pytest.approx(stats.shapiro(xa - xb).pvalue, rel=RTOL)
        assert row["mean_a"] == pytest.approx(xa.mean(), rel=RTOL)
        assert row["sd_b"] == pytest.approx(xb.std(ddof=1), rel=RTOL)


def test_wilcoxon_matches_scipy() -> None:
    df = make_cohort(n_subjects=10)
    res = run(df, test="nonparametric")
    pre, pain = hand_means(df, "shifted", "pre"), hand_means(df, "shifted", "pain")
    xa = np.array([pre[s] for s in sorted(pre)])
    xb = np.array([pain[s] for s in sorted(pre)])
    ref = stats.wilcoxon(xa, xb)
    row = res.loc["shifted"]
    assert row["test"] == WILCOXON
    assert row["statistic"] == pytest.approx(ref.statistic, rel=RTOL)
    assert row["p"] == pytest.approx(ref.pvalue, rel=RTOL)


def independent_cohort(seed: int = 2) -> pd.DataFrame:
    df = make_cohort(n_subjects=16, n_per=[4 + (i % 5) for i in range(16)], seed=seed)
    # first 8 subjects give only pre, the last 8 only pain
    first = df["subject"].isin([f"S{i:02d}" for i in range(8)])
    keep = (first & (df["condition"] == "pre")) | (~first & (df["condition"] == "pain"))
    return df[keep].reset_index(drop=True)


def test_welch_and_mannwhitney_match_scipy() -> None:
    df = independent_cohort()
    par = run(df, paired=False, test="parametric")
    npar = run(df, paired=False, test="nonparametric")
    for col in ("shifted", "null"):
        pre, pain = hand_means(df, col, "pre"), hand_means(df, col, "pain")
        xa = np.array(list(pre.values()))
        xb = np.array(list(pain.values()))
        welch = stats.ttest_ind(xa, xb, equal_var=False)
        mwu = stats.mannwhitneyu(xa, xb, alternative="two-sided")
        assert par.loc[col, "test"] == WELCH_T
        assert par.loc[col, "statistic"] == pytest.approx(welch.statistic, rel=RTOL)
        assert par.loc[col, "p"] == pytest.approx(welch.pvalue, rel=RTOL)
        assert npar.loc[col, "test"] == MANN_WHITNEY
        assert npar.loc[col, "statistic"] == pytest.approx(mwu.statistic, rel=RTOL)
        assert npar.loc[col, "p"] == pytest.approx(mwu.pvalue, rel=RTOL)
        assert par.loc[col, "shapiro_p_a"] == pytest.approx(stats.shapiro(xa).pvalue, rel=RTOL)
        assert par.loc[col, "shapiro_p_b"] == pytest.approx(stats.shapiro(xb).pvalue, rel=RTOL)
        assert par.loc[col, "n_subjects"] == 16
        assert par.loc[col, "warning"] == ""


def test_contraction_level_matches_scipy_and_warns() -> None:
    df = make_cohort(n_subjects=6, n_per=20)
    res = run(df, paired=False, level="contraction", test="parametric")
    xa = df.loc[df["condition"] == "pre", "shifted"].to_numpy()
    xb = df.loc[df["condition"] == "pain", "shifted"].to_numpy()
    ref = stats.ttest_ind(xa, xb, equal_var=False)
    row = res.loc["shifted"]
    assert row["p"] == pytest.approx(ref.pvalue, rel=RTOL)
    assert row["n_units_a"] == 120 and row["n_subjects"] == 6
    assert res.attrs["warning"] == CONTRACTION_LEVEL_WARNING
    assert res.attrs["level"] == "contraction"
    assert all(w.startswith(CONTRACTION_LEVEL_WARNING) for w in res["warning"])
    assert "not independent" in CONTRACTION_LEVEL_WARNING
    assert run(df).attrs["warning"] is None


# --------------------------------------------------------------------------------------------
# Unit of analysis
# --------------------------------------------------------------------------------------------


def test_heavy_subject_does_not_dominate() -> None:
    # 9 subjects with 5 contractions fall by ~1 under pain; S00 has 100 contractions and
    # rises by 3. Per contraction S00 dominates (mean difference points the other way);
    # per subject it is one of 10.
    df = make_cohort(n_subjects=10, n_per=[100] + [5] * 9, shift=1.0, seed=3, noise=0.3)
    heavy = df["subject"] == "S00"
    df.loc[heavy & (df["condition"] == "pain"), "shifted"] += 4.0
    res = run(df, cols=("shifted",), test="parametric").loc["shifted"]
    pre, pain = hand_means(df, "shifted", "pre"), hand_means(df, "shifted", "pain")
    diffs = np.array([pre[s] - pain[s] for s in sorted(pre)])
    xa = np.array([pre[s] for s in sorted(pre)])
    xb = np.array([pain[s] for s in sorted(pre)])
    ref = stats.ttest_rel(xa, xb)
    assert res["p"] == pytest.approx(ref.pvalue, rel=RTOL)
    assert res["mean_diff"] == pytest.approx(diffs.mean(), rel=RTOL)
    assert res["d"] == pytest.approx(diffs.mean() / diffs.std(ddof=1), rel=RTOL)
    assert res["n_a"] == 145 and res["n_units_a"] == 10
    assert res["mean_diff"] > 0  # most subjects decrease under pain
    pooled = run(df, cols=("shifted",), paired=False, level="contraction").loc["shifted"]
    assert pooled["mean_diff"] < 0  # the heavy subject flips the contraction-level sign


def test_median_aggregation() -> None:
    df = hand_case()
    df.loc[0, "x"] = 100.0  # subject 0, pre: contractions [100, 3] -> median 51.5, mean 51.5
    df = pd.concat([df, df.iloc[[1]]], ignore_index=True)  # subject 0 pre: [100, 3, 3]
    res = run(df, cols=("x",), agg="median", test="parametric").loc["x"]
    xa = np.array([3.0, 4, 6, 8])
    xb = np.array([1.0, 2, 3, 4])
    assert res["p"] == pytest.approx(stats.ttest_rel(xa, xb).pvalue, rel=RTOL)


def test_paired_drops_unmatched_subjects_with_note() -> None:
    df = make_cohort(n_subjects=8)
    df = df[~((df["subject"] == "S03") & (df["condition"] == "pain"))]
    res = run(df).loc["shifted"]
    assert res["n_subjects"] == 7
    assert "left out 1 subject(s)" in res["warning"] and "S03" in res["warning"]


def test_independent_with_overlapping_subjects_notes_pairing() -> None:
    res = run(make_cohort(n_subjects=6), paired=False).loc["null"]
    assert "ignores this pairing" in res["warning"]


def test_aggregate_per_subject() -> None:
    df = hand_case()
    agg = aggregate_per_subject(df[["x"]], df["condition"], df["subject"], "pre", "pain")
    assert agg.loc[(2, "pre"), "x"] == pytest.approx(6.0)
    assert agg.loc[(3, "pain"), "x"] == pytest.approx(4.0)
    assert (agg["n_contractions"] == 2).all()
    assert list(agg.index.names) == ["subject", "condition"]


# --------------------------------------------------------------------------------------------
# Test choice and detection
# --------------------------------------------------------------------------------------------


def test_non_normal_differences_switch_to_wilcoxon() -> None:
    # 12 subjects, one contraction each per condition; differences: 11 small, one huge outlier
    diffs = np.array([0.1, 0.2, -0.1, 0.15, 0.05, 0.12, 0.3, -0.05, 0.08, 0.22, 0.18, 9.0])
    pre = np.linspace(1, 2, 12)
    df = pd.DataFrame(
        {
            "subject": np.tile(np.arange(12), 2),
            "condition": ["pre"] * 12 + ["pain"] * 12,
            "x": np.concatenate([pre, pre - diffs]),
        }
    )
    res = run(df, cols=("x",)).loc["x"]
    assert stats.shapiro(diffs).pvalue < 0.05
    assert res["shapiro_p_diff"] == pytest.approx(stats.shapiro(diffs).pvalue, rel=RTOL)
    assert not res["normal"]
    assert res["test"] == WILCOXON
    assert res["p"] == pytest.approx(stats.wilcoxon(pre, pre - diffs).pvalue, rel=RTOL)


def test_non_normal_groups_switch_to_mannwhitney() -> None:
    rng = np.random.default_rng(5)
    xa = rng.exponential(size=20) ** 3  # strongly skewed
    xb = rng.normal(size=20)
    df = pd.DataFrame(
        {
            "subject": np.arange(40),
            "condition": ["pre"] * 20 + ["pain"] * 20,
            "x": np.concatenate([xa, xb]),
        }
    )
    res = run(df, cols=("x",), paired=False).loc["x"]
    assert res["test"] == MANN_WHITNEY
    assert res["p"] == pytest.approx(stats.mannwhitneyu(xa, xb).pvalue, rel=RTOL)


def test_shift_detected_null_not() -> None:
    res = run(make_cohort(n_subjects=15, n_per=10, shift=0.5, seed=0))
    shifted, null = res.loc["shifted"], res.loc["null"]
    assert shifted["p"] < 1e-3 and shifted["significant"]
    assert shifted["d"] > 0  # pre - pain > 0: the feature decreases under pain, like VAR/MAD
    assert shifted["ci_low"] > 0
    assert null["p"] > 0.05 and not null["significant"]
    np.testing.assert_allclose(res["p_adjusted"], adjust_pvalues(res["p"], "holm"))
    bh = run(make_cohort(seed=0), correction="fdr_bh")
    np.testing.assert_allclose(bh["p_adjusted"], stats.false_discovery_control(bh["p"]))


def test_false_positive_rate_subject_vs_contraction_level() -> None:
    """No true effect, but each subject's pre and pain cells have their own offset (sd 0.3,
    e.g. electrode shift or fatigue): pooling 50 contractions per cell as independent gives
    a false-positive rate far above alpha, while the subject-level paired test stays near
    0.05 (binomial sd 0.015 over 200 datasets)."""
    rng = np.random.default_rng(2026)
    n_subj, n_per, reps = 10, 50, 200
    subject = np.tile(np.repeat(np.arange(n_subj), n_per), 2)
    condition = np.repeat(["pre", "pain"], n_subj * n_per)
    hits = {"subject": 0, "contraction": 0}
    for _ in range(reps):
        intercept = rng.normal(0, 0.3, n_subj)[subject]
        cell = rng.normal(0, 0.3, (2, n_subj))[(condition == "pain").astype(int), subject]
        x = intercept + cell + rng.normal(0, 0.5, subject.size)
        feats = pd.DataFrame({"x": x})
        for level, paired in (("subject", True), ("contraction", False)):
            res = compare_conditions(
                feats, condition, subject, "pre", "pain", paired, level=level, test="parametric"
            )
            hits[level] += bool(res.loc["x", "p"] < 0.05)
    assert 0.01 <= hits["subject"] / reps <= 0.10
    assert hits["contraction"] / reps > 0.3


def test_output_types() -> None:
    res = run(make_cohort(n_subjects=5))
    assert res.index.name == "feature"
    assert res["significant"].dtype == bool
    assert res["n_a"].dtype.kind == "i"
    assert res.attrs["correction"] == "holm" and res.attrs["a"] == "pre"


# --------------------------------------------------------------------------------------------
# Missing values and bad input
# --------------------------------------------------------------------------------------------


def test_nan_dropped_per_feature_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    df = make_cohort(n_subjects=6, n_per=4)
    df.loc[[0, 1, 30], "shifted"] = [np.nan, np.inf, np.nan]
    with caplog.at_level(logging.WARNING, logger="painsig.condition_data"):
        res = run(df)
    msgs = [r.getMessage() for r in caplog.records if r.name == "painsig.condition_data"]
    assert any("'shifted'" in m and "3 contraction(s)" in m for m in msgs)
    assert res.loc["shifted", "n_dropped"] == 3 and res.loc["null", "n_dropped"] == 0
    assert res.loc["shifted", "n_a"] + res.loc["shifted", "n_b"] == len(df) - 3
    assert res.loc["null", "n_a"] + res.loc["null", "n_b"] == len(df)
    assert np.isfinite(res.loc["shifted", "p"])


def test_nan_raise_policy() -> None:
    df = make_cohort(n_subjects=4)
    df.loc[2, "null"] = np.nan
    with pytest.raises(ValueError, match=r"feature 'null'.*NaN"):
        run(df, nan_policy="raise")


def test_bad_inputs() -> None:
    df = make_cohort(n_subjects=4)
    feats, cond, subj = df[["shifted"]], df["condition"], df["subject"]
    with pytest.raises(ValueError, match=r"condition b='placebo' not present.*'pain', 'pre'"):
        compare_conditions(feats, cond, subj, "pre", "placebo", paired=True)
    with pytest.raises(ValueError, match="must differ"):
        compare_conditions(feats, cond, subj, "pre", "pre", paired=True)
    with pytest.raises(ValueError, match="condition has length 3 but features has"):
        compare_conditions(feats, cond.to_numpy()[:3], subj, "pre", "pain", paired=True)
    with pytest.raises(ValueError, match="subject has length"):
        compare_conditions(feats, cond, subj.to_numpy()[1:], "pre", "pain", paired=True)
    with pytest.raises(ValueError, match="index does not match"):
        compare_conditions(feats, cond.reset_index(drop=True).iloc[::-1], subj, "pre", "pain",
                           paired=True)  # fmt: skip
    bad_subj = subj.copy()
    bad_subj.iloc[0] = None
    with pytest.raises(ValueError, match="subject has 1 missing"):
        compare_conditions(feats, cond, bad_subj, "pre", "pain", paired=True)
    with pytest.raises(ValueError, match="numeric"):
        compare_conditions(df[["subject"]], cond, subj, "pre", "pain", paired=True)
    with pytest.raises(ValueError, match="paired=True needs level='subject'"):
        compare_conditions(feats, cond, subj, "pre", "pain", paired=True, level="contraction")
    with pytest.raises(ValueError, match="correction must be"):
        compare_conditions(feats, cond, subj, "pre", "pain", paired=True, correction="x")
    with pytest.raises(ValueError, match="alpha must lie"):
        compare_conditions(feats, cond, subj, "pre", "pain", paired=True, alpha=1.5)
    with pytest.raises(ValueError, match="DataFrame"):
        compare_conditions(feats.to_numpy(), cond, subj, "pre", "pain", paired=True)


def test_too_few_subjects() -> None:
    df = make_cohort(n_subjects=3)
    one = df[~((df["condition"] == "pain") & (df["subject"] != "S00"))]
    with pytest.raises(ValueError, match=r"'pain' has 1 subject.*at least 2 subjects"):
        run(one)
    # 2 subjects per group but none in both: a paired test is impossible
    df2 = df[(df["subject"] != "S02")].copy()
    df2.loc[df2["condition"] == "pain", "subject"] += "x"
    with pytest.raises(ValueError, match="0 subject\\(s\\) have data in both"):
        run(df2)
    assert run(df2, paired=False).loc["shifted", "n_subjects"] == 4
    # NaN dropping that leaves a condition with one subject names the feature
    df3 = df.copy()
    df3.loc[(df3["condition"] == "pre") & (df3["subject"] != "S00"), "null"] = np.nan
    with pytest.raises(ValueError, match=r"feature 'null'.*'pre' has 1 subject"):
        run(df3)


def test_two_subjects_runs_without_normality() -> None:
    res = run(make_cohort(n_subjects=2)).loc["shifted"]
    assert math.isnan(res["shapiro_p_diff"]) and res["test"] == PAIRED_T
    assert "n >= 3" in res["warning"]


# --------------------------------------------------------------------------------------------
# subject_level_effect
# --------------------------------------------------------------------------------------------


def test_subject_level_effect_matches_paired_analysis() -> None:
    df = make_cohort(n_subjects=12, n_per=[2, 9, 4, 6, 3, 8, 5, 7, 4, 6, 5, 3], seed=4)
    eff = subject_level_effect(
        df[["shifted", "null"]], df["condition"], df["subject"], "pre", "pain", seed=0
    )
    cmp = run(df, test="parametric")
    pre, pain = hand_means(df, "shifted", "pre"), hand_means(df, "shifted", "pain")
    xa = np.array([pre[s] for s in sorted(pre)])
    xb = np.array([pain[s] for s in sorted(pre)])
    ci = stats.ttest_rel(xa, xb).confidence_interval(0.95)
    row = eff.loc["shifted"]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert row["d_z"] == pytest.approx(cmp.loc["shifted", "d"], rel=RTOL)
    assert row["d_av"] == pytest.approx(cmp.loc["shifted", "d_av"], rel=RTOL)
    assert row["boot_low"] < row["mean_diff"] < row["boot_high"]
    # percentile bootstrap of a mean: close to the t interval for near-normal data
    assert row["boot_high"] - row["boot_low"] == pytest.approx(ci.high - ci.low, rel=0.35)
    again = subject_level_effect(
        df[["shifted", "null"]], df["condition"], df["subject"], "pre", "pain", seed=0
    )
    pd.testing.assert_frame_equal(eff, again)
    none = subject_level_effect(
        df[["shifted"]], df["condition"], df["subject"], "pre", "pain", n_boot=0
    )
    assert np.isnan(none.loc["shifted", "boot_low"])
    with pytest.raises(ValueError, match="n_boot"):
        subject_level_effect(df[["shifted"]], df["condition"], df["subject"], "pre", "pain",
                             n_boot=-1)  # fmt: skip


# --------------------------------------------------------------------------------------------
# markdown_table
# --------------------------------------------------------------------------------------------


def test_markdown_table() -> None:
    df = pd.DataFrame(
        {"n": [3, 12], "p": [0.000123456, np.nan], "ok": [True, False], "note": ["a|b", ""]},
        index=pd.Index(["var", "mad"], name="feature"),
    )
    expected = (
        "| feature | n | p | ok | note |\n"
        "|:---|---:|---:|:---|:---|\n"
        "| var | 3 | 0.000123 | True | a\\|b |\n"
        "| mad | 12 | NaN | False |  |"
    )
    assert markdown_table(df) == expected
    assert markdown_table(df, floatfmt=".2e", index=False).splitlines()[2] == (
        "| 3 | 1.23e-04 | True | a\\|b |"
    )
    assert markdown_table(run(make_cohort(n_subjects=4))).count("\n") == 3
