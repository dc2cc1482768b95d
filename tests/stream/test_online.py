"""painsig's indices online: the aligner's time base (late samples, dropped samples filled),
the running co-contraction against its formula, the contractions found chunk by chunk against
the offline burst detector, and a saved classifier's pain probability against features computed
by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nmm.stream.gaps import StreamAligner
from nmm.stream.online import (
    CoContractionSettings,
    OnlineContractions,
    PainScorer,
    RunningCoContraction,
    StreamIndexError,
)
from painsig.bursts import BurstDetector
from painsig.classifier import PainClassifier, SavedModelError
from painsig.segment import EmgBurstSegmenter, Epoch

MUSCLES = ("BIClong", "BRA", "TRIlong", "TRImed")


def test_aligner_keeps_the_time_base_through_jitter_late_and_dropped_samples() -> None:
    emg = StreamAligner("emg", 100.0, 1, interpolate=False)
    t = 50.0 + np.arange(5) / 100.0 + [0.0, 0.004, -0.003, 0.0, 0.002]  # jitter < half a sample
    out, gaps = emg.align(t, np.arange(1.0, 6.0)[:, None], origin_s=50.0)
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3, 4, 5])
    assert gaps == []
    # a late repeat of sample 4, then samples 8 and 9 after three dropped ones
    out, gaps = emg.align(50.0 + np.array([0.04, 0.08, 0.09]), np.array([[9.0], [8], [9]]), 50.0)
    np.testing.assert_array_equal(out[:, 0], [0, 0, 0, 8, 9])  # EMG filled with zeros
    assert emg.n_late == 1
    (gap,) = gaps
    assert (gap.kind, gap.n_filled, gap.start_s, gap.duration_s) == ("dropped", 3, 0.05, 0.03)
    kin = StreamAligner("kinematics", 10.0, 2, interpolate=True)
    kin.align(np.array([0.0]), np.array([[0.0, 10.0]]), 0.0)
    out, gaps = kin.align(np.array([0.4]), np.array([[4.0, 6.0]]), 0.0)
    np.testing.assert_allclose(out, [[1, 9], [2, 8], [3, 7], [4, 6]])  # interpolated
    assert gaps[0].n_filled == 3 and kin.time_s == pytest.approx(0.5)


def test_running_cocontraction_is_falconer_winter_and_rudolph_over_the_window() -> None:
    rng = np.random.default_rng(0)
    env = rng.uniform(0, 1, size=(300, 4))
    running = RunningCoContraction(
        MUSCLES, CoContractionSettings(("BIClong", "BRA"), ("TRIlong", "TRImed"), 1.0), 100.0
    )
    for chunk in np.array_split(env, 37):
        ci, cci = running.push(chunk)
    a, b = env[-100:, :2].mean(axis=1), env[-100:, 2:].mean(axis=1)
    assert ci == pytest.approx(200 * np.minimum(a, b).sum() / (a + b).sum(), rel=1e-12)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    assert cci == pytest.approx(np.mean(lo / hi * (lo + hi)), rel=1e-12)
    ci, cci = running.push(np.zeros((100, 4)))  # both groups silent over the window
    assert math.isnan(ci) and cci == 0.0
    with pytest.raises(StreamIndexError, match="TRIlat"):
        RunningCoContraction(MUSCLES, CoContractionSettings(("BIClong",), ("TRIlat",)), 100.0)


def _bursty_envelope(rate: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    env = 0.02 + 0.003 * rng.standard_normal((round(12 * rate), len(MUSCLES)))
    for start in (2.0, 4.5, 7.0, 9.3):
        a = round(start * rate)
        env[a : a + round(0.6 * rate), 0] += 0.5
    return np.clip(env, 0, 1)


def test_online_contractions_are_the_offline_bursts_each_reported_once_when_complete() -> None:
    rate, env = 100.0, _bursty_envelope()
    segmenter = EmgBurstSegmenter("BIClong", BurstDetector(), min_duration_s=0.2)
    offline = segmenter.detector.detect(env[:, 0], rate)
    online = OnlineContractions(MUSCLES, segmenter, rate, history_s=30.0)
    t = np.arange(env.shape[0]) / rate
    found, reported_at = [], []
    for part in np.array_split(np.arange(env.shape[0]), 211):
        new = online.push(t[part], env[part])
        found += new
        reported_at += [t[part][-1]] * len(new)
    assert len(offline) == 4
    np.testing.assert_allclose([c.onset_s for c in found], offline.onset_s)
    np.testing.assert_allclose([c.offset_s for c in found], offline.offset_s)
    min_off = segmenter.detector.min_off_s
    assert all(at >= c.offset_s + min_off - 1e-9 for c, at in zip(found, reported_at, strict=True))
    assert all(math.isnan(c.probability) for c in found)  # no classifier


def _classifier(tmp_path) -> PainClassifier:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(  # noqa: N806
        rng.normal(size=(40, 3)), columns=["BIClong_rms", "BIClong_mav", "BRA_peak"]
    )
    y = np.where(X["BIClong_rms"] + X["BRA_peak"] > 0, "pain", "baseline")
    fitted = PainClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    return PainClassifier.load(fitted.save(tmp_path / "model.json"))


def test_pain_scorer_applies_the_saved_classifier_to_features_computed_by_hand(tmp_path) -> None:
    model = _classifier(tmp_path)
    scorer = PainScorer(model, "pain", MUSCLES)
    assert scorer.channels == ("BIClong", "BRA")
    x = np.random.default_rng(1).uniform(0, 0.8, size=(50, 2))
    epoch = Epoch("stream", "live", "live", "live", 1.0, 1.49, x, scorer.channels, 100.0)
    by_hand = pd.DataFrame(
        [[np.sqrt(np.mean(x[:, 0] ** 2)), np.mean(np.abs(x[:, 0])), x[:, 1].max()]],
        columns=["BIClong_rms", "BIClong_mav", "BRA_peak"],
    )
    expected = model.predict_proba(by_hand)[0, list(model.classes_).index("pain")]
    assert scorer.probability(epoch) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(SavedModelError, match="BRA_peak"):
        PainScorer(model, "pain", ("BIClong", "TRIlong"))
    with pytest.raises(SavedModelError, match="lack 'placebo'"):
        PainScorer(model, "placebo", MUSCLES)


def test_online_contractions_carry_the_pain_probability(tmp_path) -> None:
    rate, env = 100.0, _bursty_envelope()
    scorer = PainScorer(_classifier(tmp_path), "pain", MUSCLES)
    online = OnlineContractions(MUSCLES, EmgBurstSegmenter("BIClong"), rate, 30.0, scorer)
    found = online.push(np.arange(env.shape[0]) / rate, env)
    assert len(found) == 4 and all(0 <= c.probability <= 1 for c in found)
