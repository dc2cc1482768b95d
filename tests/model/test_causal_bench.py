"""bench_causal's comparison: causal vs offline RMSE over the cells both runs scored, per hidden
muscle and over all, as a ratio of means with a subject-cluster bootstrap CI."""

from __future__ import annotations

import pytest

from benchmarks.bench_causal import TARGET_RATIO, compare


def _cells(rmse: dict[tuple[str, float, str], float]) -> list[dict]:
    rows = [
        {"subject": s, "load_kg": load, "muscle": m, "rmse": v, "pearson_r": 0.9}
        for (s, load, m), v in rmse.items()
    ]
    return [*rows, {"subject": "S1", "load_kg": 0.0, "muscle": None, "torque_r2": 0.9}]


def test_the_ratio_is_of_means_over_the_paired_cells_and_its_ci_covers_it():
    level = {"S1": 0.01, "S2": 0.02, "S3": 0.03}
    factor = {"S1": 1.0, "S2": 1.2, "S3": 1.6}
    offline = {(s, 0.0, m): level[s] for s in level for m in ("BRA", "TRImed")}
    causal = {k: v * factor[k[0]] * (1.0 if k[2] == "BRA" else 0.5) for k, v in offline.items()}
    causal[("S1", 2.0, "BRA")] = 9.0  # a cell the offline run did not score: left out
    out = compare(_cells(offline), _cells(causal), n_boot=200)
    # sum(causal) / sum(offline), not the mean of the cells' ratios (1.27)
    bra = (0.01 * 1.0 + 0.02 * 1.2 + 0.03 * 1.6) / 0.06
    assert out["BRA"]["ratio"] == pytest.approx(bra)
    assert out["TRImed"]["ratio"] == pytest.approx(bra / 2)
    assert out["all"]["ratio"] == pytest.approx(0.75 * bra)
    assert out["all"]["n_cells"] == 6 and out["all"]["n_subjects"] == 3
    lo, hi = out["all"]["ratio_ci95"]
    assert lo < 0.75 * bra < hi
    assert out["TRImed"]["target_met"] and not out["BRA"]["target_met"]
    assert out["all"]["target_ratio"] == TARGET_RATIO


def test_runs_without_a_common_cell_are_refused():
    with pytest.raises(ValueError, match="no hidden-muscle cell in common"):
        compare(_cells({("S1", 0.0, "BRA"): 1.0}), _cells({("S2", 0.0, "BRA"): 1.0}))
