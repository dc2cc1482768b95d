"""A causal preprocessing chain run on a stream, chunk by chunk.

:class:`StreamingChain` turns a causal :class:`~nmm.data.preprocess.Chain` (built with
``Chain.from_steps(steps, causal=True)``, config ``preprocess.causal: true``) into stages that
carry their state between chunks: the filters their ``sosfilt`` state (initialised, as offline,
at the steady state of the first sample), the resampler its sample counts, the differentiator
the previous angle and speed. The outputs of successive chunks, concatenated, equal the chain
applied offline to the whole signal (to rounding).

A step type streams through one entry in :data:`STAGES` (its class -> a builder of its stage);
the shipped steps are all registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

import numpy as np
from scipy import signal as sps

from nmm.data.errors import DataValidationError, MissingChannelError
from nmm.data.preprocess import (
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
    Step,
    backward_differences,
    held_indices,
    is_causal,
    sos_initial_state,
)


class Stage(Protocol):
    """One step on a stream: ``process`` maps a chunk (n, C_in) to (n_out, C_out) and keeps
    what it needs of the past. ``channels``: the output channels; ``rate_hz``: the output rate."""

    channels: tuple[str, ...]
    rate_hz: float

    def process(self, values: np.ndarray) -> np.ndarray: ...


#: A step's stage: ``(step, input rate (Hz), input channels) -> Stage``.
StageBuilder = Callable[[Any, float, tuple[str, ...]], Stage]

#: How each step type streams: step class -> :data:`StageBuilder`.
STAGES: dict[type, StageBuilder] = {}


def register_stage(step_type: type) -> Callable[[StageBuilder], StageBuilder]:
    """Decorator: ``builder`` streams the steps of ``step_type`` (:data:`STAGES`)."""

    def register(builder: StageBuilder) -> StageBuilder:
        STAGES[step_type] = builder
        return builder

    return register


@dataclass
class SosStage:
    """Forward-only second-order-section filter with its state carried between chunks; the
    first chunk starts from the steady state of its first sample (``sos_initial_state``), as
    :func:`nmm.data.preprocess.causal_sosfilt`. ``rectify``: |x| first; ``clip_negative``:
    outputs below 0 set to 0 (the envelope)."""

    sos: np.ndarray
    channels: tuple[str, ...]
    rate_hz: float
    rectify: bool = False
    clip_negative: bool = False
    state: np.ndarray | None = field(default=None, repr=False)

    def process(self, values: np.ndarray) -> np.ndarray:
        x = np.abs(values) if self.rectify else values
        if x.shape[0] == 0:
            return x
        if self.state is None:
            self.state = sos_initial_state(self.sos, x[0])
        y, self.state = sps.sosfilt(self.sos, x, axis=0, zi=self.state)
        return np.clip(y, 0.0, None) if self.clip_negative else y


@dataclass
class PointwiseStage:
    """A stateless sample-by-sample map, (n, C) -> (n, C)."""

    function: Callable[[np.ndarray], np.ndarray]
    channels: tuple[str, ...]
    rate_hz: float

    def process(self, values: np.ndarray) -> np.ndarray:
        return self.function(values)


@dataclass
class HoldStage:
    """Causal resampling (:class:`~nmm.data.preprocess.Resample`): output sample k is input
    sample ``floor(k / ratio)``, emitted once that input has arrived. ``ratio``: output over
    input rate; counts of the inputs seen and outputs given so far."""

    ratio: Fraction
    channels: tuple[str, ...]
    rate_hz: float
    n_in: int = 0
    n_out: int = 0

    def process(self, values: np.ndarray) -> np.ndarray:
        indices = held_indices(self.n_out, self.n_in + values.shape[0], self.ratio) - self.n_in
        self.n_in += values.shape[0]
        self.n_out += indices.size
        return values[indices]


@dataclass
class DifferenceStage:
    """Causal differentiation (:class:`~nmm.data.preprocess.Differentiate`) of input column
    ``column``: angle, speed and acceleration (n, 3), continuing from the previous chunk's last
    angle and speed (before the first sample: the first angle, speed 0)."""

    column: int
    channels: tuple[str, ...]
    rate_hz: float
    previous: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def process(self, values: np.ndarray) -> np.ndarray:
        angle = values[:, self.column]
        if angle.size == 0:
            return np.empty((0, 3))
        if self.previous is None:
            self.previous = (angle[:1], np.zeros(1))
        speed, accel = backward_differences(angle, *self.previous, self.rate_hz)
        self.previous = (angle[-1:], speed[-1:])
        return np.column_stack([angle, speed, accel])


def _sos_stage(step: BandPass | LowPass | Notch, rate_hz: float, channels: tuple[str, ...]):
    return SosStage(step.design(rate_hz), channels, rate_hz)


for _filter_type in (BandPass, LowPass, Notch):
    register_stage(_filter_type)(_sos_stage)


@register_stage(Envelope)
def _envelope_stage(step: Envelope, rate_hz: float, channels: tuple[str, ...]) -> SosStage:
    sos = step.lowpass().design(rate_hz)
    return SosStage(sos, channels, rate_hz, rectify=True, clip_negative=step.clip_negative)


@register_stage(Rectify)
def _rectify_stage(step: Rectify, rate_hz: float, channels: tuple[str, ...]) -> PointwiseStage:
    return PointwiseStage(np.abs, channels, rate_hz)


@register_stage(NormaliseMVIC)
def _mvic_stage(step: NormaliseMVIC, rate_hz: float, channels: tuple[str, ...]) -> PointwiseStage:
    references = step.references(channels)
    return PointwiseStage(lambda values: values / references, channels, rate_hz)


@register_stage(Resample)
def _resample_stage(
    step: Resample, rate_hz: float, channels: tuple[str, ...]
) -> HoldStage | PointwiseStage:
    ratio = step.ratio(rate_hz)
    if ratio is None:  # same rate: the step passes the signal through
        return PointwiseStage(lambda values: values, channels, rate_hz)
    return HoldStage(ratio, channels, step.rate_hz)


@register_stage(Differentiate)
def _difference_stage(
    step: Differentiate, rate_hz: float, channels: tuple[str, ...]
) -> DifferenceStage:
    c = step.coordinate
    if c not in channels:
        raise MissingChannelError(f"differentiate: no '{c}' channel among {list(channels)}")
    out = (c, f"{c}_speed", f"{c}_acceleration")
    return DifferenceStage(channels.index(c), out, rate_hz)


def _stage(name: str, step: Step, rate_hz: float, channels: tuple[str, ...]) -> Stage:
    """The stage of one causal step (:data:`STAGES`), or PreprocessConfigError naming it."""
    if not is_causal(step):
        raise PreprocessConfigError(
            f"steps.{name}",
            f"{type(step).__name__} is zero-phase: a stream needs the chain's causal form "
            "(Chain.from_steps(steps, causal=True), preprocess.causal=true)",
        )
    builder = STAGES.get(type(step))
    if builder is None:
        raise PreprocessConfigError(
            f"steps.{name}", f"{type(step).__name__} has no streaming stage (nmm.stream.filters)"
        )
    return builder(step, rate_hz, channels)


@dataclass
class StreamingChain:
    """A causal chain on a stream: :meth:`process` takes each new chunk of samples and returns
    the chain's new output samples. ``channels`` and ``rate_hz``: the input's; ``out_channels``
    and ``out_rate_hz``: the output's."""

    stages: Sequence[Stage]
    channels: tuple[str, ...]
    rate_hz: float

    @classmethod
    def from_chain(cls, chain: Chain, rate_hz: float, channels: Sequence[str]) -> StreamingChain:
        """The stream form of ``chain`` for input at ``rate_hz`` Hz with ``channels``.

        Raises:
            PreprocessConfigError: a step is not causal or has no stage, naming its key.
            DataValidationError: a cut-off at or above the Nyquist frequency, a bad rate, a
                channel without an MVIC reference.
            MissingChannelError: no angle channel for the differentiation.
        """
        if not (np.isfinite(rate_hz) and rate_hz > 0):
            raise DataValidationError(f"stream rate must be > 0 Hz, got {rate_hz}")
        stages: list[Stage] = []
        rate, names = float(rate_hz), tuple(str(c) for c in channels)
        for name, step in chain.named_steps():
            stage = _stage(name, step, rate, names)
            stages.append(stage)
            rate, names = stage.rate_hz, stage.channels
        return cls(stages, tuple(str(c) for c in channels), float(rate_hz))

    @property
    def out_channels(self) -> tuple[str, ...]:
        return self.stages[-1].channels if self.stages else self.channels

    @property
    def out_rate_hz(self) -> float:
        return self.stages[-1].rate_hz if self.stages else self.rate_hz

    def process(self, values: np.ndarray) -> np.ndarray:
        """The output samples (n_out, len(out_channels)) that the chunk ``values``
        (n, len(channels)), the next n input samples, completes; n_out may differ from n when
        the chain resamples, and may be 0."""
        x = np.asarray(values, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.channels):
            raise ValueError(
                f"a chunk must be (n, {len(self.channels)}) for channels {list(self.channels)}, "
                f"got shape {x.shape}"
            )
        for stage in self.stages:
            x = stage.process(x)
        return x
