"""Subject-cluster bootstrap against an explicit resampling loop."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.bootstrap import cluster_bootstrap_ci, cluster_counts, cluster_draws, percentile_interval

CLUSTERS = np.repeat(["A", "B", "C", "D"], [3, 5, 2, 4])


def _draws(seed: int, n_boot: int) -> np.ndarray:
    names = np.unique(CLUSTERS)
    return np.random.default_rng(seed).integers(0, names.size, size=(n_boot, names.size))


def _pick(x: np.ndarray, draw: np.ndarray) -> np.ndarray:
    names = np.unique(CLUSTERS)
    return np.concatenate([x[names[i] == CLUSTERS] for i in draw])


def test_cluster_bootstrap_of_a_mean_matches_an_explicit_resampling_loop() -> None:
    values = np.random.default_rng(1).normal(size=CLUSTERS.size)
    low, high = cluster_bootstrap_ci(values, CLUSTERS, n_boot=500, seed=7)
    means = [_pick(values, d).mean() for d in _draws(7, 500)]
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])))
    assert low < values.mean() < high


def test_cluster_bootstrap_of_a_ratio_of_means_matches_an_explicit_resampling_loop() -> None:
    rng = np.random.default_rng(2)
    base = 0.05 + 0.02 * rng.random(CLUSTERS.size)
    model = 0.6 * base * (1.0 + 0.2 * rng.standard_normal(CLUSTERS.size))
    low, high = cluster_bootstrap_ci(model, CLUSTERS, denominator=base, n_boot=400, seed=3)
    ratios = [_pick(model, d).mean() / _pick(base, d).mean() for d in _draws(3, 400)]
    assert (low, high) == pytest.approx(tuple(np.quantile(ratios, [0.025, 0.975])))
    assert low < model.mean() / base.mean() < high
    assert np.isnan(cluster_bootstrap_ci(model[:3], CLUSTERS[:3])[0])  # one cluster: no CI
    with pytest.raises(ValueError, match="same shape"):
        cluster_bootstrap_ci(model, CLUSTERS, denominator=base[:3])


def test_cluster_counts_count_the_draws_of_the_same_seed() -> None:
    draws = cluster_draws(5, 40, seed=2)
    counts = cluster_counts(5, 40, seed=2)
    assert counts.shape == (40, 5) and np.all(counts.sum(axis=1) == 5)
    for row, drawn in zip(counts, draws, strict=True):
        assert np.array_equal(row, np.bincount(drawn, minlength=5))


def test_percentile_interval_is_the_central_quantile_range() -> None:
    reps = np.arange(101.0)
    assert percentile_interval(reps, 0.9) == pytest.approx((5.0, 95.0))
