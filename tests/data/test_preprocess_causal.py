"""The causal form of the preprocessing steps (``Chain.from_steps(steps, causal=True)``,
``preprocess.causal``): no sample depends on a later one, and each step matches an independent
reference (scipy's transfer-function filter, hand-computed differences and indices)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from scipy import signal as sps

from nmm.config import CONF_DIR
from nmm.data import Signal
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
    is_causal,
)

FS = 2000.0
RNG = np.random.default_rng(7)


def emg(seconds: float = 2.0, channels=("BIClong", "TRIlong")) -> Signal:
    n = int(seconds * FS)
    t = np.arange(n) / FS
    burst = 1.0 + np.sin(2 * np.pi * 1.5 * t)[:, None]
    values = burst * RNG.standard_normal((n, len(channels))) + 0.3  # an offset, as raw EMG has
    return Signal.uniform(values, FS, channels, "mV", kind="emg")


def angle(seconds: float = 2.0, fs: float = 250.0) -> Signal:
    t = np.arange(int(seconds * fs)) / fs
    return Signal.uniform(
        0.8 + 0.5 * np.sin(2 * np.pi * 0.7 * t), fs, ["elbow_flexion"], "rad", kind="kinematics"
    )


EMG_STEPS = {
    "bandpass": {"low_hz": 20.0, "high_hz": 400.0},
    "notch": {"freq_hz": 50.0, "quality": 5.0, "harmonics": 3},
    "envelope": {"cutoff_hz": 6.0},
    "resample": {"rate_hz": 100.0},
}
KINEMATICS_STEPS = {
    "lowpass": {"cutoff_hz": 10.0},
    "resample": {"rate_hz": 100.0},
    "differentiate": {"coordinate": "elbow_flexion"},
}


def preprocess_config(overrides=()):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides)).preprocess


def test_the_config_switch_defaults_to_zero_phase_and_sets_every_step():
    default = preprocess_config()
    assert default.causal is False
    for node in (default.emg, default.kinematics):
        chain = instantiate(node)
        assert not any(getattr(step, "causal", False) for step in chain.steps)
    causal = preprocess_config(["preprocess.causal=true"])
    for node in (causal.emg, causal.kinematics):
        chain = instantiate(node)
        assert chain.causal and all(is_causal(step) for step in chain.steps)
    painsig = instantiate(preprocess_config(["preprocess=painsig", "preprocess.causal=true"]).emg)
    assert painsig.causal


def test_default_chain_is_the_zero_phase_one():
    steps = {"bandpass": {}, "notch": {"quality": 5.0}, "envelope": {}}
    assert Chain.from_steps(steps).steps == (BandPass(), Notch(quality=5.0), Envelope())
    assert not Chain.from_steps(steps).causal


@pytest.mark.parametrize(
    ("steps", "make"),
    [(EMG_STEPS, lambda: emg()), (KINEMATICS_STEPS, lambda: angle())],
    ids=["emg", "kinematics"],
)
def test_no_output_sample_depends_on_a_later_input(steps, make):
    chain = Chain.from_steps(steps, causal=True)
    sig = make()
    out = chain(sig)
    cut = sig.n_samples // 2
    future = sig.values.copy()
    future[cut:] = 5.0 * RNG.standard_normal(future[cut:].shape)
    changed = chain(sig.with_values(future))
    before = out.time < sig.time[cut]
    assert before.sum() > 10
    np.testing.assert_array_equal(changed.values[before], out.values[before])
    assert not np.allclose(changed.values[~before], out.values[~before])
    # the zero-phase chain looks ahead
    zero_phase = Chain.from_steps(steps)
    ahead = zero_phase(sig.with_values(future)).values[before]
    assert not np.allclose(ahead, zero_phase(sig).values[before])


@pytest.mark.parametrize(
    ("step", "ba"),
    [
        (LowPass(10.0, order=2, causal=True), sps.butter(2, 10.0, fs=FS)),
        (BandPass(20.0, 400.0, order=2, causal=True), sps.butter(2, (20, 400), "band", fs=FS)),
        (Notch(50.0, 5.0, causal=True), sps.iirnotch(50.0, 5.0, fs=FS)),
    ],
    ids=["lowpass", "bandpass", "notch"],
)
def test_causal_filters_equal_the_transfer_function_filter_from_rest_at_the_first_sample(step, ba):
    sig = emg(1.0)
    b, a = ba
    for j in range(2):
        x = sig.values[:, j]
        reference = sps.lfilter(b, a, x, zi=sps.lfilter_zi(b, a) * x[0])[0]
        np.testing.assert_allclose(step(sig).values[:, j], reference, rtol=1e-8, atol=1e-10)


def test_a_constant_signal_is_the_steady_state_from_its_first_sample():
    const = Signal.uniform(np.full((400, 1), 2.5), FS, ["BIClong"], "mV", kind="emg")
    np.testing.assert_allclose(LowPass(6.0, causal=True)(const).values, 2.5, rtol=1e-12)
    np.testing.assert_allclose(BandPass(causal=True)(const).values, 0.0, atol=1e-12)
    np.testing.assert_allclose(Envelope(causal=True)(const).values, 2.5, rtol=1e-12)


def test_causal_lowpass_has_single_pass_gain_at_the_cutoff():
    fs, fc = 1000.0, 10.0
    t = np.arange(int(20 * fs)) / fs
    x = Signal.uniform(np.sin(2 * np.pi * fc * t), fs, ["a"], "mV")
    y = LowPass(fc, order=4, causal=True)(x).values[len(t) // 2 :, 0]
    assert np.sqrt(2) * np.sqrt(np.mean(y**2)) == pytest.approx(1 / np.sqrt(2), rel=1e-3)


def test_causal_differentiate_takes_backward_differences_from_rest():
    fs = 100.0
    t = np.arange(50) / fs
    sig = Signal.uniform(t**2, fs, ["elbow_flexion"], "rad", kind="kinematics")
    out = Differentiate(causal=True)(sig)
    speed, accel = out["elbow_flexion_speed"], out["elbow_flexion_acceleration"]
    dt = 1 / fs
    # (t_i^2 - t_{i-1}^2) / dt = 2 t_i - dt; the angle before t=0 is constant at 0
    np.testing.assert_allclose(speed[1:], 2 * t[1:] - dt, atol=1e-10)
    assert speed[0] == 0.0 and accel[0] == 0.0
    assert accel[1] == pytest.approx((dt - 0.0) / dt)  # speed jumps from 0 to dt at sample 1
    np.testing.assert_allclose(accel[2:], 2.0, atol=1e-8)
    np.testing.assert_array_equal(out["elbow_flexion"], t**2)


@pytest.mark.parametrize(
    ("fs_in", "n", "fs_out", "indices"),
    [
        (2000.0, 999, 100.0, np.arange(0, 999, 20)),
        (250.0, 19, 100.0, [0, 2, 5, 7, 10, 12, 15, 17]),
        (250.0, 18, 100.0, [0, 2, 5, 7, 10, 12, 15, 17]),  # the last input is output 7's
        (250.0, 17, 100.0, [0, 2, 5, 7, 10, 12, 15]),
        (60.0, 4, 100.0, [0, 0, 1, 1, 2, 3, 3]),  # up: floor(k * 0.6)
    ],
)
def test_causal_resample_holds_the_sample_at_or_before_each_output_time(fs_in, n, fs_out, indices):
    sig = Signal.uniform(np.arange(n, dtype=float), fs_in, ["a"], "1", start=0.5)
    out = Resample(fs_out, causal=True)(sig)
    np.testing.assert_array_equal(out.values[:, 0], indices)
    np.testing.assert_allclose(out.time, 0.5 + np.arange(len(indices)) / fs_out)
    assert out.rate == fs_out
    assert np.all(sig.time[out.values[:, 0].astype(int)] <= out.time + 1e-12)


def test_pointwise_steps_are_causal_as_they_are():
    assert is_causal(Rectify()) and is_causal(NormaliseMVIC({"a": 1.0}))
    assert not is_causal(LowPass(5.0)) and is_causal(LowPass(5.0, causal=True))
    assert Chain.from_steps({"rectify": {}}, causal=True).steps == (Rectify(),)


def test_the_switch_must_be_a_boolean():
    with pytest.raises(PreprocessConfigError, match="must be true or false") as err:
        Chain.from_steps({"rectify": {}}, causal="yes")
    assert err.value.key == "causal"


def test_causal_is_one_switch_not_a_step_option():
    with pytest.raises(PreprocessConfigError, match="whole chain") as err:
        Chain.from_steps({"lowpass": {"cutoff_hz": 5.0, "causal": True}})
    assert err.value.key == "steps.lowpass.causal"


def test_a_step_without_a_causal_form_is_refused_in_a_causal_chain(monkeypatch):
    @dataclass(frozen=True)
    class Median:
        width: int = 3

        def __call__(self, sig: Signal) -> Signal:
            return sig

    monkeypatch.setitem(STEPS, "median", Median)
    assert Chain.from_steps({"median": {}}).steps == (Median(),)
    with pytest.raises(PreprocessConfigError, match="median has no causal form") as err:
        Chain.from_steps({"median": {}}, causal=True)
    assert err.value.key == "steps.median"
