"""EMG features per epoch (one contraction of one channel) for the pain-signature classifier.

Feature set of Becker et al. (2026), "Can Machines Identify Pain Effects?": the amplitude
features VAR, MAD, INT and normalised peak (after Vonsevych et al.) and approximate entropy,
plus sample entropy and the standard time- and frequency-domain EMG features of Phinyomark
et al. (2012).

Conventions: an epoch ``x`` is a finite float array of shape ``(N,)`` in the units of the
recording (e.g. mV); ``fs`` is the sampling rate in Hz. Amplitude features are in the units of
``x``, counts are dimensionless integers, frequencies are in Hz, entropies are in nats.

Per-feature functions raise :class:`FeatureError` (a :class:`ValueError`) on bad input;
:func:`extract_features` computes any subset of :data:`FEATURE_NAMES` for many epochs at once
and either raises, naming the epoch index, or drops and logs invalid epochs.

Approximate and sample entropy are exact (the same match counts as antropy's KD-tree), but are
computed with a bit-parallel algorithm: for every sample ``i`` the set of samples within ``r``
(Chebyshev, ``|x_i - x_j| <= r``) is a contiguous range of the sorted signal, so each row of
the N x N match matrix is the XOR of two prefix bitsets of the sort order. Template matches of
length m are ANDs of bit-shifted rows and are counted with ``np.bitwise_count``:
O(N^2 / 64) word operations and about N^2 / 8 bytes of memory (2 MB at N = 4000).

References:

- Becker et al. (2026). Can Machines Identify Pain Effects? (feature set).
- Vonsevych et al., as used by Becker et al. (2026) (VAR, MAD, INT, normalised peak).
- Phinyomark A., Phukpattaranont P., Limsakul C. (2012). Feature reduction and selection for
  EMG signal classification. Expert Syst Appl 39(8):7420-7431 (RMS, MAV, WL, ZC, SSC, MNF, MDF).
- Pincus S.M. (1991). Approximate entropy as a measure of system complexity.
  PNAS 88(6):2297-2301 (ApEn).
- Richman J.S., Moorman J.R. (2000). Physiological time-series analysis using approximate
  entropy and sample entropy. Am J Physiol Heart Circ Physiol 278(6):H2039-H2049 (SampEn).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import signal

__all__ = [
    "DEFAULT_NPERSEG",
    "FEATURE_NAMES",
    "FeatureError",
    "approximate_entropy",
    "extract_features",
    "mean_absolute_deviation",
    "mean_absolute_value",
    "mean_frequency",
    "median_frequency",
    "normalised_peak",
    "rms",
    "sample_entropy",
    "slope_sign_changes",
    "time_normalised_integral",
    "variance",
    "waveform_length",
    "zero_crossings",
]

logger = logging.getLogger(__name__)

#: All feature names understood by :func:`extract_features`, in default column order.
FEATURE_NAMES: tuple[str, ...] = (
    "var",
    "mad",
    "int",
    "peak",
    "apen",
    "rms",
    "mav",
    "wl",
    "zc",
    "ssc",
    "mnf",
    "mdf",
    "sampen",
)

#: Default Welch segment length (samples) for MNF/MDF; 128 ms at 2 kHz, bin width fs / 256.
DEFAULT_NPERSEG: int = 256

# Words (uint64) of the match matrix processed per block in the entropy counts: 256 KiB,
# which keeps a block in L2 cache (measured fastest for N = 2000-4000).
_BLOCK_WORDS = 1 << 15


class FeatureError(ValueError):
    """Invalid input for a feature: bad epoch (empty, too short, NaN/inf), fs, MVIC or option."""


# --------------------------------------------------------------------------- validation


def _as_epoch(x: npt.ArrayLike, min_len: int = 1) -> np.ndarray:
    """Return ``x`` as a finite float64 array of shape (N,) with N >= min_len, else raise."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise FeatureError(f"epoch must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise FeatureError("epoch is empty")
    if a.size < min_len:
        raise FeatureError(f"epoch too short: {a.size} samples, need at least {min_len}")
    if not np.isfinite(a).all():
        raise FeatureError("epoch contains NaN or infinite values")
    return a


def _positive(value: float, what: str) -> float:
    """``value`` as a float if it is finite and > 0, else raise naming ``what``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise FeatureError(f"{what} must be a positive finite number, got {value!r}")
    return v


def _check_fs(fs: float) -> float:
    return _positive(fs, "fs (sampling rate, Hz)")


def _check_mvic(mvic: float) -> float:
    return _positive(mvic, "mvic (MVIC amplitude)")


def _check_entropy_params(m: int, r_factor: float) -> None:
    # m + 1 <= 64 keeps every template lag a bit shift within one uint64 word.
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= 63:
        raise FeatureError(f"embedding dimension m must be an integer in 1..63, got {m!r}")
    valid_type = isinstance(r_factor, (int, float, np.integer, np.floating))
    if not (valid_type and 0 <= r_factor < math.inf):
        raise FeatureError(f"r_factor must be a finite number >= 0, got {r_factor!r}")


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 <= value < math.inf:
        raise FeatureError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return value


def _check_nperseg(nperseg: int) -> None:
    if isinstance(nperseg, bool) or not isinstance(nperseg, (int, np.integer)) or nperseg < 1:
        raise FeatureError(f"nperseg must be a positive integer, got {nperseg!r}")


# --------------------------------------------------------------------------- amplitude


def variance(x: npt.ArrayLike) -> float:
    """VAR = sum((x - mean(x))^2) / (N - 1); x shape (N,), N >= 2; units of x squared.

    Source: Vonsevych et al., as used by Becker et al. (2026).
    """
    return _variance(_as_epoch(x, 2))


def _variance(x: np.ndarray) -> float:
    return float(np.var(x, ddof=1))


def mean_absolute_deviation(x: npt.ArrayLike) -> float:
    """MAD = sum(|x - mean(x)|) / N; x shape (N,); units of x.

    Source: Vonsevych et al., as used by Becker et al. (2026).
    """
    return _mad(_as_epoch(x))


def _mad(x: np.ndarray) -> float:
    return float(np.mean(np.abs(x - x.mean())))


def time_normalised_integral(x: npt.ArrayLike) -> float:
    """INT = (integral of |x| dt / epoch duration) * 100; x shape (N,); units of x.

    Source: Vonsevych et al., as used by Becker et al. (2026).

    The integral uses the rectangle rule, each sample standing for one sampling interval
    1/fs, so the epoch lasts N/fs and the integral is sum(|x|)/fs. The sampling rate cancels,
    hence no ``fs`` argument, and INT = 100 * mean(|x|) = 100 * :func:`mean_absolute_value`.
    """
    return _int(_as_epoch(x))


def _int(x: np.ndarray) -> float:
    return 100.0 * _mav(x)


def normalised_peak(x: npt.ArrayLike, mvic: float) -> float:
    """Peak = max(|x|) / mvic; x shape (N,); dimensionless (fraction of MVIC).

    Source: Vonsevych et al., as used by Becker et al. (2026).

    ``mvic`` is the maximal voluntary isometric contraction amplitude of the same channel in
    the units of x and must be positive and finite.
    """
    return _peak(_as_epoch(x), _check_mvic(mvic))


def _peak(x: np.ndarray, mvic: float) -> float:
    return float(np.max(np.abs(x)) / mvic)


def rms(x: npt.ArrayLike) -> float:
    """RMS = sqrt(sum(x^2) / N); x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _rms(_as_epoch(x))


def _rms(x: np.ndarray) -> float:
    return math.sqrt(float(np.dot(x, x)) / x.size)


def mean_absolute_value(x: npt.ArrayLike) -> float:
    """MAV = sum(|x|) / N; x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _mav(_as_epoch(x))


def _mav(x: np.ndarray) -> float:
    return float(np.mean(np.abs(x)))


def waveform_length(x: npt.ArrayLike) -> float:
    """WL = sum_{i=1}^{N-1} |x_i - x_{i-1}|; x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _wl(_as_epoch(x))


def _wl(x: np.ndarray) -> float:
    return float(np.sum(np.abs(np.diff(x))))


def zero_crossings(x: npt.ArrayLike, threshold: float = 0.0) -> int:
    """ZC = #{i : x_i * x_{i+1} < 0 and |x_i - x_{i+1}| >= threshold}; x shape (N,).

    Source: Phinyomark et al. (2012). A sample exactly equal to 0 is not a sign change, so a
    crossing through an exact zero sample is not counted. ``threshold`` is in units of x.
    """
    return _zc(_as_epoch(x), _check_threshold(threshold))


def _zc(x: np.ndarray, threshold: float) -> int:
    a, b = x[:-1], x[1:]
    return int(np.count_nonzero((a * b < 0) & (np.abs(a - b) >= threshold)))


def slope_sign_changes(x: npt.ArrayLike, threshold: float = 0.0) -> int:
    """SSC = #{1 <= i <= N-2 : (x_i - x_{i-1}) * (x_i - x_{i+1}) > threshold}; x shape (N,).

    Source: Phinyomark et al. (2012), who use ``>= threshold``; the strict inequality here
    keeps flat runs (product 0) from counting at the default threshold 0. ``threshold`` is in
    units of x squared.
    """
    return _ssc(_as_epoch(x), _check_threshold(threshold))


def _ssc(x: np.ndarray, threshold: float) -> int:
    mid = x[1:-1]
    return int(np.count_nonzero((mid - x[:-2]) * (mid - x[2:]) > threshold))


# --------------------------------------------------------------------------- spectrum


def mean_frequency(x: npt.ArrayLike, fs: float, nperseg: int = DEFAULT_NPERSEG) -> float:
    """MNF = sum_k f_k P_k / sum_k P_k in Hz; x shape (N,), fs in Hz.

    Source: Phinyomark et al. (2012). P_k at frequencies f_k = k * fs / L is the one-sided
    Welch PSD (``scipy.signal.welch``) with a periodic Hann window of L = min(nperseg, N)
    samples, 50 % overlap and per-segment mean removal; the sums run over all bins
    0 <= f_k <= fs / 2. Returns NaN when the (mean-removed) epoch has zero power.
    """
    _check_nperseg(nperseg)
    return _spectral_frequencies(_as_epoch(x), _check_fs(fs), nperseg)[0]


def median_frequency(x: npt.ArrayLike, fs: float, nperseg: int = DEFAULT_NPERSEG) -> float:
    """MDF = lowest bin frequency f_k with sum_{j<=k} P_j >= sum_j P_j / 2, in Hz.

    Source: Phinyomark et al. (2012). x shape (N,), fs in Hz; P_k and f_k are the Welch PSD
    and bins of :func:`mean_frequency`, so MDF is resolved to one bin, fs / min(nperseg, N).
    Returns NaN when the (mean-removed) epoch has zero power.
    """
    _check_nperseg(nperseg)
    return _spectral_frequencies(_as_epoch(x), _check_fs(fs), nperseg)[1]


def _spectral_frequencies(x: np.ndarray, fs: float, nperseg: int) -> tuple[float, float]:
    """(MNF, MDF) in Hz of a validated epoch from one Welch PSD."""
    f, p = signal.welch(x, fs=fs, window="hann", nperseg=min(nperseg, x.size), detrend="constant")
    cum = np.cumsum(p)
    total = cum[-1]
    if not total > 0:
        return math.nan, math.nan
    mnf = float(np.dot(f, p) / total)
    mdf = float(f[np.searchsorted(cum, 0.5 * total, side="left")])
    return mnf, mdf


# --------------------------------------------------------------------------- entropy


def approximate_entropy(x: npt.ArrayLike, m: int = 2, r_factor: float = 0.2) -> float:
    """ApEn(m, r) = Phi_m(r) - Phi_{m+1}(r) in nats; x shape (N,), N >= m + 2.

    Source: Pincus (1991). Phi_k = mean_i log(C_i^k / (N - k + 1)), where C_i^k counts the
    templates x[j:j+k] (self-match included) with Chebyshev distance max|x[i+l] - x[j+l]| <= r,
    and r = r_factor * std(x) with ddof=0. Identical to ``antropy.app_entropy(x, order=m)``.
    """
    _check_entropy_params(m, r_factor)
    return _entropies(_as_epoch(x, m + 2), m, r_factor)[0]


def sample_entropy(x: npt.ArrayLike, m: int = 2, r_factor: float = 0.2) -> float:
    """SampEn(m, r) = -log(A / B) in nats; x shape (N,), N >= m + 2.

    Source: Richman & Moorman (2000). Over the first N - m templates, B counts pairs i < j of
    length-m templates and A pairs of length-(m+1) templates with Chebyshev distance <= r,
    r = r_factor * std(x) with ddof=0. Returns NaN if B = 0 and inf if A = 0 (antropy's
    convention). Equals ``antropy.sample_entropy(x, order=m)``; antropy's own N < 5000 path
    matches on ``< r`` instead of ``<= r``, which differs only if a distance equals r exactly.
    """
    _check_entropy_params(m, r_factor)
    return _entropies(_as_epoch(x, m + 2), m, r_factor)[1]


def _entropies(x: np.ndarray, m: int, r_factor: float) -> tuple[float, float]:
    """(ApEn, SampEn) of a validated epoch, both from one set of template match counts."""
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


# --------------------------------------------------------------------------- feature table

_SIMPLE: dict[str, Callable[[np.ndarray], float]] = {
    "var": _variance,
    "mad": _mad,
    "int": _int,
    "rms": _rms,
    "mav": _mav,
    "wl": _wl,
}


def _resolve_names(names: Sequence[str] | None, mvic: float | None) -> tuple[str, ...]:
    if names is None:
        return tuple(n for n in FEATURE_NAMES if mvic is not None or n != "peak")
    resolved = tuple(names)
    unknown = sorted(set(resolved) - set(FEATURE_NAMES))
    if unknown:
        raise FeatureError(f"unknown feature names {unknown}; valid names: {FEATURE_NAMES}")
    if len(set(resolved)) != len(resolved):
        raise FeatureError(f"duplicate feature names in {list(resolved)}")
    if not resolved:
        raise FeatureError("names must not be empty")
    if "peak" in resolved and mvic is None:
        raise FeatureError("feature 'peak' requires mvic")
    return resolved


def extract_features(
    epochs: Sequence[npt.ArrayLike] | np.ndarray,
    fs: float,
    mvic: float | None = None,
    names: Sequence[str] | None = None,
    apen_m: int = 2,
    apen_r_factor: float = 0.2,
    *,
    on_invalid: Literal["raise", "drop"] = "raise",
    zc_threshold: float = 0.0,
    ssc_threshold: float = 0.0,
    nperseg: int = DEFAULT_NPERSEG,
) -> pd.DataFrame:
    """Feature table for a sequence of epochs of one channel.

    Args:
        epochs: Epochs (contractions), each array-like of shape (N_k,) in recording units;
            lengths may differ. A 2-D array of shape (n_epochs, N) also works.
        fs: Sampling rate in Hz, > 0.
        mvic: MVIC amplitude of the channel (units of x, > 0) for the ``peak`` feature. With
            ``names=None`` and ``mvic=None`` the ``peak`` column is omitted; requesting
            ``peak`` explicitly without ``mvic`` raises :class:`FeatureError`.
        names: Features to compute, a subset of :data:`FEATURE_NAMES`, in column order;
            ``None`` means all of them (``peak`` only when ``mvic`` is given).
        apen_m: Embedding dimension m of both ``apen`` and ``sampen``.
        apen_r_factor: Tolerance r as a multiple of std(x) (ddof=0) for ``apen`` and ``sampen``.
        on_invalid: For an epoch that is not 1-D, empty, contains NaN/inf or is too short for
            the requested features (N < 2 for ``var``, N < m + 2 for the entropies):
            ``"raise"`` raises :class:`FeatureError` naming the epoch index, ``"drop"`` logs a
            warning with the index and reason and leaves the epoch out. Invalid ``fs``,
            ``mvic`` or options always raise.
        zc_threshold: Amplitude threshold of ``zc`` (units of x).
        ssc_threshold: Threshold of ``ssc`` (units of x squared).
        nperseg: Welch segment length (samples) for ``mnf`` and ``mdf``, clipped to N.

    Returns:
        DataFrame with one row per kept epoch, indexed by the epoch's position in ``epochs``
        (index name ``"epoch"``), and one column per feature, in the order of ``names``.
        ``zc`` and ``ssc`` are integers; the rest are floats (``sampen``, ``mnf`` and ``mdf``
        may be NaN/inf where undefined, see their functions).
    """
    if on_invalid not in ("raise", "drop"):
        raise FeatureError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
    fs = _check_fs(fs)
    mvic_value = math.nan if mvic is None else _check_mvic(mvic)
    cols = _resolve_names(names, mvic)
    _check_entropy_params(apen_m, apen_r_factor)
    _check_nperseg(nperseg)
    zc_threshold = _check_threshold(zc_threshold)
    ssc_threshold = _check_threshold(ssc_threshold)
    min_len = 1
    if "var" in cols:
        min_len = 2
    if "apen" in cols or "sampen" in cols:
        min_len = max(min_len, apen_m + 2)

    rows: list[dict[str, float]] = []
    kept: list[int] = []
    for index, epoch in enumerate(epochs):
        try:
            x = _as_epoch(epoch, min_len)
        except FeatureError as exc:
            if on_invalid == "raise":
                raise FeatureError(f"epoch {index}: {exc}") from exc
            logger.warning("dropping epoch %d: %s", index, exc)
            continue
        row: dict[str, float] = {}
        for name in cols:
            if name in row:
                continue
            if name in ("apen", "sampen"):
                row["apen"], row["sampen"] = _entropies(x, apen_m, apen_r_factor)
            elif name in ("mnf", "mdf"):
                row["mnf"], row["mdf"] = _spectral_frequencies(x, fs, nperseg)
            elif name == "peak":
                row["peak"] = _peak(x, mvic_value)
            elif name == "zc":
                row["zc"] = _zc(x, zc_threshold)
            elif name == "ssc":
                row["ssc"] = _ssc(x, ssc_threshold)
            else:
                row[name] = _SIMPLE[name](x)
        rows.append(row)
        kept.append(index)
    return pd.DataFrame(rows, index=pd.Index(kept, name="epoch", dtype=np.int64), columns=cols)
