"""Onset lags between muscles (painsig.indices.timing) and MVIC-normalised amplitudes
(painsig.indices.amplitude), on bursts and envelopes of known timing and size."""

from __future__ import annotations

import numpy as np
import pytest

from painsig.bursts import Baseline, BurstDetector, Bursts
from painsig.indices.amplitude import mvic_amplitudes
from painsig.indices.timing import onset_lags
from painsig.registry import FeatureError

RATE = 1000.0  # Hz
REST = Baseline(0.0, 0.0, 0.0, "test")


def bursts(onsets) -> Bursts:
    on = np.asarray(onsets, dtype=float)
    return Bursts(on, on + 0.5, REST)


def test_lags_are_the_nearest_onset_within_the_window():
    a = bursts([1.0, 3.0, 5.0, 7.0])
    b = bursts([1.04, 2.98, 7.6])  # +40 ms, −20 ms, none near 5 s, 600 ms late at 7 s
    np.testing.assert_allclose(
        onset_lags(a, b, max_lag_s=0.3), [0.04, -0.02, np.nan, np.nan], atol=1e-12
    )
    assert np.isnan(onset_lags(a, bursts([]), 0.3)).all()
    with pytest.raises(FeatureError, match="max_lag_s"):
        onset_lags(a, b, 0.0)


def envelope(onsets, seconds: float = 8.0) -> np.ndarray:
    """A rest level of 1 ± 0.1 (alternating) with 0.6 s plateaus of 5 at ``onsets`` s."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 1.0 + 0.1 * np.where(np.arange(t.size) % 2 == 0, 1.0, -1.0)
    for t0 in onsets:
        x[(t >= t0) & (t < t0 + 0.6)] = 5.0
    return x


def test_lags_from_the_burst_detector():
    detector = BurstDetector(rest_s=0.5)
    biceps = detector.detect(envelope([1.0, 3.0, 5.0]), RATE)
    brachialis = detector.detect(envelope([1.05, 2.97, 5.1]), RATE)
    np.testing.assert_allclose(onset_lags(biceps, brachialis, 0.25), [0.05, -0.03, 0.1], atol=1e-9)


def test_mvic_amplitudes_of_known_contractions():
    contractions = [np.full(100, 0.2), np.r_[np.full(50, 0.1), np.full(50, 0.5)]]
    out = mvic_amplitudes(contractions, mvic=0.5)
    np.testing.assert_allclose(out.mean, [0.4, 0.6])
    np.testing.assert_allclose(out.peak, [0.4, 1.0])
    with pytest.raises(FeatureError, match="mvic"):
        mvic_amplitudes(contractions, mvic=0.0)
    with pytest.raises(FeatureError, match="no contractions"):
        mvic_amplitudes([], mvic=1.0)
