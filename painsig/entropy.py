"""Approximate and sample entropy of one epoch from one set of template match counts.

Both are exact (the same match counts as antropy's KD-tree) but computed with a bit-parallel
algorithm: for every sample ``i`` the set of samples within ``r`` (Chebyshev,
``|x_i - x_j| <= r``) is a contiguous range of the sorted signal, so each row of the N x N match
matrix is the XOR of two prefix bitsets of the sort order. Template matches of length m are ANDs
of bit-shifted rows and are counted with ``np.bitwise_count``: O(N^2 / 64) word operations and
about N^2 / 8 bytes of memory (2 MB at N = 4000).

References: Pincus S.M. (1991), PNAS 88(6):2297-2301 (ApEn); Richman J.S., Moorman J.R. (2000),
Am J Physiol Heart Circ Physiol 278(6):H2039-H2049 (SampEn).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["entropies"]

# Words (uint64) of the match matrix processed per block in the entropy counts: 256 KiB,
# which keeps a block in L2 cache (measured fastest for N = 2000-4000).
_BLOCK_WORDS = 1 << 15


def entropies(x: np.ndarray, m: int, r_factor: float) -> tuple[float, float]:
    """(ApEn, SampEn) in nats of a validated epoch x (N,), N >= m + 2, with tolerance
    r = r_factor * std(x) (ddof=0), both from one set of template match counts.

    ApEn = Phi_m - Phi_{m+1}, Phi_k = mean_i log(C_i^k / (N - k + 1)) (Pincus 1991);
    SampEn = -log(A / B) over the first N - m templates, NaN if B = 0, inf if A = 0
    (Richman & Moorman 2000).
    """
    n = x.size
    cm, cm1 = _match_counts(x, m, r_factor * np.std(x, ddof=0))
    apen = float(np.mean(np.log(cm / (n - m + 1))) - np.mean(np.log(cm1 / (n - m))))
    # SampEn counts unordered pairs among the first n - m templates only: drop self-matches
    # and the matches with the last length-m template (index n - m), which by symmetry number
    # cm[n - m] - 1.
    nt = n - m
    b = (int(cm[:nt].sum()) - (int(cm[nt]) - 1) - nt) // 2
    a = (int(cm1.sum()) - nt) // 2
    if b == 0:
        return apen, math.nan
    if a == 0:
        return apen, math.inf
    return apen, -math.log(a / b)


def _window_bounds(xs: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """For the sorted signal xs and each position i, the half-open range [lo_i, hi_i) of
    positions p with fl(|xs[p] - xs[i]|) <= r, exactly as evaluated in floating point.

    fl(xs[p] - xs[i]) is monotone in p, so the range is contiguous; searchsorted on
    xs[i] +/- r gives it up to rounding, and the loops move a wrong bound past whole runs of
    tied values (they rarely run more than once). Sorted queries keep searchsorted cache-local.
    """
    n = xs.size
    hi = np.searchsorted(xs, xs + r, side="right")
    while True:
        at = xs[np.minimum(hi, n - 1)]
        before = xs[np.maximum(hi - 1, 0)]
        grow = (hi < n) & (at - xs <= r)
        shrink = (hi > 0) & ~(before - xs <= r)
        if not (grow.any() or shrink.any()):
            break
        hi[grow] = np.searchsorted(xs, at[grow], side="right")
        hi[shrink] = np.searchsorted(xs, before[shrink], side="left")
    lo = np.searchsorted(xs, xs - r, side="left")
    while True:
        at = xs[np.minimum(lo, n - 1)]
        before = xs[np.maximum(lo - 1, 0)]
        grow = (lo < n) & ~(xs - at <= r)
        shrink = (lo > 0) & (xs - before <= r)
        if not (grow.any() or shrink.any()):
            break
        lo[grow] = np.searchsorted(xs, at[grow], side="right")
        lo[shrink] = np.searchsorted(xs, before[shrink], side="left")
    return lo, hi


def _shift_down(rows: np.ndarray, k: int) -> np.ndarray:
    """Bitsets (rows, words) moved k bits towards bit 0 (bit j+k -> bit j), 0 <= k < 64."""
    if k == 0:
        return rows
    out = rows >> np.uint64(k)
    out[:, :-1] |= rows[:, 1:] << np.uint64(64 - k)
    return out


def _match_counts(x: np.ndarray, m: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-template Chebyshev match counts (self-match included) for template lengths m and
    m + 1: shapes (N - m + 1,) and (N - m,), int64.

    Bit j of row i of the match matrix D is set iff |x_i - x_j| <= r; rows are packed into
    uint64 words, bit j in word j // 64 at position j % 64. Templates i and j match at length
    m iff D[i+l, j+l] for all l < m, i.e. bit j of AND_l (D[i+l] shifted down by l).
    Cost: O(N^2 / 64) word operations; memory ~N^2 / 8 bytes for the prefix bitsets.
    """
    n = x.size
    words = (n + 63) >> 6
    order = np.argsort(x, kind="stable")
    lo, hi = np.empty((2, n), dtype=np.intp)
    lo[order], hi[order] = _window_bounds(x[order], r)
    # prefix[t] = bitset of the samples at sorted positions < t, so D[i] = prefix[hi] ^ prefix[lo].
    prefix = np.zeros((n + 1, words), dtype=np.uint64)
    prefix[np.arange(1, n + 1), order >> 6] = np.uint64(1) << (order & 63).astype(np.uint64)
    np.bitwise_or.accumulate(prefix, axis=0, out=prefix)

    n_m = n - m + 1
    counts_m = np.empty(n_m, dtype=np.int64)
    counts_m1 = np.empty(n_m - 1, dtype=np.int64)
    step = max(1, _BLOCK_WORDS // words)
    for start in range(0, n_m, step):
        stop = min(start + step, n_m)
        rows = slice(start, min(stop + m, n))
        d = prefix[hi[rows]] ^ prefix[lo[rows]]
        match = d[: stop - start].copy()
        for lag in range(1, m):
            match &= _shift_down(d[lag : lag + stop - start], lag)
        counts_m[start:stop] = np.bitwise_count(match).sum(axis=1)
        stop1 = min(stop, n_m - 1)
        if stop1 > start:
            match1 = match[: stop1 - start] & _shift_down(d[m : m + stop1 - start], m)
            counts_m1[start:stop1] = np.bitwise_count(match1).sum(axis=1)
    return counts_m, counts_m1
