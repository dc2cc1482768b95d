"""Paired method comparison against direct computations with numpy and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nmm.compare.paired import paired_differences


def _cells(values: dict[tuple[str, float, str], float]) -> list[dict]:
    return [
        {"subject": s, "load_kg": ld, "muscle": m, "rmse": v} for (s, ld, m), v in values.items()
    ]


def test_paired_differences_on_a_known_offset() -> None:
    subjects, loads, muscles = ["S1", "S2", "S3", "S4", "S5"], [0.0, 2.0], ["BRA", "TRImed"]
    rng = np.random.default_rng(0)
    a = {(s, ld, m): 0.05 + 0.01 * rng.random() for s in subjects for ld in loads for m in muscles}
    b = {k: v + 0.02 + 0.001 * rng.standard_normal() for k, v in a.items()}
    out = paired_differences(_cells(a), _cells(b), n_boot=500)
    d = np.array([b[k] - a[k] for k in a])
    assert out["overall"]["mean_diff"] == pytest.approx(d.mean())
    low, high = out["overall"]["diff_ci"]
    assert 0.0 < low < d.mean() < high
    assert out["overall"]["wilcoxon_p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    assert out["overall"]["a_better_in"] == d.size
    assert set(out["per_muscle"]) == {"BRA", "TRImed"}
    assert out["overall"]["ratio_a_to_b"] == pytest.approx(
        np.mean(list(a.values())) / np.mean(list(b.values()))
    )


def test_no_difference_gives_an_interval_around_zero() -> None:
    rng = np.random.default_rng(3)
    keys = [(f"S{i}", 0.0, "BRA") for i in range(8)]
    a = {k: 0.05 + 0.01 * rng.standard_normal() for k in keys}
    b = {k: 0.05 + 0.01 * rng.standard_normal() for k in keys}
    low, high = paired_differences(_cells(a), _cells(b), n_boot=1000)["overall"]["diff_ci"]
    assert low < 0.0 < high


def test_disjoint_cells_are_an_error() -> None:
    with pytest.raises(ValueError, match="share no scored cell"):
        paired_differences(_cells({("S1", 0.0, "BRA"): 0.1}), _cells({("S2", 0.0, "BRA"): 0.1}))
