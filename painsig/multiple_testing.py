"""Adjusted p-values for a family of tests: Holm, Bonferroni, Benjamini-Hochberg.

References: Holm S. (1979). A simple sequentially rejective multiple test procedure. Scand J
Stat 6(2):65-70. Benjamini Y., Hochberg Y. (1995). Controlling the false discovery rate. J R
Stat Soc B 57(1):289-300.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["CORRECTIONS", "Correction", "adjust_pvalues"]

Correction = Literal["holm", "bonferroni", "fdr_bh", "none"]
#: The values of :data:`Correction`.
CORRECTIONS: tuple[str, ...] = ("holm", "bonferroni", "fdr_bh", "none")


def adjust_pvalues(p: npt.ArrayLike, method: Correction = "holm") -> np.ndarray:
    """Adjusted p-values for a family of tests, in the input order.

    NaN p-values (tests that could not be run) stay NaN and do not count towards the family
    size m.

    Args:
        p: 1-D p-values in [0, 1] (NaN allowed).
        method: ``"holm"``: Holm (1979) step-down: with p sorted ascending,
            p_adj(i) = max over j <= i of min(1, (m - j + 1) p(j)), so it controls the
            family-wise error rate and is uniformly more powerful than Bonferroni.
            ``"bonferroni"``: min(1, m p). ``"fdr_bh"``: Benjamini & Hochberg (1995) step-up:
            p_adj(i) = min over j >= i of min(1, m p(j) / j). It controls the false discovery
            rate and equals ``scipy.stats.false_discovery_control(p, method="bh")``.
            ``"none"``: p unchanged.

    Returns:
        Float array of the same shape as ``p``.

    Raises:
        ValueError: ``p`` is not 1-D, has values outside [0, 1], or ``method`` is unknown.
    """
    if method not in ("holm", "bonferroni", "fdr_bh", "none"):
        raise ValueError(
            f"correction must be 'holm', 'bonferroni', 'fdr_bh' or 'none', got {method!r}"
        )
    arr = np.asarray(p, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"p-values must be 1-D, got shape {arr.shape}")
    finite = ~np.isnan(arr)
    if np.any((arr[finite] < 0) | (arr[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    out = arr.copy()
    vals = arr[finite]
    m = vals.size
    if m == 0 or method == "none":
        return out
    if method == "bonferroni":
        out[finite] = np.minimum(1.0, m * vals)
        return out
    order = np.argsort(vals, kind="stable")
    ranked = vals[order]
    rank = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1) * ranked))
    else:  # fdr_bh
        adj = np.minimum.accumulate(np.minimum(1.0, ranked * m / rank)[::-1])[::-1]
    result = np.empty(m)
    result[order] = adj
    out[finite] = result
    return out
