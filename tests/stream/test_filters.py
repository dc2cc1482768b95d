"""StreamingChain: a causal chain fed chunk by chunk (1 sample to seconds) gives what the same
chain gives offline on the whole signal, for the EMG and the kinematics chains."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from nmm.config import CONF_DIR
from nmm.data import DataValidationError, Signal
from nmm.data.errors import MissingChannelError
from nmm.data.preprocess import (
    Chain,
    Differentiate,
    LowPass,
    NormaliseMVIC,
    PreprocessConfigError,
    Resample,
)
from nmm.stream.filters import STAGES, PointwiseStage, StreamingChain

EMG_RATE = 2000.0
MUSCLES = ("BIClong", "BRA", "TRIlong")


def causal_chains(overrides=()):
    """The EMG and kinematics chains of conf/preprocess/msk.yaml with preprocess.causal=true."""
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", ["preprocess.causal=true", *overrides]).preprocess
        return instantiate(cfg.emg), instantiate(cfg.kinematics)


def emg_chain() -> Chain:
    """band-pass, notch (3 harmonics), rectify, envelope, MVIC normalisation, resample."""
    emg, _ = causal_chains(
        ["preprocess.emg.steps.notch.harmonics=3", "+preprocess.emg.steps.rectify={}"]
    )
    by_name = dict(emg.named_steps())
    names = ("bandpass", "notch", "rectify", "envelope", "mvic", "resample")
    mvic = NormaliseMVIC({"BIClong": 0.8, "BRA": 0.5, "TRIlong": 1.2})
    steps = [*(by_name[n] for n in names[:4]), mvic, Resample(100.0, causal=True)]
    return Chain(steps, names)


def raw_emg(seconds: float, seed: int = 0) -> Signal:
    rng = np.random.default_rng(seed)
    n = int(seconds * EMG_RATE)
    t = np.arange(n) / EMG_RATE
    drive = 0.2 + np.abs(np.sin(2 * np.pi * 0.8 * t))[:, None]
    hum = 0.3 * np.sin(2 * np.pi * 50.0 * t)[:, None]
    values = drive * rng.standard_normal((n, len(MUSCLES))) + hum + 0.1
    return Signal.uniform(values, EMG_RATE, MUSCLES, "mV", kind="emg")


def angle(seconds: float, rate: float) -> Signal:
    t = np.arange(int(seconds * rate)) / rate
    theta = 1.0 + 0.6 * np.sin(2 * np.pi * 0.5 * t) + 0.01 * np.random.default_rng(1).random(t.size)
    return Signal.uniform(theta, rate, ["elbow_flexion"], "rad", kind="kinematics")


def chunk_sizes(n: int, rng: np.random.Generator, largest: int) -> list[int]:
    """Random chunk sizes from 1 sample to ``largest``, log-uniform, summing to n."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(np.exp(rng.uniform(0, np.log(largest)))))
    sizes[-1] -= sum(sizes) - n
    return [s for s in sizes if s > 0]


def streamed(chain: Chain, sig: Signal, sizes: list[int]) -> tuple[StreamingChain, np.ndarray]:
    stream = StreamingChain.from_chain(chain, sig.rate, sig.channels)
    bounds = np.cumsum([0, *sizes])
    parts = [stream.process(sig.values[a:b]) for a, b in itertools.pairwise(bounds)]
    return stream, np.concatenate(parts)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_emg_chain_chunk_by_chunk_equals_the_offline_causal_chain(seed):
    chain, sig = emg_chain(), raw_emg(3.0, seed)
    offline = chain(sig)
    stream, out = streamed(
        chain, sig, chunk_sizes(sig.n_samples, np.random.default_rng(seed), 4000)
    )
    assert stream.out_rate_hz == 100.0 and stream.out_channels == MUSCLES
    assert out.shape == offline.values.shape == (300, 3)
    np.testing.assert_allclose(out, offline.values, rtol=0, atol=1e-10)
    assert offline.values.max() > 0.1  # a real envelope, not zeros


@pytest.mark.parametrize("rate", [250.0, 60.0, 100.0])  # down-, up- and no resampling
def test_kinematics_chain_chunk_by_chunk_equals_the_offline_causal_chain(rate):
    _, kin = causal_chains(["+preprocess.kinematics.steps.resample={rate_hz:100.0}"])
    chain = Chain([kin.steps[0], kin.steps[2], kin.steps[1]], ("lowpass", "resample", "diff"))
    assert isinstance(chain.steps[-1], Differentiate)
    sig = angle(4.0, rate)
    offline = chain(sig)
    for seed in range(3):
        sizes = chunk_sizes(sig.n_samples, np.random.default_rng(seed), int(2 * rate))
        stream, out = streamed(chain, sig, sizes)
        assert stream.out_channels == offline.channels and stream.out_rate_hz == 100.0
        assert out.shape == offline.values.shape
        np.testing.assert_allclose(out, offline.values, rtol=0, atol=1e-10)


def test_one_sample_at_a_time_and_empty_chunks():
    chain, sig = emg_chain(), raw_emg(0.5)
    sizes = [1] * 300 + [0] + [sig.n_samples - 300]
    _, out = streamed(chain, sig, sizes)
    np.testing.assert_allclose(out, chain(sig).values, rtol=0, atol=1e-10)
    fresh = StreamingChain.from_chain(chain, EMG_RATE, MUSCLES)
    assert fresh.process(np.empty((0, 3))).shape == (0, 3)


def test_a_zero_phase_chain_is_refused_naming_the_step():
    zero_phase = Chain.from_steps({"bandpass": {}, "envelope": {}})
    with pytest.raises(PreprocessConfigError, match="zero-phase") as err:
        StreamingChain.from_chain(zero_phase, EMG_RATE, MUSCLES)
    assert err.value.key == "steps.bandpass"


def test_bad_rates_channels_and_chunks_are_refused():
    chain = Chain.from_steps({"lowpass": {"cutoff_hz": 60.0}}, causal=True)
    with pytest.raises(DataValidationError, match="Nyquist"):
        StreamingChain.from_chain(chain, 100.0, ["a"])
    with pytest.raises(DataValidationError, match="rate must be > 0"):
        StreamingChain.from_chain(chain, 0.0, ["a"])
    with pytest.raises(MissingChannelError, match="elbow_flexion"):
        StreamingChain.from_chain(Chain([Differentiate(causal=True)]), 100.0, ["wrist"])
    with pytest.raises(DataValidationError, match="no MVIC reference"):
        StreamingChain.from_chain(Chain([NormaliseMVIC({"a": 1.0})]), 100.0, ["a", "b"])
    stream = StreamingChain.from_chain(chain, 1000.0, ["a", "b"])
    with pytest.raises(ValueError, match=r"must be \(n, 2\)"):
        stream.process(np.zeros((5, 3)))


@dataclass(frozen=True)
class Square:
    """A toy pointwise step: x²."""

    pointwise: ClassVar[bool] = True

    def __call__(self, sig: Signal) -> Signal:
        return sig.with_values(sig.values**2)


def test_a_new_step_streams_through_one_registry_entry(monkeypatch):
    chain = Chain([LowPass(20.0, causal=True), Square()])
    with pytest.raises(PreprocessConfigError, match="Square has no streaming stage"):
        StreamingChain.from_chain(chain, 1000.0, ["a"])
    monkeypatch.setitem(
        STAGES, Square, lambda step, rate, channels: PointwiseStage(np.square, channels, rate)
    )
    sig = angle(1.0, 1000.0).with_values(angle(1.0, 1000.0).values, channels=["a"])
    _, out = streamed(chain, sig, [7, 300, 1, 692])
    np.testing.assert_allclose(out, chain(sig).values, rtol=0, atol=1e-12)
