"""Filters against analytic cases: sines in and out of band, known envelopes, derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from nmm.data import DataValidationError, Load, Signal, Trial
from nmm.data.preprocess import (
    BandPass,
    Chain,
    Differentiate,
    Envelope,
    LowPass,
    NormaliseMVIC,
    Notch,
    Rectify,
    Resample,
    align_streams,
    mvic_reference,
    preprocess_trial,
)

FS = 2000.0


def sine(freq, amp=1.0, seconds=4.0, fs=FS, channel="BIClong", unit="mV"):
    t = np.arange(int(seconds * fs)) / fs
    return Signal.uniform(amp * np.sin(2 * np.pi * freq * t), fs, [channel], unit, kind="emg")


def mid(x):
    """Middle half of the record, away from filter edge effects."""
    n = len(x)
    return x[n // 4 : 3 * n // 4]


def amplitude(x):
    return np.sqrt(2) * np.sqrt(np.mean(mid(x) ** 2))


def test_bandpass_passes_in_band_and_rejects_out_of_band():
    bp = BandPass(20, 400, order=4)
    assert amplitude(bp(sine(100))["BIClong"]) == pytest.approx(1.0, abs=1e-3)
    assert amplitude(bp(sine(2))["BIClong"]) < 1e-4
    assert amplitude(bp(sine(900))["BIClong"]) < 1e-3


@pytest.mark.parametrize("order", [2, 4])
def test_lowpass_gain_equals_squared_butterworth_response(order):
    # zero-phase filtfilt applies |H(f)|^2 of the single-pass design: 0.5 at the cut-off
    for f in (5.0, 10.0, 20.0):
        x = sine(f, fs=1000.0, seconds=20.0)
        y = LowPass(10.0, order)(x)["BIClong"]
        sos = sps.butter(order, 10.0, fs=1000.0, output="sos")
        _, h = sps.sosfreqz(sos, worN=[f], fs=1000.0)
        assert amplitude(y) == pytest.approx(abs(h[0]) ** 2, rel=2e-3)
    assert amplitude(
        LowPass(10.0, order)(sine(10.0, fs=1000.0, seconds=20.0))["BIClong"]
    ) == pytest.approx(0.5, rel=2e-3)


def test_zero_phase_lowpass_does_not_shift_a_slow_sine():
    x = sine(1.0, fs=1000.0, seconds=10.0)
    y = LowPass(10.0, 4)(x)["BIClong"]
    np.testing.assert_allclose(mid(y), mid(x["BIClong"]), atol=2e-4)


def test_envelope_of_amplitude_modulated_carrier():
    # carrier 150 Hz, envelope A(t) = 1 + 0.5 sin(2π·1 t); mean of |sin| is 2/π, so the 6 Hz
    # envelope of the rectified signal is (2/π)·A(t)
    t = np.arange(int(8 * FS)) / FS
    a = 1 + 0.5 * np.sin(2 * np.pi * 1.0 * t)
    x = Signal.uniform(a * np.sin(2 * np.pi * 150 * t), FS, ["BIClong"], "mV", kind="emg")
    env = Envelope(6.0, 4)(x)
    assert env.kind == "envelope"
    np.testing.assert_allclose(mid(env["BIClong"]), mid(2 / np.pi * a), atol=5e-3)


def test_notch_removes_powerline_and_keeps_neighbours():
    x = sine(50.0, seconds=8.0)
    assert amplitude(Notch(50.0, 30.0)(x)["BIClong"]) < 1e-3
    assert amplitude(Notch(50.0, 30.0)(sine(120.0, seconds=8.0))["BIClong"]) == pytest.approx(
        1.0, abs=2e-3
    )


def test_rectify_and_mvic_normalisation():
    x = sine(10.0, amp=2.0)
    r = Rectify()(x)
    assert np.all(r.values >= 0)
    n = NormaliseMVIC({"BIClong": 4.0})(r)
    assert n.units == ("1",)
    assert n.values.max() == pytest.approx(0.5, rel=1e-6)
    with pytest.raises(DataValidationError, match="no MVIC reference") as err:
        NormaliseMVIC({"TRIlong": 1.0})(r)
    assert "BIClong" in str(err.value)


def test_resample_preserves_a_sine():
    y = Resample(500.0)(sine(7.0, seconds=4.0))
    assert y.rate == 500.0 and y.n_samples == 2000
    np.testing.assert_allclose(mid(y["BIClong"]), mid(np.sin(2 * np.pi * 7 * y.time)), atol=1e-3)


def test_differentiate_matches_analytic_derivatives():
    fs, w = 100.0, 2 * np.pi * 0.5
    t = np.arange(400) / fs
    angle = Signal.uniform(
        1.0 + 0.6 * np.sin(w * t), fs, ["elbow_flexion"], "rad", kind="kinematics"
    )
    d = Differentiate("elbow_flexion")(angle)
    assert d.units == ("rad", "rad/s", "rad/s^2")
    np.testing.assert_allclose(d["elbow_flexion_speed"], 0.6 * w * np.cos(w * t), atol=2e-3)
    np.testing.assert_allclose(
        mid(d["elbow_flexion_acceleration"]), mid(-0.6 * w**2 * np.sin(w * t)), atol=1e-2
    )


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        (LowPass(1500.0), "above the Nyquist frequency 1000"),
        (BandPass(20.0, 1000.0), "above the Nyquist"),
        (BandPass(400.0, 20.0), "must be below"),
        (LowPass(-5.0), "must be > 0"),
        (LowPass(10.0, order=0), "positive integer"),
        (Notch(1200.0), "above the Nyquist"),
    ],
)
def test_impossible_settings_are_rejected(step, fragment):
    with pytest.raises(DataValidationError, match=fragment):
        step(sine(10.0))


def test_too_short_signal_is_rejected():
    x = Signal.uniform(np.ones((20, 1)), FS, ["BIClong"], "mV", kind="emg", source="short.c3d")
    with pytest.raises(DataValidationError, match="has 20 samples") as err:
        BandPass()(x)
    assert "short.c3d" in str(err.value)


def test_trial_chain_mvic_and_alignment():
    fs = 1000.0
    t = np.arange(int(3 * fs)) / fs
    rng = np.random.default_rng(3)
    raw = Signal.uniform(
        rng.normal(size=(t.size, 2)) * (1 + t[:, None]),
        fs,
        ["BIClong", "TRIlong"],
        "mV",
        kind="emg",
    )
    kin = Signal.uniform(
        0.5 + 0.1 * t[::10], 100.0, ["elbow_flexion"], "rad", start=0.2, kind="kinematics"
    )
    trial = Trial("S01", "t1", emg=raw, kinematics=kin, load=Load(2.0))
    emg_chain = Chain([BandPass(20, 400), Envelope(6.0)])
    kin_chain = Chain([LowPass(10.0), Differentiate()])
    mvic = mvic_reference([trial], emg_chain)
    p = preprocess_trial(trial, emg_chain, kin_chain, mvic=mvic)
    assert p.envelope.units == ("1", "1")
    assert p.envelope.values.max() == pytest.approx(1.0)
    np.testing.assert_allclose(mid(p.velocity), 0.1, atol=1e-6)
    a = align_streams(p, 100.0)
    assert a.envelope.rate == a.kinematics.rate == 100.0
    assert np.array_equal(a.envelope.time, a.kinematics.time)
    assert a.envelope.time[0] == pytest.approx(0.2)
    assert a.emg is raw


def test_envelope_edges_show_the_local_level():
    """A trial that starts and ends mid-contraction: band-passed noise of steady amplitude has
    a steady envelope, which must show at the first and last samples too. (The odd extension
    of scipy's default padding makes the band-passed signal, hence the envelope, start and end
    at 0: the artefact this guards against.) 64 channels averaged, so that the envelope's own
    fluctuation (~6 % at 6 Hz) does not decide the test."""
    rng = np.random.default_rng(3)
    names = [f"ch{k}" for k in range(64)]
    x = Signal.uniform(rng.standard_normal((int(4 * FS), 64)), FS, names, "mV", kind="emg")
    band = BandPass(20.0, 400.0, 4)(x)
    env = Envelope(6.0, 4)(band).values.mean(axis=1)
    level = np.median(env)
    for edge in (env[: int(0.1 * FS)], env[-int(0.1 * FS) :]):
        np.testing.assert_allclose(edge, level, rtol=0.05)
    # the same chain with scipy's default padding
    bp = sps.butter(4, (20.0, 400.0), btype="bandpass", fs=FS, output="sos")
    lp = sps.butter(4, 6.0, fs=FS, output="sos")
    odd = sps.sosfiltfilt(lp, np.abs(sps.sosfiltfilt(bp, x.values, axis=0)), axis=0).mean(axis=1)
    assert odd[0] < 0.2 * level
    with pytest.raises(DataValidationError, match="edge_periods"):
        Envelope(6.0, 4, edge_periods=0.0)(x)


def test_the_nmm_emg_chain_removes_a_mains_floor_under_low_drive():
    """conf/preprocess/msk.yaml: surface EMG at 5 % of full drive (0.3 mV RMS at full drive, band-
    limited Gaussian noise, 20-450 Hz) plus 40 µV of 50 Hz mains. Rectified, the mains would add a
    floor as large as the drive; the chain's notch takes it out."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from nmm.config import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        chain = instantiate(compose(config_name="train").preprocess.emg)
    assert any(isinstance(step, Notch) for step in chain.steps)
    rng = np.random.default_rng(0)
    n = int(8 * FS)
    sos = sps.butter(8, [20.0, 450.0], btype="bandpass", fs=FS, output="sos")
    carrier = sps.sosfilt(sos, rng.standard_normal(n))
    emg = 0.05 * 0.3 * carrier / carrier.std()  # mV
    mains = 0.040 * np.sqrt(2) * np.sin(2 * np.pi * 50.0 * np.arange(n) / FS)  # 40 µV RMS

    def level(x, steps):
        env = Chain(steps)(Signal.uniform(x, FS, ["BIClong"], "mV", kind="emg")).values[:, 0]
        return env[n // 4 : -n // 4].mean()  # away from the ends

    clean = level(emg, chain.steps)
    assert level(emg + mains, chain.steps) == pytest.approx(clean, rel=0.05)
    without_notch = [s for s in chain.steps if not isinstance(s, Notch)]
    assert level(emg + mains, without_notch) > 1.5 * level(emg, without_notch)
