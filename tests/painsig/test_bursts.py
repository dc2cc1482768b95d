"""The EMG-only burst detector (painsig.bursts) and its segmenter, on envelopes whose bursts are
known by construction: band-limited Gaussian noise bursts, amplitude-modulated, over baseline
noise, through the project's own band-pass and envelope steps."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sps

from nmm.data import DataValidationError, Signal, Trial
from nmm.data.preprocess import BandPass, Chain, Envelope
from painsig.bursts import BurstDetectionError, BurstDetector
from painsig.segment import EmgBurstSegmenter

RATE = 1000.0  # Hz
RAMP_S = 0.025  # s: each burst's amplitude rises (and falls) linearly over this time
# Hodges & Bui's processing: band-pass, rectify, 50 Hz low-pass (the painsig chain's envelope)
CHAIN = Chain([BandPass(20.0, 400.0, 4), Envelope(50.0, 4)])


def band_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n,) Gaussian noise band-limited to 30-300 Hz, unit SD."""
    sos = sps.butter(4, (30.0, 300.0), btype="bandpass", fs=RATE, output="sos")
    z = sps.sosfilt(sos, rng.standard_normal(n))
    return z / np.std(z)


def burst_emg(seed: int, snr_db: float, onsets, durations, seconds: float = 12.0) -> Signal:
    """Baseline noise plus noise bursts [onset, onset + duration) s whose amplitude ramps over
    RAMP_S and is modulated by ±20 % at 2 Hz; ``snr_db``: burst to baseline power at unit
    modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    amplitude = np.zeros_like(t)
    for t0, d in zip(onsets, durations, strict=True):
        ramp = np.minimum(np.clip((t - t0) / RAMP_S, 0, 1), np.clip((t0 + d - t) / RAMP_S, 0, 1))
        amplitude = np.maximum(amplitude, ramp * (1 + 0.2 * np.sin(2 * np.pi * 2.0 * (t - t0))))
    x = 10 ** (snr_db / 20) * amplitude * band_noise(rng, t.size) + band_noise(rng, t.size)
    return Signal.uniform(x[:, None], RATE, ["BIClong"], "mV", source=f"seed{seed}")


def five_bursts(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (s) every 2 s with jitter and durations 0.4-1.2 s."""
    rng = np.random.default_rng(1000 + seed)
    return 1.0 + 2.0 * np.arange(5) + rng.uniform(0, 0.5, 5), rng.uniform(0.4, 1.2, 5)


def errors(detector: BurstDetector, snr_db: float, seeds) -> tuple[list, list, int]:
    """Onset and offset errors (s) of the detected burst nearest each true one, and the number
    of seeds whose burst count is wrong."""
    on, off, wrong = [], [], 0
    for seed in seeds:
        onsets, durations = five_bursts(seed)
        env = CHAIN(burst_emg(seed, snr_db, onsets, durations))
        found = detector.detect(env["BIClong"], env.rate)
        wrong += len(found) != len(onsets)
        for t0, d in zip(onsets, durations, strict=True):
            k = int(np.argmin(np.abs(found.onset_s - t0)))
            on.append(found.onset_s[k] - t0)
            off.append(found.offset_s[k] - (t0 + d))
    return on, off, wrong


@pytest.mark.parametrize("snr_db", [10.0, 20.0])
def test_onsets_and_offsets_of_known_bursts(snr_db):
    on, off, wrong = errors(BurstDetector(), snr_db, range(40))
    assert np.median(np.abs(on)) <= 0.030
    assert np.median(np.abs(off)) <= 0.030
    assert np.percentile(np.abs(on), 90) <= 0.060
    assert wrong <= 2  # of 40 recordings of 5 bursts


def test_a_rest_period_gives_the_same_accuracy():
    """The first 0.9 s as rest: its SD includes the envelope's slow drift, a higher threshold
    than the quietest windows' and, at 10 dB, an occasional burst split at a modulation
    trough."""
    on, off, wrong = errors(BurstDetector(rest_s=0.9), 10.0, range(20))
    assert np.median(np.abs(on)) <= 0.030
    assert np.median(np.abs(off)) <= 0.030
    assert wrong <= 3


def test_pure_noise_has_almost_no_bursts():
    """False positives on 20 × 30 s of baseline noise alone: fewer than 1 per 10 minutes."""
    detector = BurstDetector()
    found = sum(
        len(detector.detect(CHAIN(burst_emg(seed, 10.0, [], [], 30.0))["BIClong"], RATE))
        for seed in range(20)
    )
    assert found < 1


def square_rest(n: int, mean: float, sd: float) -> np.ndarray:
    """(n,) alternating mean ± sd: mean and (population) SD exactly ``mean`` and ``sd``."""
    return mean + sd * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)


def test_threshold_is_rest_mean_plus_k_sd():
    env = square_rest(2000, 2.0, 0.5)
    env[1500:1800] = 10.0
    base = BurstDetector(k_sd=3.0, rest_s=1.0).baseline(env, RATE)
    assert (base.mean, base.sd, base.threshold) == pytest.approx((2.0, 0.5, 3.5))
    quiet = BurstDetector(k_sd=2.0).baseline(env, RATE)  # the quietest windows: rest too
    assert (quiet.mean, quiet.sd, quiet.threshold) == pytest.approx((2.0, 0.5, 3.0))


def test_duration_rules():
    """Runs above the threshold shorter than min_on_s are dropped; gaps shorter than min_off_s
    merge two bursts."""
    env = square_rest(6000, 1.0, 0.1)
    env[1000:1030] = 5.0  # 30 ms: noise
    env[2000:2060] = 5.0  # 60 ms: a burst
    env[3000:3300] = env[3400:3700] = 5.0  # a 100 ms gap: one burst
    env[4500:4800] = env[5100:5400] = 5.0  # a 300 ms gap: two bursts
    found = BurstDetector(rest_s=0.5, min_on_s=0.05, min_off_s=0.15).detect(env, RATE)
    np.testing.assert_allclose(found.onset_s, [2.0, 3.0, 4.5, 5.1])
    np.testing.assert_allclose(found.offset_s, [2.059, 3.699, 4.799, 5.399])


@pytest.mark.parametrize(
    ("envelope", "rate", "detector", "match"),
    [
        (np.array([]), RATE, BurstDetector(), "non-empty"),
        (np.ones((10, 2)), RATE, BurstDetector(), "1-D"),
        (np.r_[np.ones(900), np.nan, np.ones(99)], RATE, BurstDetector(), "non-finite.*900"),
        (np.ones(1000), 20.0, BurstDetector(), "rate 20 Hz is too low"),
        (np.ones(1000), RATE, BurstDetector(rest_s=2.0), "longer than the envelope"),
        (np.ones(400), RATE, BurstDetector(), "fewer than two noise windows"),
    ],
)
def test_bad_envelopes_raise_typed_errors_naming_file_and_channel(envelope, rate, detector, match):
    with pytest.raises(BurstDetectionError, match=match) as err:
        detector.detect(envelope, rate, source="a.c3d", channel="BIClong")
    assert (err.value.source, err.value.channel) == ("a.c3d", "BIClong")
    assert isinstance(err.value, DataValidationError)


@pytest.mark.parametrize(
    "options", [{"k_sd": 0}, {"rest_s": -1.0}, {"noise_quantile": 0.7}, {"min_on_s": float("nan")}]
)
def test_bad_settings_are_refused_on_construction(options):
    with pytest.raises(ValueError, match=next(iter(options))):
        BurstDetector(**options)


def emg_only_trial(start: float = 2.0) -> Trial:
    """A trial with raw EMG and its envelope and no kinematics; bursts at 1, 3 and 5 s after
    ``start`` (the trial's clock starts at ``start`` s)."""
    emg = burst_emg(7, 20.0, [1.0, 3.0, 5.0], [0.8, 0.6, 0.1], seconds=7.0)
    emg = Signal.uniform(emg.values, RATE, emg.channels, emg.units, start=start)
    return Trial("S01", "t1", emg=emg, envelope=CHAIN(emg), condition="pain", session="2")


def test_emg_burst_segmenter_needs_no_kinematics():
    epochs = EmgBurstSegmenter(agonist="BIClong", min_duration_s=0.2)(emg_only_trial())
    assert len(epochs) == 2  # the 0.1 s burst is shorter than min_duration_s
    for ep, t0, d in zip(epochs, (3.0, 5.0), (0.8, 0.6), strict=True):
        assert ep.start_s == pytest.approx(t0, abs=0.03)
        assert ep.stop_s == pytest.approx(t0 + d, abs=0.03)
        assert (ep.session, ep.condition, ep.metadata["method"]) == ("2", "pain", "emg_bursts")


def test_emg_burst_segmenter_names_a_missing_agonist():
    with pytest.raises(DataValidationError, match="agonist not in the envelope") as err:
        EmgBurstSegmenter(agonist="TRIlong")(emg_only_trial())
    assert err.value.channel == "TRIlong"
