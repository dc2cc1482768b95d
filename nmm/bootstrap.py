"""Subject-cluster bootstrap confidence intervals.

Cells of one subject (its loads, its muscles) share its parameters and data, so they are not
independent: whole subjects are drawn with replacement and every cell of a drawn subject is
kept (the cluster bootstrap; Field & Welsh 2007, J R Stat Soc B 69:369).
"""

from __future__ import annotations

import numpy as np

__all__ = ["cluster_bootstrap_ci"]


def cluster_bootstrap_ci(
    values: np.ndarray,
    clusters: np.ndarray,
    *,
    denominator: np.ndarray | None = None,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
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
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, names.size, size=(int(n_boot), names.size))
    stats = sums[draws].sum(axis=1) / dens[draws].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return (float(low), float(high))
