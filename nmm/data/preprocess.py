"""Chainable preprocessing of Signals, configured from Hydra (`conf/preprocess/`).

Each step is a small dataclass called on a Signal and returning a new Signal, so a chain reads
like the processing it does (pyomeca style): band-pass -> notch -> rectify -> low-pass envelope ->
MVIC normalisation -> resampling. Kinematics: low-pass, then differentiation to speed and
acceleration.

A config names its steps (:data:`STEPS`) in a mapping applied in order,
``steps: {bandpass: {low_hz: 20.0}, notch: {freq_hz: 50.0}, envelope: {cutoff_hz: 6.0}}``
(:meth:`Chain.from_steps`), so an override reads ``preprocess.emg.steps.notch.freq_hz=60`` and
``~preprocess.emg.steps.notch`` (or ``...notch=null``) leaves the notch out. A new step is a
dataclass plus one entry in :data:`STEPS`.

Zero-phase filtering runs a Butterworth filter forwards and backwards (scipy.signal.sosfiltfilt):
the effective order doubles and the gain at the cut-off is -6 dB (0.5) instead of -3 dB.
`order` below is the order of the single-pass design.

Causal form (real time): ``Chain.from_steps(steps, causal=True)`` (config ``preprocess.causal``)
builds every step in its causal form, which uses only samples at or before each output sample,
so a stream computed chunk by chunk (:mod:`nmm.stream.filters`) gives the same numbers. The
filters run the same design forwards only (scipy.signal.sosfilt: the order as designed, -3 dB at
the cut-off, with the filter's phase lag), with no padding at the ends: the signal before its
first sample is taken as constant at that sample (initial state ``sosfilt_zi * x[0]``, the
filter's steady state for that constant). Differentiation uses backward differences and
resampling picks the sample at or before each output time (:class:`Differentiate`,
:class:`Resample`). Rectification and MVIC normalisation act sample by sample (``pointwise``) and
are causal as they are. Default: zero-phase (``causal=False``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
from scipy import signal as sps

from nmm.data.errors import DataValidationError, MissingChannelError
from nmm.data.schema import Signal, Trial

Step = Callable[[Signal], Signal]


def _check_cutoffs(rate_hz: float, cutoffs: Sequence[float], what: str, source: str | None) -> None:
    nyquist = rate_hz / 2.0
    for fc in cutoffs:
        if not np.isfinite(fc) or fc <= 0:
            raise DataValidationError(f"{what}: cut-off {fc} Hz must be > 0", source=source)
        if fc >= nyquist:
            raise DataValidationError(
                f"{what}: cut-off {fc:g} Hz is at or above the Nyquist frequency "
                f"{nyquist:g} Hz of this {rate_hz:g} Hz signal",
                source=source,
            )


def _check_length(sig: Signal, sos: np.ndarray, what: str) -> None:
    # sosfiltfilt pads 3 * (2 * n_sections + 1) samples at each end: a shorter signal cannot pass
    padlen = 3 * (2 * len(sos) + 1)
    if sig.n_samples <= padlen:
        raise DataValidationError(
            f"{what}: signal has {sig.n_samples} samples; zero-phase filtering of this order "
            f"needs more than {padlen}",
            source=sig.source,
        )


def _filtfilt(sig: Signal, sos: np.ndarray, what: str, *, mirror_s: float | None = None) -> Signal:
    """Zero-phase ``sos`` filter of the signal. With ``mirror_s`` the ends are extended by
    mirroring (even extension) over that many seconds (at most the length of the signal)
    instead of scipy's default: an odd extension of 3 × (2 × sections + 1) samples, which
    pivots on the end sample (7.5 ms at 2 kHz for order 4)."""
    _check_length(sig, sos, what)
    if mirror_s is None:
        return sig.with_values(sps.sosfiltfilt(sos, sig.values, axis=0))
    pad = min(sig.n_samples - 1, int(np.ceil(mirror_s * sig.rate)))
    return sig.with_values(sps.sosfiltfilt(sos, sig.values, axis=0, padtype="even", padlen=pad))


def sos_initial_state(sos: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Initial state (n_sections, 2, C) of a causal ``sos`` filter whose input was constant at
    ``first`` (C,) before its first sample: the steady state ``sosfilt_zi(sos) * first``."""
    return (
        sps.sosfilt_zi(sos)[:, :, np.newaxis]
        * np.asarray(first, dtype=float)[np.newaxis, np.newaxis, :]
    )


def causal_sosfilt(sos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Forward-only ``sos`` filter of ``values`` (T, C) along time, from the initial state of
    :func:`sos_initial_state` for the first sample (no padding); (T, C)."""
    return sps.sosfilt(sos, values, axis=0, zi=sos_initial_state(sos, values[0]))[0]


def _filter(
    sig: Signal, sos: np.ndarray, what: str, *, causal: bool, mirror_s: float | None = None
) -> Signal:
    """The signal filtered by ``sos``: forwards only when ``causal`` (:func:`causal_sosfilt`),
    else zero-phase (:func:`_filtfilt`, ends mirrored over ``mirror_s`` seconds if given)."""
    if causal:
        return sig.with_values(causal_sosfilt(sos, sig.values))
    return _filtfilt(sig, sos, what, mirror_s=mirror_s)


def _check_edge_periods(periods: float | None, source: str | None, what: str) -> None:
    if periods is not None and not (np.isfinite(periods) and periods > 0):
        raise DataValidationError(f"{what}: edge_periods must be > 0, got {periods}", source=source)


def _check_order(order: int, what: str) -> None:
    if int(order) != order or order < 1:
        raise DataValidationError(f"{what}: filter order must be a positive integer, got {order}")


@dataclass(frozen=True)
class BandPass:
    """Zero-phase Butterworth band-pass, low_hz-high_hz Hz (default 20-400 Hz, order 4 per pass).

    Edges: mirrored over ``edge_periods / low_hz`` seconds (see :class:`Envelope`). With
    scipy's default odd extension, which pivots on the first raw sample, the band-passed EMG
    is 0 at the ends and carries a low-frequency transient of the size of that sample.
    causal: forwards only (module doc); edge_periods is then unused.
    """

    low_hz: float = 20.0
    high_hz: float = 400.0
    order: int = 4
    edge_periods: float = 3.0
    causal: bool = False

    def design(self, rate_hz: float, source: str | None = None) -> np.ndarray:
        """The single-pass Butterworth design at ``rate_hz``, second-order sections (n, 6)."""
        _check_edge_periods(self.edge_periods, source, "band-pass")
        _check_order(self.order, "band-pass")
        _check_cutoffs(rate_hz, (self.low_hz, self.high_hz), "band-pass", source)
        if self.low_hz >= self.high_hz:
            raise DataValidationError(
                f"band-pass: low cut-off {self.low_hz} Hz must be below high {self.high_hz} Hz",
                source=source,
            )
        return sps.butter(
            self.order, (self.low_hz, self.high_hz), btype="bandpass", fs=rate_hz, output="sos"
        )

    def __call__(self, sig: Signal) -> Signal:
        sos = self.design(sig.rate, sig.source)
        mirror = self.edge_periods / self.low_hz
        return _filter(sig, sos, "band-pass", causal=self.causal, mirror_s=mirror)


@dataclass(frozen=True)
class LowPass:
    """Zero-phase Butterworth low-pass at cutoff_hz Hz (order per pass).

    edge_periods: None keeps scipy's odd extension at the ends, right for smooth signals such
    as joint angles (it keeps the end slope); a number mirrors the ends over
    ``edge_periods / cutoff_hz`` seconds (:class:`Envelope`).
    causal: forwards only (module doc); edge_periods is then unused.
    """

    cutoff_hz: float
    order: int = 4
    edge_periods: float | None = None
    causal: bool = False

    def design(self, rate_hz: float, source: str | None = None) -> np.ndarray:
        """The single-pass Butterworth design at ``rate_hz``, second-order sections (n, 6)."""
        _check_order(self.order, "low-pass")
        _check_cutoffs(rate_hz, (self.cutoff_hz,), "low-pass", source)
        _check_edge_periods(self.edge_periods, source, "low-pass")
        return sps.butter(self.order, self.cutoff_hz, btype="lowpass", fs=rate_hz, output="sos")

    def __call__(self, sig: Signal) -> Signal:
        sos = self.design(sig.rate, sig.source)
        mirror = None if self.edge_periods is None else self.edge_periods / self.cutoff_hz
        return _filter(sig, sos, "low-pass", causal=self.causal, mirror_s=mirror)


@dataclass(frozen=True)
class Notch:
    """Zero-phase IIR notch at freq_hz (50 or 60 Hz powerline) and its harmonics below Nyquist.

    quality: Q = freq / bandwidth (scipy.signal.iirnotch).
    causal: the notches of all harmonics run forwards only, as one cascade (module doc).
    """

    freq_hz: float = 50.0
    quality: float = 30.0
    harmonics: int = 1
    causal: bool = False

    def sections(self, rate_hz: float, source: str | None = None) -> list[np.ndarray]:
        """One notch per harmonic below the Nyquist frequency of ``rate_hz``, each as
        second-order sections (1, 6)."""
        _check_cutoffs(rate_hz, (self.freq_hz,), "notch", source)
        notches = []
        for k in range(1, self.harmonics + 1):
            f = k * self.freq_hz
            if f >= rate_hz / 2:
                break
            b, a = sps.iirnotch(f, self.quality, fs=rate_hz)
            notches.append(sps.tf2sos(b, a))
        return notches

    def design(self, rate_hz: float, source: str | None = None) -> np.ndarray:
        """The notches of :meth:`sections` as one cascade of second-order sections (n, 6)."""
        return np.vstack(self.sections(rate_hz, source))

    def __call__(self, sig: Signal) -> Signal:
        if self.causal:
            return _filter(sig, self.design(sig.rate, sig.source), "notch", causal=True)
        out = sig
        for sos in self.sections(sig.rate, sig.source):
            out = _filtfilt(out, sos, "notch")
        return out


@dataclass(frozen=True)
class Rectify:
    """Full-wave rectification |x|."""

    pointwise: ClassVar[bool] = True  # sample by sample: causal as it is

    def __call__(self, sig: Signal) -> Signal:
        return sig.with_values(np.abs(sig.values))


@dataclass(frozen=True)
class Envelope:
    """Linear envelope: full-wave rectification then zero-phase low-pass at cutoff_hz.

    About 6 Hz for musculoskeletal models, 50 Hz in the pain-signature paper (Becker et al.).

    Edges: the rectified signal is mirrored (even extension) over ``edge_periods / cutoff_hz``
    seconds at each end before filtering (at most the signal's length), so the envelope's first
    and last samples show the local level. With scipy's default odd extension of 3 × (2 × sections
    + 1) samples (7.5 ms at 2 kHz), the filter starts from one rectified sample and the envelope
    rises from near 0 over the first ~80 ms of a trial that starts active.
    causal: the low-pass runs forwards only (module doc); edge_periods is then unused.
    """

    cutoff_hz: float = 6.0
    order: int = 4
    clip_negative: bool = True  # the low-pass can undershoot below 0 after sharp bursts
    edge_periods: float = 3.0
    causal: bool = False

    def lowpass(self) -> LowPass:
        """The low-pass applied to the rectified signal."""
        return LowPass(self.cutoff_hz, self.order, self.edge_periods, self.causal)

    def __call__(self, sig: Signal) -> Signal:
        out = self.lowpass()(Rectify()(sig))
        values = np.clip(out.values, 0.0, None) if self.clip_negative else out.values
        return out.with_values(values, kind="envelope")


@dataclass(frozen=True)
class NormaliseMVIC:
    """Divide each channel by its MVIC reference (same units as the signal); units become '1'."""

    mvic: Mapping[str, float]
    pointwise: ClassVar[bool] = True  # sample by sample: causal as it is

    def references(self, channels: Sequence[str], source: str | None = None) -> np.ndarray:
        """The MVIC reference of each channel, in order, (C,)."""
        ref = []
        for ch in channels:
            if ch not in self.mvic:
                raise DataValidationError(
                    "no MVIC reference for this channel", source=source, channel=ch
                )
            if not np.isfinite(self.mvic[ch]) or self.mvic[ch] <= 0:
                raise DataValidationError(
                    f"MVIC reference must be > 0, got {self.mvic[ch]}",
                    source=source,
                    channel=ch,
                )
            ref.append(self.mvic[ch])
        return np.asarray(ref)

    def __call__(self, sig: Signal) -> Signal:
        ref = self.references(sig.channels, sig.source)
        return sig.with_values(sig.values / ref, units=("1",) * len(ref))


@dataclass(frozen=True)
class Resample:
    """Resample to rate_hz by polyphase filtering (anti-aliased) from the signal's start time.

    causal: output sample k (time ``start + k / rate_hz``) is the input sample at or before that
    time, input index ``floor(k * rate_in / rate_hz)`` (zero-order hold; no anti-aliasing of its
    own: the chain's causal low-pass or envelope before it must already be well below
    ``rate_hz / 2``). Output samples: those whose input sample exists.
    """

    rate_hz: float
    causal: bool = False

    def ratio(self, rate_in_hz: float, source: str | None = None) -> Fraction | None:
        """Output over input rate as a fraction (denominator <= 1000), or None when the rates
        are the same (the step then passes the signal through)."""
        if not np.isfinite(self.rate_hz) or self.rate_hz <= 0:
            raise DataValidationError(
                f"resample: rate must be > 0 Hz, got {self.rate_hz}", source=source
            )
        if np.isclose(self.rate_hz, rate_in_hz, rtol=1e-9):
            return None
        return Fraction(self.rate_hz / rate_in_hz).limit_denominator(1000)

    def __call__(self, sig: Signal) -> Signal:
        ratio = self.ratio(sig.rate, sig.source)
        if ratio is None:
            return sig
        if self.causal:
            values = sig.values[held_indices(0, sig.n_samples, ratio)]
        else:
            values = sps.resample_poly(sig.values, ratio.numerator, ratio.denominator, axis=0)
        time = sig.time[0] + np.arange(values.shape[0]) / self.rate_hz
        return Signal(time, values, sig.channels, sig.units, self.rate_hz, sig.kind, sig.source)


@dataclass(frozen=True)
class Differentiate:
    """Add `<coordinate>_speed` (rad/s) and `<coordinate>_acceleration` (rad/s^2) channels.

    Second-order central differences (numpy.gradient, one-sided at the ends) of the angle channel;
    low-pass the angle first (default 10 Hz, order 4, zero lag, as in Becker et al.).

    causal: backward differences at the signal's rate fs, θ̇[i] = (θ[i] - θ[i-1]) fs and
    θ̈[i] = (θ̇[i] - θ̇[i-1]) fs (delays of half and one sample), with the angle before the
    first sample constant at its first value (so θ̇[0] = θ̈[0] = 0).
    """

    coordinate: str = "elbow_flexion"
    causal: bool = False

    def __call__(self, sig: Signal) -> Signal:
        if not self.causal and sig.n_samples < 3:
            raise DataValidationError(
                f"differentiate: {sig.n_samples} samples, need at least 3", source=sig.source
            )
        angle = sig[self.coordinate]
        if sig.unit(self.coordinate) != "rad":
            raise DataValidationError(
                f"differentiate: angle must be in rad, got '{sig.unit(self.coordinate)}'",
                source=sig.source,
                channel=self.coordinate,
            )
        if self.causal:
            speed, accel = backward_differences(angle, angle[:1], np.zeros(1), sig.rate)
        else:
            speed = np.gradient(angle, sig.time, edge_order=2)
            accel = np.gradient(speed, sig.time, edge_order=2)
        return sig.with_values(
            np.column_stack([angle, speed, accel]),
            channels=(
                self.coordinate,
                f"{self.coordinate}_speed",
                f"{self.coordinate}_acceleration",
            ),
            units=("rad", "rad/s", "rad/s^2"),
        )


def backward_differences(
    angle: np.ndarray, previous_angle: np.ndarray, previous_speed: np.ndarray, rate_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Speed and acceleration (T,) of ``angle`` (T,) by backward differences at ``rate_hz``
    (:class:`Differentiate`), continuing from the angle and speed of the sample before
    (``previous_angle``, ``previous_speed``: (1,) each)."""
    speed = np.diff(np.concatenate([previous_angle, angle])) * rate_hz
    accel = np.diff(np.concatenate([previous_speed, speed])) * rate_hz
    return speed, accel


def held_indices(first_output: int, n_input: int, ratio: Fraction) -> np.ndarray:
    """Input indices of the causal resampling's output samples ``first_output, ...`` whose
    input sample exists among ``n_input`` samples: ``floor(k / ratio)`` for output index k,
    ``ratio`` = output over input rate (:meth:`Resample.ratio`); exact integer arithmetic."""
    p, q = ratio.numerator, ratio.denominator  # input index of output k: floor(k * q / p)
    last = (n_input * p - 1) // q  # the last k with floor(k q / p) < n_input, i.e. k q < n_input p
    k = np.arange(first_output, last + 1, dtype=np.int64)
    return (k * q) // p


#: The steps a config can name: ``preprocess.<stream>.steps.<name>`` -> its class.
STEPS: dict[str, type] = {
    "bandpass": BandPass,
    "lowpass": LowPass,
    "notch": Notch,
    "rectify": Rectify,
    "envelope": Envelope,
    "resample": Resample,
    "differentiate": Differentiate,
}


class PreprocessConfigError(ValueError):
    """A chain's config names an unknown step or option, lacks a required option or gives a
    value of the wrong type. ``key``: the dotted key under the chain (``steps.notch.freq_hz``)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        self.reason = message
        super().__init__(f"{key}: {message}")


def _type_matches(value: Any, annotation: str) -> bool:
    """Whether a config value fits a step field's annotation (``float``, ``int | None``,
    ``bool``, ``str``): numbers for numbers, None only where allowed."""
    allowed = {t.strip() for t in annotation.split("|")}
    if value is None:
        return "None" in allowed
    if isinstance(value, bool):
        return "bool" in allowed
    if isinstance(value, int | float):
        return bool(allowed & {"float", "int"})
    return isinstance(value, str) and "str" in allowed


def is_causal(step: Step) -> bool:
    """Whether a step uses only samples at or before each output sample: built in its causal
    form (``causal=True``) or acting sample by sample (``pointwise``)."""
    return bool(getattr(step, "causal", False) or getattr(step, "pointwise", False))


def make_step(name: str, options: Mapping[str, Any], *, causal: bool = False) -> Step:
    """The step ``name`` of a config's ``steps`` mapping: the class :data:`STEPS` lists under
    ``options["step"]`` if given (two steps of one kind, e.g. ``lowpass_10: {step: lowpass}``),
    else under ``name``, built with the other options; in its causal form when ``causal`` (a
    class with a ``causal`` field, or a ``pointwise`` one).

    Raises:
        PreprocessConfigError: an unknown step or option, a missing required option, a value
            of the wrong type, a ``causal`` option (the chain's switch sets it) or, with
            ``causal``, a step that has no causal form, naming its key.
    """
    opts = dict(options)
    kind = str(opts.pop("step", name))
    if kind not in STEPS:
        raise PreprocessConfigError(
            f"steps.{name}", f"unknown preprocessing step {kind!r}; known: {sorted(STEPS)}"
        )
    cls = STEPS[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for option, value in opts.items():
        key = f"steps.{name}.{option}"
        if option == "causal":
            raise PreprocessConfigError(
                key, "set for the whole chain (preprocess.causal, Chain.from_steps(causal=...))"
            )
        if option not in fields:
            known = sorted(fields)
            raise PreprocessConfigError(key, f"unknown option of {kind}; known: {known}")
        if not _type_matches(value, str(fields[option].type)):
            raise PreprocessConfigError(key, f"{value!r} is not a {fields[option].type}")
    for option, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and option not in opts:
            raise PreprocessConfigError(f"steps.{name}.{option}", f"required by {kind}")
    if causal and "causal" in fields:
        opts["causal"] = True
    elif causal and not getattr(cls, "pointwise", False):
        raise PreprocessConfigError(f"steps.{name}", f"{kind} has no causal form")
    return cls(**opts)


@dataclass(frozen=True)
class Chain:
    """Steps applied in order: ``Chain([BandPass(), Envelope(6)])(signal)``.

    ``names``: each step's name in the config (:meth:`from_steps`; default: its position).
    """

    steps: Sequence[Step] = ()
    names: Sequence[str] = ()

    def __post_init__(self) -> None:
        names = tuple(self.names) or tuple(str(i) for i in range(len(self.steps)))
        if len(names) != len(self.steps):
            raise ValueError(f"{len(names)} names for {len(self.steps)} steps")
        object.__setattr__(self, "steps", tuple(self.steps))
        object.__setattr__(self, "names", names)

    @property
    def causal(self) -> bool:
        """Whether every step is causal (:func:`is_causal`): the chain can run on a stream."""
        return all(is_causal(step) for step in self.steps)

    @classmethod
    def from_steps(
        cls, steps: Mapping[str, Mapping[str, Any] | None], causal: bool = False
    ) -> Chain:
        """The chain of a config's ``steps`` mapping, name -> options (:func:`make_step`), in
        the mapping's order; a step whose options are None is left out. ``causal``: every step
        in its causal form (module doc); default zero-phase.

        Raises:
            PreprocessConfigError: as :func:`make_step`, ``steps`` is not a mapping or
                ``causal`` not a boolean.
        """
        if not isinstance(causal, bool):
            raise PreprocessConfigError("causal", f"must be true or false, got {causal!r}")
        if not isinstance(steps, Mapping):
            raise PreprocessConfigError(
                "steps", f"must map step names to their options, got {type(steps).__name__}"
            )
        named = {str(k): v for k, v in steps.items() if v is not None}
        for name, options in named.items():
            if not isinstance(options, Mapping):
                raise PreprocessConfigError(
                    f"steps.{name}", f"options must be a mapping, got {options!r}"
                )
        built = [make_step(name, options, causal=causal) for name, options in named.items()]
        return cls(built, list(named))

    def named_steps(self) -> list[tuple[str, Step]]:
        """``(name, step)`` in order."""
        return list(zip(self.names, self.steps, strict=True))

    def __call__(self, sig: Signal) -> Signal:
        for step in self.steps:
            sig = step(sig)
        return sig


def preprocess_trial(
    trial: Trial,
    emg: Step | None = None,
    kinematics: Step | None = None,
    mvic: Mapping[str, float] | None = None,
) -> Trial:
    """Apply the EMG chain (raw -> envelope) and the kinematics chain to a trial.

    The envelope is normalised by `mvic` (per muscle, in the raw EMG's units) when given.
    """
    changes: dict[str, Signal] = {}
    if emg is not None and trial.emg is not None:
        env = emg(trial.emg)
        if mvic is not None:
            env = NormaliseMVIC(mvic)(env)
        changes["envelope"] = env.with_values(env.values, kind="envelope")
    if kinematics is not None and trial.kinematics is not None:
        changes["kinematics"] = kinematics(trial.kinematics.select([trial.coordinate]))
    return trial.replace(**changes) if changes else trial


def mvic_reference_chain() -> Chain:
    """The envelope a subject's MVIC reference is the peak of, where a cohort documents none
    other (the synthetic cohort, a study without explicit MVIC values): 20-400 Hz band-pass and
    6 Hz envelope, order 4 per pass, no notch."""
    return Chain([BandPass(20.0, 400.0, 4), Envelope(6.0, 4)])


def mvic_reference(trials: Sequence[Trial], emg: Step) -> dict[str, float]:
    """Peak envelope per muscle over the given (MVIC) trials, in the raw EMG's units."""
    peaks: dict[str, float] = {}
    for t in trials:
        if t.emg is None:
            raise DataValidationError("MVIC trial has no raw EMG", source=t.source)
        env = emg(t.emg)
        for ch in env.channels:
            peaks[ch] = max(peaks.get(ch, 0.0), float(np.max(env[ch])))
    return peaks


def align_streams(trial: Trial, rate_hz: float) -> Trial:
    """Envelope, kinematics and torque on one time grid at `rate_hz`, over their common span.

    Linear interpolation: the envelope and kinematics must already be low-passed well below
    rate_hz / 2 (e.g. 6 Hz envelope, 10 Hz kinematics at 100 Hz). The raw EMG is left as is.
    """
    streams = {k: s for k, s in trial.streams().items() if k != "emg"}
    if not streams:
        raise DataValidationError("no envelope, kinematics or torque to align", source=trial.source)
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise DataValidationError(f"align: rate must be > 0 Hz, got {rate_hz}", source=trial.source)
    start = max(s.time[0] for s in streams.values())
    stop = min(s.time[-1] for s in streams.values())
    n = int(np.floor((stop - start) * rate_hz + 1e-9)) + 1
    if stop <= start or n < 2:
        spans = ", ".join(f"{k} {s.time[0]:g}-{s.time[-1]:g} s" for k, s in streams.items())
        raise DataValidationError(f"streams do not overlap in time ({spans})", source=trial.source)
    grid = start + np.arange(n) / rate_hz
    aligned = {
        k: Signal(
            grid,
            np.column_stack(
                [np.interp(grid, s.time, s.values[:, j]) for j in range(len(s.channels))]
            ),
            s.channels,
            s.units,
            rate_hz,
            s.kind,
            s.source,
        )
        for k, s in streams.items()
    }
    return trial.replace(**aligned)


def trial_kinematics(
    trial: Trial, kin_chain: Step | None, use_recorded_derivatives: bool = True
) -> Signal:
    """The trial's angle θ (rad), velocity θ̇ (rad/s) and acceleration θ̈ (rad/s²), channels
    ``<coordinate>``, ``<coordinate>_speed`` and ``<coordinate>_acceleration``, on the
    kinematics' own grid: the recorded derivatives when ``use_recorded_derivatives`` and the
    trial has them, else ``kin_chain`` (e.g. ``preprocess.kinematics``: low-pass, then
    :class:`Differentiate`) applied to the angle. What the NMM trains on and the OpenSim twin
    is driven by.

    Raises:
        MissingChannelError: no kinematics, or no derivatives and no chain that makes them.
    """
    kin = trial.kinematics
    if kin is None:
        raise MissingChannelError(
            f"trial {trial.subject}/{trial.trial_id} has no kinematics; the NMM needs the "
            f"'{trial.coordinate}' angle (rad)"
        )
    c = trial.coordinate
    names = (c, f"{c}_speed", f"{c}_acceleration")
    if use_recorded_derivatives and all(n in kin.channels for n in names):
        return kin.select(names)
    if kin_chain is None:
        raise MissingChannelError(
            f"trial {trial.subject}/{trial.trial_id} has no '{names[1]}'/'{names[2]}' channels "
            "and no kinematics chain (preprocess.kinematics) to differentiate the angle"
        )
    out = kin_chain(kin.select([c]))
    missing = [n for n in names if n not in out.channels]
    if missing:
        raise MissingChannelError(
            f"trial {trial.subject}/{trial.trial_id}: the kinematics chain did not produce "
            f"{missing} (add nmm.data.preprocess.Differentiate to preprocess.kinematics)"
        )
    return out.select(names)
