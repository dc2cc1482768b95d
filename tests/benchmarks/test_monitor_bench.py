"""bench_monitor's scores on small hand-made truths and indices, against independent
references (scipy's Pearson r, hand-computed signs and RMSEs); the benchmark itself needs an
OpenSim-generated cohort (minutes) and is not run here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.bench_monitor import (
    WITHOUT_RECONSTRUCTED,
    _arguments,
    cocontraction_rmse,
    mdf_sign_agreement,
    pain_correlation,
    pooled_scores,
    score,
    training_cohort,
    truth_table,
)

EFFECT = [1.0, math.exp(-0.5), math.exp(-1.0), math.exp(-1.5)]


def _truth() -> dict:
    """Two subjects of four sessions; k falls in every session but S02's last (rises)."""
    subjects = {}
    for subject, cci in (("S01", 20.0), ("S02", 30.0)):
        entries = []
        for s, e in enumerate(EFFECT, start=1):
            k = [1.0, 0.9, 0.8] if (subject, s) != ("S02", 4) else [0.8, 0.9, 1.0]
            entries.append(
                {
                    "session": str(s),
                    "pain_effect": e,
                    "contractions": [
                        {"fatigue_k": {"BIClong": kk}, "cocontraction_index": cci + c}
                        for c, kk in zip((-1.0, 0.0, 1.0), k, strict=True)
                    ],
                }
            )
        subjects[subject] = entries
    return {"subjects": subjects}


def _indices(estimates: dict[str, list[float]]) -> pd.DataFrame:
    """indices.csv rows: every index of ``estimates`` for S01 then S02, four sessions each."""
    rows = []
    for index, values in estimates.items():
        for k, v in enumerate(values):
            subject, session = ("S01", "S02")[k // 4], str(k % 4 + 1)
            rows.append({"subject": subject, "session": session, "index": index, "estimate": v})
    return pd.DataFrame(rows)


def test_truth_table_reads_effect_fatigue_slope_and_mean_index():
    table = truth_table(_truth(), "BIClong").set_index(["subject", "session"])
    assert table.loc[("S01", "2"), "pain_effect"] == pytest.approx(math.exp(-0.5))
    assert table.loc[("S01", "1"), "fatigue_k_slope"] == pytest.approx(-0.1)
    assert table.loc[("S02", "4"), "fatigue_k_slope"] == pytest.approx(0.1)
    assert table.loc[("S02", "3"), "cocontraction_truth"] == pytest.approx(30.0)


def test_pain_correlation_is_scipys_pearson_r_per_subject():
    p1 = [0.9, 0.7, 0.5, 0.45]
    p2 = [0.6, 0.65, 0.4, 0.3]
    scored = pd.DataFrame(
        {
            "subject": ["S01"] * 4 + ["S02"] * 4,
            "pain_probability": p1 + p2,
            "pain_effect": EFFECT * 2,
        }
    )
    out = pain_correlation(scored)
    r1, r2 = stats.pearsonr(p1, EFFECT)[0], stats.pearsonr(p2, EFFECT)[0]
    assert out["r_per_subject"]["S01"] == pytest.approx(r1, abs=1e-12)
    assert out["r_per_subject"]["S02"] == pytest.approx(r2, abs=1e-12)
    assert out["r_mean"] == pytest.approx((r1 + r2) / 2, abs=1e-12)


def test_pain_correlation_is_nan_for_a_constant_estimate():
    scored = pd.DataFrame(
        {"subject": ["S01"] * 4, "pain_probability": [0.5] * 4, "pain_effect": EFFECT}
    )
    out = pain_correlation(scored)
    assert math.isnan(out["r_per_subject"]["S01"]) and out["n_subjects_with_r"] == 0


def test_mdf_sign_counts_a_nan_estimate_as_a_miss():
    scored = pd.DataFrame(
        {"mdf_slope": [-2.0, -0.1, 1.0, np.nan, 3.0], "fatigue_k_slope": [-0.1] * 4 + [0.05]}
    )
    out = mdf_sign_agreement(scored)
    assert (out["n_right"], out["n_sessions"], out["n_nan_estimates"]) == (3, 5, 1)
    assert out["fraction"] == pytest.approx(0.6)


def test_cocontraction_rmse_by_hand_and_its_interval_holds_it():
    errors = np.array([1.0, -2.0, 3.0, 0.5, -1.0, 2.0])
    truth = np.array([20.0, 21.0, 22.0, 30.0, 31.0, 32.0])
    scored = pd.DataFrame(
        {
            "subject": ["S01"] * 3 + ["S02"] * 3,
            "cocontraction_measured": truth + errors,
            "cocontraction_truth": truth,
        }
    )
    out = cocontraction_rmse(scored, "cocontraction_measured", n_boot=500)
    assert out["rmse"] == pytest.approx(math.sqrt(np.mean(errors**2)))
    assert out["bias"] == pytest.approx(errors.mean())
    # two subjects: every replicate is one subject's MSE, or both
    s1, s2 = math.sqrt(np.mean(errors[:3] ** 2)), math.sqrt(np.mean(errors[3:] ** 2))
    low, high = out["rmse_ci95"]
    assert min(s1, s2) - 1e-9 <= low <= out["rmse"] <= high <= max(s1, s2) + 1e-9


def test_score_without_reconstruction_says_why_and_with_it_compares():
    truth = _truth()
    n = 8
    measured = [18.0] * n  # off by 2 (S01) and 12 (S02)
    estimates = {
        "pain_probability": [0.9, 0.7, 0.5, 0.45, 0.8, 0.6, 0.5, 0.3],
        "mdf_slope": [-1.0] * n,
        "cocontraction_measured": measured,
    }
    out = score(_indices(estimates), truth, "BIClong")
    assert out["cocontraction"]["with_reconstructed"] is None
    assert out["cocontraction"]["note"] == WITHOUT_RECONSTRUCTED
    assert out["mdf_slope_sign"]["n_right"] == 7  # S02's session 4: k rises
    assert out["cocontraction"]["measured"]["rmse"] == pytest.approx(math.sqrt((4 + 144) / 2))
    estimates["cocontraction_with_reconstructed"] = [21.0] * 4 + [29.0] * 4  # off by 1
    full = score(_indices(estimates), truth, "BIClong")["cocontraction"]["with_reconstructed"]
    assert full["rmse"] == pytest.approx(1.0)
    assert full["rmse_ratio"] == pytest.approx(1.0 / math.sqrt((4 + 144) / 2))
    assert full["rmse_ratio_ci95"][1] < 1.0


def _result(seed: int, measured: float, full: float) -> dict:
    """A result of the benchmark on ``_truth()`` drawn with ``seed``: co-contraction estimates
    constant at ``measured`` (measured only) and ``full`` (with the reconstructed muscles)."""
    estimates = {
        "pain_probability": [0.9, 0.7, 0.5, 0.45, 0.8, 0.6, 0.5, 0.3],
        "mdf_slope": [-1.0] * 8,
        "cocontraction_measured": [measured] * 8,
        "cocontraction_with_reconstructed": [full] * 8,
    }
    return {"synth_seed": seed, **score(_indices(estimates), _truth(), "BIClong")}


def test_pooled_results_keep_each_cohorts_subjects_apart_and_pool_their_errors():
    one, two = _result(1, 18.0, 21.0), _result(2, 22.0, 29.0)
    alone = pooled_scores([one])
    assert alone["pain_index"]["r_per_subject"] == {
        f"seed1/{s}": r for s, r in one["pain_index"]["r_per_subject"].items()
    }
    both = pooled_scores([one, two])
    assert both["pain_index"]["n_subjects_with_r"] == 4
    # truth 20 (S01) and 30 (S02) on average; the errors per session are their offsets
    measured = [2.0, 12.0, 2.0, 8.0]  # seed 1's S01, S02, then seed 2's
    full = [1.0, 9.0, 9.0, 1.0]
    mse = [np.mean(np.square(e)) for e in (measured, full)]
    assert both["cocontraction"]["measured"]["rmse"] == pytest.approx(math.sqrt(mse[0]))
    gain = both["cocontraction"]["with_reconstructed"]
    assert gain["rmse_ratio"] == pytest.approx(math.sqrt(mse[1] / mse[0]))
    assert gain["rmse_ratio_ci95"][0] <= gain["rmse_ratio"] <= gain["rmse_ratio_ci95"][1]
    with pytest.raises(ValueError, match="share a cohort"):
        pooled_scores([one, _result(1, 19.0, 20.0)])


def test_a_training_cohort_of_the_scored_seed_or_beside_a_model_is_refused():
    """--train-seed draws the classifier's bodies: the scored cohort's seed would draw the
    patients themselves (refused before any generation), and a saved model excludes it."""
    assert training_cohort(_arguments([]), 3) == (None, None)  # the embedded cohort
    with pytest.raises(ValueError, match="--train-seed 3 is the scored cohort's seed"):
        training_cohort(_arguments(["--train-seed", "3", "--train-subjects", "2"]), 3)
    with pytest.raises(SystemExit):
        _arguments(["--train-seed", "5", "--model", "model.json"])
