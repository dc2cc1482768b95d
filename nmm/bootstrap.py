"""Subject-cluster bootstrap: the draws, the percentile interval, and a CI of a mean or ratio.

Cells of one subject (its loads, its muscles, its contractions) share its parameters and data,
so they are not independent: whole subjects are drawn with replacement and every cell of a
drawn subject is kept (the cluster bootstrap; Field & Welsh 2007, J R Stat Soc B 69:369). The
NMM's evaluation and comparison (:func:`cluster_bootstrap_ci`) and the pain classifier's
metrics (``painsig.intervals``, from :func:`cluster_counts`) draw the same subjects for the
same seed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["cluster_bootstrap_ci", "cluster_counts", "cluster_draws", "percentile_interval"]


def cluster_draws(
    n_clusters: int, n_boot: int, seed: int | np.random.Generator | None = 0
) -> np.ndarray:
    """``(n_boot, n_clusters)`` indices of the clusters each replicate draws (``n_clusters``
    draws with replacement per replicate). ``seed``: a seed, or a Generator to draw from (its
    state advances, so successive calls draw new subjects)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_clusters, size=(int(n_boot), n_clusters))


def cluster_counts(n_clusters: int, n_boot: int, seed: int | None = 0) -> np.ndarray:
    """``(n_boot, n_clusters)`` multiplicities, float: row b counts how often each cluster was
    drawn in replicate b of :func:`cluster_draws` (same seed, same draws)."""
    draws = cluster_draws(n_clusters, n_boot, seed)
    counts = np.zeros(draws.shape, dtype=np.float64)
    np.add.at(counts, (np.repeat(np.arange(draws.shape[0]), n_clusters), draws.ravel()), 1.0)
    return counts


def percentile_interval(replicates: npt.ArrayLike, confidence: float = 0.95) -> tuple[float, float]:
    """``(low, high)``: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of
    the ``(n,)`` replicates (the percentile interval)."""
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def cluster_bootstrap_ci(
    values: np.ndarray,
    clusters: np.ndarray,
    *,
    denominator: np.ndarray | None = None,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile CI of ``mean(values)``, or of ``sum(values) / sum(denominator)`` (a ratio of
    means over the same cells), resampling whole clusters with replacement.

    Args:
        values: ``(N,)`` values, e.g. paired differences or a method's RMSE per cell.
        clusters: ``(N,)`` cluster label of each value (the subject).
        denominator: ``(N,)``, e.g. the baseline's RMSE on the same cells; None: the mean.
    Returns:
        ``(low, high)``; NaNs when there are fewer than two clusters.
    """
    values = np.asarray(values, dtype=float)
    clusters = np.asarray(clusters)
    den = np.ones_like(values) if denominator is None else np.asarray(denominator, dtype=float)
    if den.shape != values.shape or clusters.shape != values.shape:
        raise ValueError(
            f"values {values.shape}, clusters {clusters.shape} and denominator {den.shape} "
            "must have the same shape"
        )
    names = np.unique(clusters)
    if names.size < 2:
        return (float("nan"), float("nan"))
    sums = np.array([values[clusters == c].sum() for c in names])
    dens = np.array([den[clusters == c].sum() for c in names])
    draws = cluster_draws(names.size, n_boot, seed)
    return percentile_interval(sums[draws].sum(axis=1) / dens[draws].sum(axis=1), confidence)
