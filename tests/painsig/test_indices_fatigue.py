"""Fatigue indices of a session (painsig.indices.fatigue, .trend) against independent
references: closed-form spectral moments, band-limited noise of known spectrum, and the OLS
slope from the normal equations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from painsig.features import mean_frequency, median_frequency
from painsig.indices.fatigue import finsm5, session_fatigue, spectral_moment
from painsig.indices.trend import ols_slope
from painsig.registry import FeatureError

FS = 2000.0  # Hz
BAND = (20.0, 400.0)  # Hz: the analysis band of FInsm5
NPERSEG = 1024  # 1.95 Hz bins


def flat_band_noise(f1: float, f2: float, seconds: float, seed: int) -> np.ndarray:
    """Gaussian noise whose spectrum is flat on [f1, f2] Hz and 0 elsewhere (FFT brick wall)."""
    n = int(seconds * FS)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    spectrum[(f < f1) | (f > f2)] = 0
    return np.fft.irfft(spectrum, n)


def flat_finsm5(f1: float, f2: float) -> float:
    """FInsm5 of a flat PSD on [f1, f2]: ∫ f^-1 df / ∫ f^5 df = 6 ln(f2/f1) / (f2^6 − f1^6)."""
    return 6 * np.log(f2 / f1) / (f2**6 - f1**6)


def test_spectral_moments_match_closed_forms():
    f = np.linspace(10.0, 100.0, 20001)
    p = f**2  # M_k = (100^(k+3) − 10^(k+3)) / (k + 3)
    for k in (-1, 0, 1, 5):
        exact = (100.0 ** (k + 3) - 10.0 ** (k + 3)) / (k + 3)
        assert spectral_moment(f, p, k) == pytest.approx(exact, rel=1e-7)


def test_finsm5_of_band_limited_noise_matches_the_flat_spectrum():
    x = flat_band_noise(50.0, 200.0, 60.0, seed=1)
    assert finsm5(x, FS, BAND, NPERSEG) == pytest.approx(flat_finsm5(50.0, 200.0), rel=0.05)


def test_finsm5_rises_as_the_spectrum_compresses():
    """A spectrum scaled to s·f multiplies FInsm5 by s^-6 (Dimitrov et al. 2006)."""
    scales = (1.0, 0.9, 0.8, 0.7)
    fi = [finsm5(flat_band_noise(50 * s, 200 * s, 60.0, seed=2), FS, BAND, NPERSEG) for s in scales]
    assert np.all(np.diff(fi) > 0)
    np.testing.assert_allclose(np.array(fi) / fi[0], np.array(scales) ** -6.0, rtol=0.05)


def test_a_session_whose_spectrum_compresses_has_falling_mdf_and_rising_finsm5():
    scales = np.linspace(1.0, 0.75, 12)  # the spectrum slides down over 12 contractions
    contractions = [flat_band_noise(60 * s, 250 * s, 1.5, seed=k) for k, s in enumerate(scales)]
    out = session_fatigue(contractions, FS, BAND, nperseg=256)
    assert out.mdf_slope.high < 0 and out.mnf_slope.high < 0
    assert out.finsm5_slope.low > 0
    # MNF and MDF are painsig's features, unchanged
    assert out.mnf[3] == mean_frequency(contractions[3], FS, 256)
    assert out.mdf[3] == median_frequency(contractions[3], FS, 256)
    # the MNF of a flat band is its centre: 155 Hz · s
    np.testing.assert_allclose(out.mnf, 155 * scales, rtol=0.05)
    times = 10.0 * np.arange(12)  # one contraction every 10 s: slope per s
    per_s = session_fatigue(contractions, FS, BAND, times_s=times, nperseg=256)
    assert per_s.mnf_slope.slope == pytest.approx(out.mnf_slope.slope / 10.0)


def test_finsm5_refuses_bad_input():
    x = flat_band_noise(50.0, 200.0, 1.0, seed=3)
    for band in ((0.0, 400.0), (400.0, 20.0), (20.0, 1500.0)):
        with pytest.raises(FeatureError, match="band_hz"):
            finsm5(x, FS, band)
    with pytest.raises(FeatureError, match="finite"):
        finsm5(np.r_[x[:100], np.nan], FS, BAND)
    with pytest.raises(FeatureError, match="Welch bin"):
        finsm5(x[:8], FS, (20.0, 30.0))


def normal_equations(x: np.ndarray, y: np.ndarray, ci: float) -> tuple[float, float, float]:
    """Slope and its interval from (XᵀX)⁻¹Xᵀy and σ²(XᵀX)⁻¹, X = [1, x]."""
    X = np.column_stack([np.ones_like(x), x])  # noqa: N806
    inv = np.linalg.inv(X.T @ X)
    beta = inv @ X.T @ y
    sigma2 = np.sum((y - X @ beta) ** 2) / (x.size - 2)
    half = stats.t.ppf(0.5 + ci / 2, x.size - 2) * np.sqrt(sigma2 * inv[1, 1])
    return beta[1], beta[1] - half, beta[1] + half


def test_ols_slope_matches_the_normal_equations_and_drops_nans():
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0, 60, 15))
    y = 80.0 - 0.3 * x + rng.normal(0, 2.0, 15)
    fit = ols_slope(y, x, ci=0.9)
    assert (fit.slope, fit.low, fit.high) == pytest.approx(normal_equations(x, y, 0.9), rel=1e-10)
    assert fit.n == 15
    with_nan = ols_slope(np.r_[y, np.nan], np.r_[x, 70.0], ci=0.9)
    assert with_nan == fit
    assert ols_slope([1.0, 3.0, 5.0, 7.0]).slope == pytest.approx(2.0)  # per contraction


def test_ols_interval_covers_the_true_slope_at_its_level():
    rng = np.random.default_rng(5)
    x = np.arange(10.0)
    covered = [
        (fit := ols_slope(1.0 + 0.5 * x + rng.normal(0, 1.0, 10), x)).low <= 0.5 <= fit.high
        for _ in range(2000)
    ]
    assert np.mean(covered) == pytest.approx(0.95, abs=0.015)


@pytest.mark.parametrize(
    ("y", "x", "ci", "match"),
    [
        ([1.0, 2.0], None, 0.95, "3 or more"),
        ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], 0.95, "constant"),
        ([1.0, np.inf, 3.0], None, 0.95, "inf"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], 0.95, "one length"),
        ([1.0, 2.0, 3.0], None, 1.0, "ci"),
    ],
)
def test_ols_slope_refuses_bad_input(y, x, ci, match):
    with pytest.raises(FeatureError, match=match):
        ols_slope(y, x, ci)
