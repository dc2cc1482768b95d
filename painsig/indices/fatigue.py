"""Spectral fatigue of a session: MNF, MDF and Dimitrov's FInsm5 per contraction, and their
slopes across the session's contractions.

MNF and MDF are the features of :mod:`painsig.features` (Welch PSD, Hann window of
min(nperseg, N) samples). FInsm5 (Dimitrov et al. 2006, Med. Sci. Sports Exerc.
38:1971-1979) is the ratio of the spectral moments of order −1 and 5 over the band [f1, f2]:

    M_k = ∫_{f1}^{f2} f^k P(f) df,    FInsm5 = M_{-1} / M_5    (Hz^-6),

which rises as the spectrum compresses towards low frequencies with fatigue: a spectrum scaled
to s·f (s < 1) multiplies FInsm5 by s^-6. The integrals are trapezoidal over the Welch bins in
the band, on the same PSD as MNF and MDF.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from painsig.features import DEFAULT_NPERSEG, mean_frequency, median_frequency
from painsig.indices.trend import Slope, ols_slope
from painsig.inputs import as_1d
from painsig.registry import FeatureError

__all__ = ["SessionFatigue", "finsm5", "session_fatigue", "spectral_moment"]


def spectral_moment(f: npt.ArrayLike, p: npt.ArrayLike, order: float) -> float:
    """M_k = ∫ f^k P(f) df by the trapezoidal rule; f (n,) Hz, all > 0 and increasing; p (n,)
    power per Hz; returns units of p · Hz^(k + 1)."""
    fv, pv = np.asarray(f, dtype=float), np.asarray(p, dtype=float)
    if fv.ndim != 1 or fv.shape != pv.shape or fv.size < 2:
        raise FeatureError(f"f and p must be 1-D of one length >= 2, got {fv.shape}, {pv.shape}")
    if not (np.all(np.isfinite(fv)) and np.all(np.isfinite(pv))):
        raise FeatureError("f and p must be finite")
    if fv[0] <= 0 or np.any(np.diff(fv) <= 0):
        raise FeatureError("f must be > 0 and increasing")
    return float(np.trapezoid(fv**order * pv, fv))


def finsm5(
    x: npt.ArrayLike, fs: float, band_hz: tuple[float, float], nperseg: int = DEFAULT_NPERSEG
) -> float:
    """Dimitrov's FInsm5 = M_{-1} / M_5 (Hz^-6) of the EMG ``x`` (N,) sampled at ``fs`` Hz,
    over ``band_hz`` = (f1, f2) Hz, 0 < f1 < f2 <= fs / 2 (the recording's pass band)."""
    xv = as_1d(x, "x").astype(float)
    f1, f2 = band_hz
    if not (math.isfinite(fs) and fs > 0):
        raise FeatureError(f"fs must be a positive number of Hz, got {fs!r}")
    if not 0 < f1 < f2 <= fs / 2:
        raise FeatureError(f"band_hz must satisfy 0 < f1 < f2 <= fs/2 = {fs / 2:g}, got {band_hz}")
    if xv.size < 2 or not np.all(np.isfinite(xv)):
        raise FeatureError(f"x must hold 2 or more finite samples, got {xv.size}")
    segment = min(nperseg, xv.size)
    f, p = signal.welch(xv, fs=fs, window="hann", nperseg=segment, detrend="constant")
    inside = (f >= f1) & (f <= f2)
    if inside.sum() < 2:
        raise FeatureError(
            f"band {band_hz} Hz holds {int(inside.sum())} Welch bin(s) of {fs / segment:g} Hz; "
            "widen it or give a longer contraction"
        )
    m5 = spectral_moment(f[inside], p[inside], 5)
    if m5 <= 0:
        raise FeatureError("no power in the band: FInsm5 is undefined")
    return spectral_moment(f[inside], p[inside], -1) / m5


@dataclass(frozen=True)
class SessionFatigue:
    """Per contraction (K,): ``mnf`` and ``mdf`` (Hz), ``finsm5`` (Hz^-6); their OLS slopes
    across the session (``*_slope``: per contraction, or per s when times were given)."""

    mnf: np.ndarray
    mdf: np.ndarray
    finsm5: np.ndarray
    mnf_slope: Slope
    mdf_slope: Slope
    finsm5_slope: Slope


def session_fatigue(
    contractions: Sequence[npt.ArrayLike],
    fs: float,
    band_hz: tuple[float, float],
    times_s: npt.ArrayLike | None = None,
    nperseg: int = DEFAULT_NPERSEG,
    ci: float = 0.95,
) -> SessionFatigue:
    """The fatigue indices of a session: ``contractions``, each the EMG (N_k,) of one
    contraction at ``fs`` Hz in session order; ``times_s`` (K,): their times in the session
    (None: slopes per contraction index)."""
    mnf = np.array([mean_frequency(x, fs, nperseg) for x in contractions])
    mdf = np.array([median_frequency(x, fs, nperseg) for x in contractions])
    fi = np.array([finsm5(x, fs, band_hz, nperseg) for x in contractions])
    return SessionFatigue(
        mnf,
        mdf,
        fi,
        ols_slope(mnf, times_s, ci),
        ols_slope(mdf, times_s, ci),
        ols_slope(fi, times_s, ci),
    )
