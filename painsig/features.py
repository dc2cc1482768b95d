"""EMG features per epoch (one contraction of one channel) for the pain-signature classifier.

Feature set of Becker et al. (2026), "Can Machines Identify Pain Effects?": the amplitude
features VAR, MAD, INT and normalised peak (after Vonsevych et al.) and approximate entropy,
plus sample entropy and the standard time- and frequency-domain EMG features of Phinyomark
et al. (2012).

Conventions: an epoch ``x`` is a finite float array of shape ``(N,)`` in the units of the
recording (e.g. mV); ``fs`` is the sampling rate in Hz. Amplitude features are in the units of
``x``, counts are dimensionless integers, frequencies are in Hz, entropies are in nats.

Every feature is one function registered in :data:`FEATURES` (:mod:`painsig.registry`) with
its parameters and validity rules; the public per-feature functions (``rms(x)``, ...) compute
one value and raise :class:`FeatureError` (a :class:`ValueError`) on bad input.
:func:`extract_features` computes any subset of the registered features for many epochs at
once and either raises, naming the epoch index, or drops and logs invalid epochs.

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
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import signal

from painsig.entropy import entropies
from painsig.registry import FeatureError, FeatureInput, FeatureRegistry, Param, as_epoch

__all__ = [
    "DEFAULT_NPERSEG",
    "FEATURES",
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

#: The features :func:`extract_features` knows, in default column order (registration order).
FEATURES = FeatureRegistry()

#: Default Welch segment length (samples) for MNF/MDF; 128 ms at 2 kHz, bin width fs / 256.
DEFAULT_NPERSEG: int = 256


# --------------------------------------------------------------------------- checks


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


def _check_m(m: int) -> int:
    # m + 1 <= 64 keeps every template lag a bit shift within one uint64 word.
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= 63:
        raise FeatureError(f"embedding dimension m must be an integer in 1..63, got {m!r}")
    return m


def _check_r_factor(r_factor: float) -> float:
    valid_type = isinstance(r_factor, (int, float, np.integer, np.floating))
    if not (valid_type and 0 <= r_factor < math.inf):
        raise FeatureError(f"r_factor must be a finite number >= 0, got {r_factor!r}")
    return r_factor


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = math.nan
    if not 0 <= value < math.inf:
        raise FeatureError(f"threshold must be a finite number >= 0, got {threshold!r}")
    return value


def _check_nperseg(nperseg: int) -> int:
    if isinstance(nperseg, bool) or not isinstance(nperseg, (int, np.integer)) or nperseg < 1:
        raise FeatureError(f"nperseg must be a positive integer, got {nperseg!r}")
    return nperseg


# --------------------------------------------------------------------------- parameters

APEN_M = Param("apen_m", 2, "embedding dimension m of ApEn and SampEn (samples)", _check_m)
APEN_R_FACTOR = Param(
    "apen_r_factor", 0.2, "tolerance r of ApEn and SampEn, a multiple of std(x)", _check_r_factor
)
ZC_THRESHOLD = Param(
    "zc_threshold", 0.0, "amplitude threshold of ZC (units of x)", _check_threshold
)
SSC_THRESHOLD = Param(
    "ssc_threshold", 0.0, "threshold of SSC (units of x squared)", _check_threshold
)
NPERSEG = Param(
    "nperseg", DEFAULT_NPERSEG, "Welch segment of MNF/MDF (samples, clipped to N)", _check_nperseg
)


def _entropy_samples(params: dict[str, Any]) -> int:
    """ApEn and SampEn need N >= m + 2 samples."""
    return int(params["apen_m"]) + 2


# --------------------------------------------------------------------------- Becker et al.


def variance(x: npt.ArrayLike) -> float:
    """VAR = sum((x - mean(x))^2) / (N - 1); x shape (N,), N >= 2; units of x squared.

    Source: Vonsevych et al., as used by Becker et al. (2026).
    """
    return _var(FeatureInput(as_epoch(x, 2)))


@FEATURES.feature("var", unit="units of x squared", min_samples=2)
def _var(e: FeatureInput) -> float:
    return float(np.var(e.x, ddof=1))


def mean_absolute_deviation(x: npt.ArrayLike) -> float:
    """MAD = sum(|x - mean(x)|) / N; x shape (N,); units of x.

    Source: Vonsevych et al., as used by Becker et al. (2026).
    """
    return _mad(FeatureInput(as_epoch(x)))


@FEATURES.feature("mad", unit="units of x")
def _mad(e: FeatureInput) -> float:
    return float(np.mean(np.abs(e.x - e.x.mean())))


def time_normalised_integral(x: npt.ArrayLike) -> float:
    """INT = (integral of |x| dt / epoch duration) * 100; x shape (N,); units of x.

    Source: Vonsevych et al., as used by Becker et al. (2026).

    The integral uses the rectangle rule, each sample standing for one sampling interval
    1/fs, so the epoch lasts N/fs and the integral is sum(|x|)/fs. The sampling rate cancels,
    hence no ``fs`` argument, and INT = 100 * mean(|x|) = 100 * :func:`mean_absolute_value`.
    """
    return _int(FeatureInput(as_epoch(x)))


@FEATURES.feature("int", unit="units of x")
def _int(e: FeatureInput) -> float:
    return 100.0 * _mav(e)


def normalised_peak(x: npt.ArrayLike, mvic: float) -> float:
    """Peak = max(|x|) / mvic; x shape (N,); dimensionless (fraction of MVIC).

    Source: Vonsevych et al., as used by Becker et al. (2026).

    ``mvic`` is the maximal voluntary isometric contraction amplitude of the same channel in
    the units of x and must be positive and finite.
    """
    return _peak(FeatureInput(as_epoch(x), reference=_check_mvic(mvic)))


@FEATURES.feature("peak", unit="1 (fraction of MVIC)", needs_reference=True)
def _peak(e: FeatureInput) -> float:
    return float(np.max(np.abs(e.x)) / e.reference)


def approximate_entropy(x: npt.ArrayLike, m: int = 2, r_factor: float = 0.2) -> float:
    """ApEn(m, r) = Phi_m(r) - Phi_{m+1}(r) in nats; x shape (N,), N >= m + 2.

    Source: Pincus (1991). Phi_k = mean_i log(C_i^k / (N - k + 1)), where C_i^k counts the
    templates x[j:j+k] (self-match included) with Chebyshev distance max|x[i+l] - x[j+l]| <= r,
    and r = r_factor * std(x) with ddof=0. Identical to ``antropy.app_entropy(x, order=m)``.
    """
    _check_m(m)
    _check_r_factor(r_factor)
    return entropies(as_epoch(x, m + 2), m, r_factor)[0]


def _entropy_pair(e: FeatureInput) -> tuple[float, float]:
    """(ApEn, SampEn) of the epoch, computed once for both features."""
    return e.shared(
        "entropies", lambda: entropies(e.x, e.params["apen_m"], e.params["apen_r_factor"])
    )


@FEATURES.feature("apen", unit="nats", params=(APEN_M, APEN_R_FACTOR), min_samples=_entropy_samples)
def _apen(e: FeatureInput) -> float:
    return _entropy_pair(e)[0]


# --------------------------------------------------------------------------- Phinyomark et al.


def rms(x: npt.ArrayLike) -> float:
    """RMS = sqrt(sum(x^2) / N); x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _rms(FeatureInput(as_epoch(x)))


@FEATURES.feature("rms", unit="units of x")
def _rms(e: FeatureInput) -> float:
    return math.sqrt(float(np.dot(e.x, e.x)) / e.x.size)


def mean_absolute_value(x: npt.ArrayLike) -> float:
    """MAV = sum(|x|) / N; x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _mav(FeatureInput(as_epoch(x)))


@FEATURES.feature("mav", unit="units of x")
def _mav(e: FeatureInput) -> float:
    return float(np.mean(np.abs(e.x)))


def waveform_length(x: npt.ArrayLike) -> float:
    """WL = sum_{i=1}^{N-1} |x_i - x_{i-1}|; x shape (N,); units of x.

    Source: Phinyomark et al. (2012).
    """
    return _wl(FeatureInput(as_epoch(x)))


@FEATURES.feature("wl", unit="units of x")
def _wl(e: FeatureInput) -> float:
    return float(np.sum(np.abs(np.diff(e.x))))


def zero_crossings(x: npt.ArrayLike, threshold: float = 0.0) -> int:
    """ZC = #{i : x_i * x_{i+1} < 0 and |x_i - x_{i+1}| >= threshold}; x shape (N,).

    Source: Phinyomark et al. (2012). A sample exactly equal to 0 is not a sign change, so a
    crossing through an exact zero sample is not counted. ``threshold`` is in units of x.
    """
    params = {"zc_threshold": _check_threshold(threshold)}
    return _zc(FeatureInput(as_epoch(x), params=params))


@FEATURES.feature("zc", unit="count", params=(ZC_THRESHOLD,))
def _zc(e: FeatureInput) -> int:
    a, b = e.x[:-1], e.x[1:]
    return int(np.count_nonzero((a * b < 0) & (np.abs(a - b) >= e.params["zc_threshold"])))


def slope_sign_changes(x: npt.ArrayLike, threshold: float = 0.0) -> int:
    """SSC = #{1 <= i <= N-2 : (x_i - x_{i-1}) * (x_i - x_{i+1}) > threshold}; x shape (N,).

    Source: Phinyomark et al. (2012), who use ``>= threshold``; the strict inequality here
    keeps flat runs (product 0) from counting at the default threshold 0. ``threshold`` is in
    units of x squared.
    """
    params = {"ssc_threshold": _check_threshold(threshold)}
    return _ssc(FeatureInput(as_epoch(x), params=params))


@FEATURES.feature("ssc", unit="count", params=(SSC_THRESHOLD,))
def _ssc(e: FeatureInput) -> int:
    mid = e.x[1:-1]
    return int(np.count_nonzero((mid - e.x[:-2]) * (mid - e.x[2:]) > e.params["ssc_threshold"]))


def mean_frequency(x: npt.ArrayLike, fs: float, nperseg: int = DEFAULT_NPERSEG) -> float:
    """MNF = sum_k f_k P_k / sum_k P_k in Hz; x shape (N,), fs in Hz.

    Source: Phinyomark et al. (2012). P_k at frequencies f_k = k * fs / L is the one-sided
    Welch PSD (``scipy.signal.welch``) with a periodic Hann window of L = min(nperseg, N)
    samples, 50 % overlap and per-segment mean removal; the sums run over all bins
    0 <= f_k <= fs / 2. Returns NaN when the (mean-removed) epoch has zero power.
    """
    _check_nperseg(nperseg)
    return _spectral_frequencies(as_epoch(x), _check_fs(fs), nperseg)[0]


def median_frequency(x: npt.ArrayLike, fs: float, nperseg: int = DEFAULT_NPERSEG) -> float:
    """MDF = lowest bin frequency f_k with sum_{j<=k} P_j >= sum_j P_j / 2, in Hz.

    Source: Phinyomark et al. (2012). x shape (N,), fs in Hz; P_k and f_k are the Welch PSD
    and bins of :func:`mean_frequency`, so MDF is resolved to one bin, fs / min(nperseg, N).
    Returns NaN when the (mean-removed) epoch has zero power.
    """
    _check_nperseg(nperseg)
    return _spectral_frequencies(as_epoch(x), _check_fs(fs), nperseg)[1]


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


def _spectrum(e: FeatureInput) -> tuple[float, float]:
    """(MNF, MDF) of the epoch, computed once for both features."""
    return e.shared("spectrum", lambda: _spectral_frequencies(e.x, e.fs, e.params["nperseg"]))


@FEATURES.feature("mnf", unit="Hz", params=(NPERSEG,))
def _mnf(e: FeatureInput) -> float:
    return _spectrum(e)[0]


@FEATURES.feature("mdf", unit="Hz", params=(NPERSEG,))
def _mdf(e: FeatureInput) -> float:
    return _spectrum(e)[1]


# --------------------------------------------------------------------------- Richman & Moorman


def sample_entropy(x: npt.ArrayLike, m: int = 2, r_factor: float = 0.2) -> float:
    """SampEn(m, r) = -log(A / B) in nats; x shape (N,), N >= m + 2.

    Source: Richman & Moorman (2000). Over the first N - m templates, B counts pairs i < j of
    length-m templates and A pairs of length-(m+1) templates with Chebyshev distance <= r,
    r = r_factor * std(x) with ddof=0. Returns NaN if B = 0 and inf if A = 0 (antropy's
    convention). Equals ``antropy.sample_entropy(x, order=m)``; antropy's own N < 5000 path
    matches on ``< r`` instead of ``<= r``, which differs only if a distance equals r exactly.
    """
    _check_m(m)
    _check_r_factor(r_factor)
    return entropies(as_epoch(x, m + 2), m, r_factor)[1]


@FEATURES.feature(
    "sampen", unit="nats", params=(APEN_M, APEN_R_FACTOR), min_samples=_entropy_samples
)
def _sampen(e: FeatureInput) -> float:
    return _entropy_pair(e)[1]


# --------------------------------------------------------------------------- many epochs


def extract_features(
    epochs: Sequence[npt.ArrayLike] | np.ndarray,
    fs: float,
    mvic: float | None = None,
    names: Sequence[str] | None = None,
    *,
    on_invalid: Literal["raise", "drop"] = "raise",
    **params: Any,
) -> pd.DataFrame:
    """Feature table for a sequence of epochs of one channel.

    Args:
        epochs: Epochs (contractions), each array-like of shape (N_k,) in recording units;
            lengths may differ. A 2-D array of shape (n_epochs, N) also works.
        fs: Sampling rate in Hz, > 0 (and at least each feature's ``min_rate_hz``).
        mvic: MVIC amplitude of the channel (units of x, > 0), the reference of the features
            that need one (``peak``). With ``names=None`` and ``mvic=None`` those columns are
            omitted; requesting one explicitly without ``mvic`` raises :class:`FeatureError`.
        names: Features to compute, registered in :data:`FEATURES`, in column order; ``None``
            means all of them (those needing a reference only when ``mvic`` is given).
        on_invalid: For an epoch that is not 1-D, empty, contains NaN/inf or is shorter than a
            requested feature's ``min_samples`` (2 for ``var``, m + 2 for the entropies):
            ``"raise"`` raises :class:`FeatureError` naming the epoch index, ``"drop"`` logs a
            warning with the index and reason and leaves the epoch out. Invalid ``fs``,
            ``mvic`` or options always raise.
        params: Feature parameters by key (``FEATURES.params()``): ``apen_m`` and
            ``apen_r_factor`` (m and r / std(x) of ``apen`` and ``sampen``), ``zc_threshold``
            (units of x), ``ssc_threshold`` (units of x squared), ``nperseg`` (Welch segment of
            ``mnf``/``mdf``, samples, clipped to N). Unknown keys raise.

    Returns:
        DataFrame with one row per kept epoch, indexed by the epoch's position in ``epochs``
        (index name ``"epoch"``), and one column per feature, in the order of ``names``.
        ``zc`` and ``ssc`` are integers; the rest are floats (``sampen``, ``mnf`` and ``mdf``
        may be NaN/inf where undefined, see their functions).
    """
    if on_invalid not in ("raise", "drop"):
        raise FeatureError(f"on_invalid must be 'raise' or 'drop', got {on_invalid!r}")
    fs = _check_fs(fs)
    reference = math.nan if mvic is None else _check_mvic(mvic)
    specs = FEATURES.select(names, has_reference=mvic is not None)
    values = FEATURES.checked_params(params)
    FEATURES.check_rate(specs, fs)
    min_len, why = FEATURES.samples_needed(specs, values)
    rows: list[dict[str, float]] = []
    kept: list[int] = []
    for index, epoch in enumerate(epochs):
        try:
            x = as_epoch(epoch, min_len, why)
        except FeatureError as exc:
            if on_invalid == "raise":
                raise FeatureError(f"epoch {index}: {exc}") from exc
            logger.warning("dropping epoch %d: %s", index, exc)
            continue
        item = FeatureInput(x, fs, reference, values)
        rows.append({s.name: s.compute(item) for s in specs})
        kept.append(index)
    cols = [s.name for s in specs]
    return pd.DataFrame(rows, index=pd.Index(kept, name="epoch", dtype=np.int64), columns=cols)
