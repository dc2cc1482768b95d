"""Filters against analytic cases: sines in and out of band, known envelopes, derivatives."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from scipy import signal as sps

from nmm.config import CONF_DIR
from nmm.data import DataValidationError, Load, Signal, Trial
from nmm.data.preprocess import (
    STEPS,
    BandPass,
    Chain,
    Differentiate,
    Envelope,
    LowPass,
    NormaliseMVIC,
    Notch,
    PreprocessConfigError,
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
    chain = emg_chain("train")
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


# ----------------------------------------------------------------------------- named steps


def emg_chain(config: str, overrides: tuple[str, ...] = ()) -> Chain:
    """The EMG chain of ``conf/<config>.yaml`` composed with ``overrides``."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return instantiate(compose(config_name=config, overrides=list(overrides)).preprocess.emg)


@pytest.mark.parametrize(
    ("config", "quality", "cutoff_hz"), [("train", 5.0, 6.0), ("painsig_run", 30.0, 50.0)]
)
def test_the_configs_chains_are_the_documented_steps_in_order(config, quality, cutoff_hz):
    """conf/preprocess/{msk,painsig}.yaml: band-pass 20-400 Hz, 50 Hz notch, envelope, each
    order 4, in that order; equal steps give equal envelopes."""
    chain = emg_chain(config)
    assert chain.names == ("bandpass", "notch", "envelope")
    expected = (BandPass(20.0, 400.0, 4), Notch(50.0, quality, 1), Envelope(cutoff_hz, 4))
    assert chain.steps == expected
    x = sine(80.0).with_values(sine(80.0).values + sine(50.0, 0.3).values)
    np.testing.assert_array_equal(chain(x).values, Chain(expected)(x).values)


def test_a_named_override_changes_the_notch():
    chain = emg_chain("train", ("preprocess.emg.steps.notch.freq_hz=60",))
    assert chain.names == ("bandpass", "notch", "envelope")  # the order is kept
    assert chain.steps[1] == Notch(60.0, 5.0, 1)
    hum = sine(60.0, 0.5)  # 60 Hz mains: the 60 Hz notch takes it out, the 50 Hz one does not
    assert amplitude(chain.steps[1](hum).values[:, 0]) < 0.01
    assert amplitude(Notch(50.0, 5.0)(hum).values[:, 0]) > 0.2


@pytest.mark.parametrize(
    "override", ["~preprocess.emg.steps.notch", "preprocess.emg.steps.notch=null"]
)
def test_a_step_is_removed_by_name(override):
    chain = emg_chain("train", (override,))
    assert chain.names == ("bandpass", "envelope")
    assert not any(isinstance(step, Notch) for step in chain.steps)


def test_a_step_is_added_at_the_end_and_two_of_a_kind_take_step():
    chain = emg_chain("train", ("+preprocess.emg.steps.resample={rate_hz:100.0}",))
    assert chain.names[-1] == "resample" and chain.steps[-1] == Resample(100.0)
    two = Chain.from_steps(
        {"smooth": {"step": "lowpass", "cutoff_hz": 10.0}, "lowpass": {"cutoff_hz": 5.0}}
    )
    assert two.named_steps() == [("smooth", LowPass(10.0)), ("lowpass", LowPass(5.0))]


def test_steps_apply_in_the_mappings_order():
    x = sine(80.0).with_values(sine(80.0).values + 0.5)
    rectify_first = Chain.from_steps({"rectify": {}, "bandpass": {}})
    bandpass_first = Chain.from_steps({"bandpass": {}, "rectify": {}})
    assert rectify_first.names == ("rectify", "bandpass")
    np.testing.assert_array_equal(rectify_first(x).values, BandPass()(Rectify()(x)).values)
    np.testing.assert_array_equal(bandpass_first(x).values, Rectify()(BandPass()(x)).values)


@pytest.mark.parametrize(
    ("steps", "key", "message"),
    [
        ({"notchh": {"freq_hz": 60.0}}, "steps.notchh", "unknown preprocessing step 'notchh'"),
        ({"notch": {"freqhz": 60.0}}, "steps.notch.freqhz", "unknown option of notch"),
        ({"notch": {"freq_hz": "sixty"}}, "steps.notch.freq_hz", "'sixty' is not a float"),
        ({"lowpass": {"edge_periods": [1]}}, "steps.lowpass.edge_periods", "is not a float"),
        ({"lowpass": {"order": 2}}, "steps.lowpass.cutoff_hz", "required by lowpass"),
        ({"smooth": {"step": "median"}}, "steps.smooth", "unknown preprocessing step 'median'"),
        ({"notch": 60}, "steps.notch", "options must be a mapping"),
        (["bandpass", "notch"], "steps", "must map step names"),
    ],
)
def test_a_bad_step_is_a_typed_error_naming_its_key(steps, key, message):
    with pytest.raises(PreprocessConfigError, match=message) as err:
        Chain.from_steps(steps)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")


def test_an_unknown_step_in_a_config_names_its_key():
    with pytest.raises(InstantiationException, match=r"steps\.hum: unknown preprocessing step"):
        emg_chain("train", ("+preprocess.emg.steps.hum={freq_hz:60.0}",))


def test_every_registered_step_builds_from_its_defaults():
    required = {"lowpass": {"cutoff_hz": 10.0}, "resample": {"rate_hz": 100.0}}
    for name, cls in STEPS.items():
        assert isinstance(Chain.from_steps({name: required.get(name, {})}).steps[0], cls)
