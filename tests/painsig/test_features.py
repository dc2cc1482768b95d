"""Tests for painsig.features against antropy, brute force and closed forms."""

from __future__ import annotations

import logging
import math

import antropy
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from painsig import entropy
from painsig.features import (
    FEATURES,
    FeatureError,
    approximate_entropy,
    extract_features,
    mean_absolute_deviation,
    mean_absolute_value,
    mean_frequency,
    median_frequency,
    normalised_peak,
    rms,
    sample_entropy,
    slope_sign_changes,
    time_normalised_integral,
    variance,
    waveform_length,
    zero_crossings,
)

FS = 2000.0
RTOL = 1e-9


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20260101)
    t = np.arange(2000) / FS
    return {
        "white-50": rng.standard_normal(50),
        "white-257": rng.standard_normal(257),
        "white-2000": rng.standard_normal(2000),
        "uniform-1000": rng.random(1000),
        "sine+noise-300": np.sin(2 * np.pi * 40 * t[:300]) + 0.2 * rng.standard_normal(300),
        "sine+noise-2000": np.sin(2 * np.pi * 40 * t) + 0.3 * rng.standard_normal(2000),
        "random-walk-1500": np.cumsum(rng.standard_normal(1500)),
        "quantised-800": np.round(4 * rng.standard_normal(800)),
    }


SIGNALS = _signals()


def _brute_counts(x: np.ndarray, m: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Dense O(N^2) Chebyshev template match counts (self included), lengths m and m + 1."""
    n = x.size
    close = np.abs(x[:, None] - x[None, :]) <= r
    match_m = np.ones((n - m + 1, n - m + 1), dtype=bool)
    for lag in range(m):
        match_m &= close[lag : lag + n - m + 1, lag : lag + n - m + 1]
    match_m1 = match_m[:-1, :-1] & close[m:, m:]
    return match_m.sum(axis=1), match_m1.sum(axis=1)


# --------------------------------------------------------------------------- entropy


@pytest.mark.parametrize("name", sorted(SIGNALS))
@pytest.mark.parametrize("m", [2, 3])
def test_apen_matches_antropy(name: str, m: int) -> None:
    x = SIGNALS[name]
    assert approximate_entropy(x, m=m) == pytest.approx(antropy.app_entropy(x, order=m), rel=RTOL)


@pytest.mark.parametrize("name", sorted(SIGNALS))
@pytest.mark.parametrize("m", [1, 2, 3])
def test_sampen_matches_antropy(name: str, m: int) -> None:
    x = SIGNALS[name]
    expected = antropy.sample_entropy(x, order=m)  # NaN for white-50 at m = 3 (B = 0)
    assert sample_entropy(x, m=m) == pytest.approx(expected, rel=RTOL, nan_ok=True)


@pytest.mark.parametrize("r_factor", [0.1, 0.35])
def test_entropies_custom_r_factor_match_antropy(r_factor: float) -> None:
    x = SIGNALS["sine+noise-2000"]
    r = r_factor * np.std(x, ddof=0)
    assert approximate_entropy(x, r_factor=r_factor) == pytest.approx(
        antropy.app_entropy(x, tolerance=r), rel=RTOL
    )
    assert sample_entropy(x, r_factor=r_factor) == pytest.approx(
        antropy.sample_entropy(x, tolerance=r), rel=RTOL
    )


def test_entropies_long_epoch_match_antropy_kdtree_path() -> None:
    # N >= 5000 uses antropy's KD-tree path for SampEn too, and many blocks in ours.
    x = np.random.default_rng(7).standard_normal(6000)
    assert approximate_entropy(x) == pytest.approx(antropy.app_entropy(x), rel=RTOL)
    assert sample_entropy(x) == pytest.approx(antropy.sample_entropy(x), rel=RTOL)


@settings(max_examples=60, deadline=None)
@given(
    x=hnp.arrays(np.float64, st.integers(4, 150), elements=st.integers(-4, 4).map(float)),
    m=st.integers(1, 3),
    r=st.sampled_from([0.0, 1.0, 2.0]),
)
def test_match_counts_exact_with_ties(x: np.ndarray, m: int, r: float) -> None:
    # Integer data with integer r puts many distances exactly on r (<= r must match).
    counts_m, counts_m1 = entropy._match_counts(x, m, r)
    ref_m, ref_m1 = _brute_counts(x, m, r)
    np.testing.assert_array_equal(counts_m, ref_m)
    np.testing.assert_array_equal(counts_m1, ref_m1)


@pytest.mark.parametrize(
    ("a", "y", "r"),
    [
        (2.739233746429086, 4.5641499070913625, 1.8249161606622761),  # y <= fl(a + r), no match
        (-1.546255576046832, 0.27866058461544424, 1.8249161606622761),  # y > fl(a + r), match
    ],
)
def test_match_counts_exact_at_rounding_boundaries(a: float, y: float, r: float) -> None:
    # Pairs where a window from searchsorted(a +/- r) disagrees with fl(|y - a|) <= r.
    assert (y <= a + r) != (y - a <= r)
    x = np.random.default_rng(1).permutation(np.repeat([a, y, a - 0.5, y + 0.25], 3))
    for m in (1, 2):
        counts_m, counts_m1 = entropy._match_counts(x, m, r)
        ref_m, ref_m1 = _brute_counts(x, m, r)
        np.testing.assert_array_equal(counts_m, ref_m)
        np.testing.assert_array_equal(counts_m1, ref_m1)


def test_match_counts_block_boundaries(monkeypatch: pytest.MonkeyPatch) -> None:
    x = np.random.default_rng(3).standard_normal(300)
    r = 0.2 * np.std(x)
    ref = _brute_counts(x, 2, r)
    for block_words in (1, 7, 64):
        monkeypatch.setattr(entropy, "_BLOCK_WORDS", block_words)
        got = entropy._match_counts(x, 2, r)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_entropies_of_constant_and_edge_cases() -> None:
    x = np.full(100, 3.0)
    assert approximate_entropy(x) == 0.0
    assert sample_entropy(x) == 0.0
    # Strictly increasing with tiny r: no template matches another -> SampEn undefined.
    ramp = np.arange(50.0)
    assert math.isnan(sample_entropy(ramp, r_factor=1e-3))


# --------------------------------------------------------------------------- closed forms


def test_constant_signal_amplitude_features() -> None:
    x = np.full(500, 3.0)
    assert variance(x) == 0.0
    assert mean_absolute_deviation(x) == 0.0
    assert waveform_length(x) == 0.0
    assert zero_crossings(x) == 0
    assert slope_sign_changes(x) == 0
    assert math.isnan(mean_frequency(x, FS))
    assert math.isnan(median_frequency(x, FS))


def test_variance_and_mad_small_example() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert variance(x) == pytest.approx(5.0 / 3.0)
    assert mean_absolute_deviation(x) == pytest.approx(1.0)


def test_square_wave_zero_crossings_and_waveform_length() -> None:
    amp, half, periods = 1.5, 10, 7
    x = np.tile(np.r_[np.full(half, amp), np.full(half, -amp)], periods)
    transitions = 2 * periods - 1
    assert zero_crossings(x) == transitions
    assert waveform_length(x) == pytest.approx(transitions * 2 * amp)
    assert slope_sign_changes(x) == 0  # flat runs are not slope sign changes
    assert zero_crossings(x, threshold=2 * amp) == transitions  # >= threshold counts
    assert zero_crossings(x, threshold=2 * amp + 1e-9) == 0
    assert zero_crossings(np.array([1.0, 0.0, -1.0])) == 0  # exact zero sample: no crossing


def test_triangle_wave_slope_sign_changes() -> None:
    period, periods = 40, 6
    n = np.arange(period * periods)
    x = np.abs((n % period) - period / 2) - period / 4  # extremes at multiples of period / 2
    assert slope_sign_changes(x) == 2 * periods - 1  # interior extremes only
    assert waveform_length(x) == pytest.approx(x.size - 1)  # unit steps
    assert slope_sign_changes(x, threshold=1.0) == 0  # product at each extreme is exactly 1


@pytest.fixture
def sine() -> tuple[np.ndarray, float]:
    amp, per_period, periods = 2.5, 1000, 3
    n = np.arange(per_period * periods)
    return amp * np.sin(2 * np.pi * n / per_period), amp


def test_sine_rms_mav_int_peak(sine: tuple[np.ndarray, float]) -> None:
    x, amp = sine
    assert rms(x) == pytest.approx(amp / math.sqrt(2), rel=1e-12)
    assert mean_absolute_value(x) == pytest.approx(2 * amp / math.pi, rel=1e-5)
    assert time_normalised_integral(x) == pytest.approx(2 / math.pi * amp * 100, rel=1e-5)
    assert time_normalised_integral(x) == pytest.approx(100 * mean_absolute_value(x), rel=1e-15)
    assert normalised_peak(x, mvic=2 * amp) == pytest.approx(0.5, rel=1e-12)
    assert variance(x) == pytest.approx(amp**2 / 2 * x.size / (x.size - 1), rel=1e-12)
    assert mean_absolute_deviation(x) == pytest.approx(2 * amp / math.pi, rel=1e-5)


@pytest.mark.parametrize(
    ("f0", "nperseg"),
    [(125.0, 256), (97.0, 256), (97.0, 512), (333.3, 4000), (40.0, 256)],
)
def test_pure_sine_mean_and_median_frequency(f0: float, nperseg: int) -> None:
    t = np.arange(4000) / FS
    x = 0.7 * np.sin(2 * np.pi * f0 * t + 0.3)
    bin_width = FS / min(nperseg, t.size)
    assert abs(mean_frequency(x, FS, nperseg) - f0) < bin_width
    assert abs(median_frequency(x, FS, nperseg) - f0) < bin_width


def test_bin_centred_sine_mean_frequency_exact() -> None:
    t = np.arange(3000) / FS
    x = np.sin(2 * np.pi * 125.0 * t)  # 125 Hz = bin 16 of a 256-sample Hann segment
    assert mean_frequency(x, FS) == pytest.approx(125.0, rel=1e-9)
    assert median_frequency(x, FS) == 125.0


# --------------------------------------------------------------------------- properties

# Physiological magnitudes: zero or 1e-6 <= |v| <= 1e3, so squares neither under- nor overflow.
_finite = st.one_of(st.just(0.0), st.floats(1e-6, 1e3), st.floats(-1e3, -1e-6))
_epochs = hnp.arrays(np.float64, st.integers(2, 60), elements=_finite)


@settings(max_examples=80, deadline=None)
@given(x=_epochs, c=_finite)
def test_var_mad_invariant_to_offset(x: np.ndarray, c: float) -> None:
    scale = 1.0 + abs(c) + float(np.max(np.abs(x)))
    assert variance(x + c) == pytest.approx(variance(x), abs=1e-9 * scale**2)
    assert mean_absolute_deviation(x + c) == pytest.approx(
        mean_absolute_deviation(x), abs=1e-10 * scale
    )


@settings(max_examples=80, deadline=None)
@given(x=_epochs, c=_finite)
def test_amplitude_scaling_laws(x: np.ndarray, c: float) -> None:
    assert rms(c * x) == pytest.approx(abs(c) * rms(x), rel=1e-9)
    assert mean_absolute_value(c * x) == pytest.approx(abs(c) * mean_absolute_value(x), rel=1e-9)
    assert waveform_length(c * x) == pytest.approx(abs(c) * waveform_length(x), rel=1e-9)
    assert variance(c * x) == pytest.approx(c**2 * variance(x), rel=1e-9, abs=1e-12 * c**2)


# --------------------------------------------------------------------------- extract_features


def test_extract_features_matches_individual_functions() -> None:
    rng = np.random.default_rng(11)
    epochs = [rng.standard_normal(n) * 0.1 for n in (2000, 2600, 4000)]
    df = extract_features(epochs, FS, mvic=0.5)
    assert tuple(df.columns) == FEATURES.names()
    assert df.index.name == "epoch"
    assert list(df.index) == [0, 1, 2]
    x = epochs[1]
    expected = {
        "var": variance(x),
        "mad": mean_absolute_deviation(x),
        "int": time_normalised_integral(x),
        "peak": normalised_peak(x, 0.5),
        "apen": antropy.app_entropy(x),
        "rms": rms(x),
        "mav": mean_absolute_value(x),
        "wl": waveform_length(x),
        "zc": zero_crossings(x),
        "ssc": slope_sign_changes(x),
        "mnf": mean_frequency(x, FS),
        "mdf": median_frequency(x, FS),
        "sampen": antropy.sample_entropy(x),
    }
    for name, value in expected.items():
        assert df.loc[1, name] == pytest.approx(value, rel=RTOL), name
    assert pd.api.types.is_integer_dtype(df["zc"])


def test_extract_features_without_mvic_omits_peak_and_names_subset() -> None:
    epochs = np.random.default_rng(5).standard_normal((3, 400))
    df = extract_features(epochs, FS)
    assert "peak" not in df.columns
    assert tuple(df.columns) == tuple(n for n in FEATURES.names() if n != "peak")
    sub = extract_features(epochs, FS, names=["sampen", "rms"], apen_m=3, apen_r_factor=0.25)
    assert list(sub.columns) == ["sampen", "rms"]
    assert sub.loc[2, "sampen"] == pytest.approx(
        antropy.sample_entropy(epochs[2], order=3, tolerance=0.25 * np.std(epochs[2])), rel=RTOL
    )
    assert sub.loc[0, "rms"] == pytest.approx(rms(epochs[0]))


# --------------------------------------------------------------------------- bad input


def _good(n: int = 200) -> np.ndarray:
    return np.random.default_rng(n).standard_normal(n)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (np.r_[_good(100), np.nan], "NaN"),
        (np.r_[_good(100), np.inf], "infinite"),
        (np.array([]), "empty"),
        (np.array([0.1, 0.2, 0.3]), "too short"),
        (np.ones((10, 2)), "1-D"),
    ],
)
def test_invalid_epoch_raises_with_index(bad: np.ndarray, problem: str) -> None:
    with pytest.raises(FeatureError, match=rf"epoch 2: .*{problem}"):
        extract_features([_good(), _good(300), bad, _good()], FS)


def test_too_short_depends_on_requested_features() -> None:
    short = [np.array([0.1, -0.2, 0.3])]
    assert len(extract_features(short, FS, names=["rms", "var", "zc"])) == 1
    with pytest.raises(FeatureError, match=r"epoch 0: .*too short.*at least 4"):
        extract_features(short, FS, names=["apen"])
    with pytest.raises(FeatureError, match=r"epoch 0: .*too short"):
        extract_features([np.array([1.0])], FS, names=["var"])


@pytest.mark.parametrize("fs", [0.0, -2000.0, math.nan, math.inf])
def test_bad_fs_raises(fs: float) -> None:
    with pytest.raises(FeatureError, match="fs"):
        extract_features([_good()], fs, on_invalid="drop")
    with pytest.raises(FeatureError, match="fs"):
        mean_frequency(_good(), fs)


@pytest.mark.parametrize("mvic", [0.0, -1.0, math.nan])
def test_bad_mvic_raises(mvic: float) -> None:
    with pytest.raises(FeatureError, match="mvic"):
        extract_features([_good()], FS, mvic=mvic)
    with pytest.raises(FeatureError, match="mvic"):
        normalised_peak(_good(), mvic)


def test_bad_options_raise() -> None:
    with pytest.raises(FeatureError, match="requires mvic"):
        extract_features([_good()], FS, names=["peak"])
    with pytest.raises(FeatureError, match="unknown feature"):
        extract_features([_good()], FS, names=["rms", "foo"])
    with pytest.raises(FeatureError, match="on_invalid"):
        extract_features([_good()], FS, on_invalid="skip")  # type: ignore[arg-type]
    with pytest.raises(FeatureError, match="embedding dimension"):
        approximate_entropy(_good(), m=0)
    with pytest.raises(FeatureError, match="r_factor"):
        sample_entropy(_good(), r_factor=-0.1)
    with pytest.raises(FeatureError, match="threshold"):
        zero_crossings(_good(), threshold=math.nan)
    with pytest.raises(FeatureError, match="threshold"):
        extract_features([_good()], FS, ssc_threshold=-1.0)
    with pytest.raises(FeatureError, match="nperseg"):
        median_frequency(_good(), FS, nperseg=0)


def test_individual_functions_reject_bad_epochs() -> None:
    assert issubclass(FeatureError, ValueError)
    with pytest.raises(FeatureError, match="NaN"):
        rms(np.array([1.0, np.nan]))
    with pytest.raises(FeatureError, match="empty"):
        mean_absolute_value([])
    with pytest.raises(FeatureError, match="too short"):
        variance([1.0])
    with pytest.raises(FeatureError, match="too short"):
        approximate_entropy(np.arange(3.0), m=2)


def test_on_invalid_drop_logs_and_keeps_index(caplog: pytest.LogCaptureFixture) -> None:
    epochs = [_good(), np.array([]), np.r_[_good(50), np.nan], _good(300), np.array([1.0, 2.0])]
    with caplog.at_level(logging.WARNING, logger="painsig.features"):
        df = extract_features(epochs, FS, on_invalid="drop")
    assert list(df.index) == [0, 3]
    messages = [rec.getMessage() for rec in caplog.records if rec.name == "painsig.features"]
    assert len(messages) == 3
    assert "dropping epoch 1" in messages[0] and "empty" in messages[0]
    assert "dropping epoch 2" in messages[1] and "NaN" in messages[1]
    assert "dropping epoch 4" in messages[2] and "too short" in messages[2]
    assert df.loc[3, "rms"] == pytest.approx(rms(epochs[3]))


def test_on_invalid_drop_everything_returns_empty_frame() -> None:
    df = extract_features([np.array([np.nan])], FS, names=["rms", "zc"], on_invalid="drop")
    assert df.empty
    assert list(df.columns) == ["rms", "zc"]
    assert df.index.name == "epoch"
