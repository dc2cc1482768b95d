"""From a :class:`~nmm.data.schema.Trial` to the arrays the NMM reads, on one time grid.

:func:`prepare_trial` turns a recorded trial into a :class:`PreparedTrial`:

1. **Envelopes.** Raw EMG goes through the configured chain (``conf/preprocess/msk.yaml``:
   20-400 Hz band-pass, 6 Hz envelope) and is divided by the subject's MVIC reference; a trial
   that already carries envelopes in unit ``1`` keeps them. A subject without an MVIC reference
   (e.g. the pyomeca trial) is divided by each channel's peak over the whole recording and the
   trial is flagged (``envelope_normalisation: peak``): such envelopes are relative, not %MVIC.
2. **Channel map.** Recorded channels are mapped onto the model's muscles
   (:class:`ChannelMap`): a channel named like a model muscle maps to it; ``channel_map`` in the
   config maps others, one channel to one or more muscles (e.g. a surface ``biceps`` electrode
   to both heads, ``BIClong`` and ``BICshort``). Several channels on one muscle are averaged.
   Every *input* muscle (the model's non-hidden muscles) must be measured:
   :class:`MissingChannelError` says which is missing and what the trial has.
3. **Kinematics.** Recorded speed and acceleration are used when present
   (``use_recorded_derivatives``); otherwise the configured chain low-passes the angle and
   differentiates it.
4. **Torque.** The trial's torque stream (OpenSim inverse dynamics, or a dynamometer) when it has
   one; otherwise the torch inverse dynamics of :func:`nmm.physics.elbow.inverse_dynamics_torque`
   with the arm of ``conf/physics`` and the trial's load (``torque_source``
   ``"inverse_dynamics"``).
5. Everything is put on one grid at ``rate_hz`` over the streams' common span
   (:func:`nmm.data.preprocess.align_streams`).

:func:`input_features` stacks the per-time-step inputs of the network, each scaled to O(1) by
:class:`FeatureSpec`: angle (rad), velocity (rad/s), acceleration (rad/s²), load (kg) and the
measured envelopes (1).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmm.data.errors import MissingChannelError
from nmm.data.preprocess import NormaliseMVIC, Step, align_streams, trial_kinematics
from nmm.data.schema import Signal, Trial

__all__ = [
    "INPUT_KINDS",
    "MVIC_HOLD_FRACTION",
    "MVIC_KIND",
    "ChannelMap",
    "FeatureSpec",
    "MissingChannelError",
    "PreparedTrial",
    "body_masses",
    "input_features",
    "map_envelopes",
    "prepare_trial",
    "uncalibrated_muscles",
]

log = logging.getLogger(__name__)

#: Inputs the network may read per time step (``model.inputs``).
INPUT_KINDS = ("angle", "velocity", "acceleration", "load", "measured_envelopes")
#: ``metadata['kind']`` of maximal voluntary isometric contractions (the synthetic cohort's, and
#: what a dataset's manifest sets for its MVIC trials).
MVIC_KIND = "mvic"
#: The hold of an MVIC trial: its samples within this fraction of the trial's peak |moment|.
MVIC_HOLD_FRACTION = 0.8


@dataclass(frozen=True)
class ChannelMap:
    """Recorded channel -> model muscles.

    Attributes:
        muscles: the model's muscles, in output order (``physics.muscles``).
        hidden: muscles never measured (``physics.hidden``); the others are inputs.
        mapping: ``{recorded channel: [model muscles]}`` for channels not named like a muscle.
    """

    muscles: tuple[str, ...]
    hidden: tuple[str, ...]
    mapping: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [m for m in self.hidden if m not in self.muscles]
        for targets in self.mapping.values():
            unknown += [m for m in targets if m not in self.muscles]
        if unknown:
            raise ValueError(
                f"channel map names muscles the model does not have: {sorted(set(unknown))}; "
                f"model muscles: {list(self.muscles)}"
            )

    @classmethod
    def from_config(
        cls,
        muscles: Sequence[str],
        hidden: Sequence[str],
        mapping: Mapping[str, Any] | None = None,
    ) -> ChannelMap:
        """From ``physics.muscles``, ``physics.hidden`` and ``model.channel_map``."""
        clean = {
            str(k): tuple([str(v)] if isinstance(v, str) else [str(x) for x in v])
            for k, v in (mapping or {}).items()
        }
        return cls(tuple(str(m) for m in muscles), tuple(str(h) for h in hidden), clean)

    @property
    def inputs(self) -> tuple[str, ...]:
        """Muscles whose envelopes are network inputs (the non-hidden ones), in model order."""
        return tuple(m for m in self.muscles if m not in self.hidden)

    def targets(self, channel: str) -> tuple[str, ...]:
        """The model muscles a recorded channel feeds (empty: the channel is not used)."""
        if channel in self.mapping:
            return self.mapping[channel]
        return (channel,) if channel in self.muscles else ()


@dataclass(frozen=True)
class FeatureSpec:
    """Which inputs the network reads and their scales (each input × scale is O(1)).

    Attributes:
        inputs: a subset of :data:`INPUT_KINDS`, in this order of columns.
        input_muscles: muscles of the ``measured_envelopes`` columns.
        scales: ``{kind: factor}`` for angle (per rad), velocity (per rad/s), acceleration
            (per rad/s²) and load (per kg); envelopes are not scaled.
    """

    inputs: tuple[str, ...]
    input_muscles: tuple[str, ...]
    scales: Mapping[str, float]

    def __post_init__(self) -> None:
        bad = [k for k in self.inputs if k not in INPUT_KINDS]
        if bad:
            raise ValueError(f"unknown model inputs {bad}; known: {list(INPUT_KINDS)}")

    @property
    def n_features(self) -> int:
        """F, columns of :func:`input_features`."""
        n = sum(1 for k in self.inputs if k != "measured_envelopes")
        return n + (len(self.input_muscles) if "measured_envelopes" in self.inputs else 0)

    @property
    def names(self) -> list[str]:
        """Column names of :func:`input_features`."""
        out: list[str] = []
        for k in self.inputs:
            out += (
                [f"envelope_{m}" for m in self.input_muscles] if k == "measured_envelopes" else [k]
            )
        return out


@dataclass
class PreparedTrial:
    """One trial on one grid, ready for windows: arrays of length T at ``rate`` Hz.

    Attributes:
        subject, trial_id, session, condition: identity (as in the Trial).
        time: ``(T,)`` s.
        angle, velocity, acceleration: ``(T,)`` rad, rad/s, rad/s².
        torque: ``(T,)`` N·m, the inverse-dynamics target of the muscles.
        torque_source: ``"recorded"`` or ``"inverse_dynamics"`` (torch, no torque stream).
        envelopes: ``(T, M)`` normalised envelopes in model muscle order; 0 where not measured.
        measured: ``(M,)`` bool, muscles with a recorded envelope.
        load_kg, lever_arm_m: the load in the hand (kg) and its distance from the elbow (m).
        rate: Hz.
        metadata: the trial's metadata plus ``envelope_normalisation`` (``mvic``/``peak``/
            ``given``) and the channel mapping used.
        input_envelopes: ``(T, M)`` the envelopes the network reads and reconstruction puts
            back for the measured muscles, where they differ from ``envelopes``: a causal
            model's causally filtered ones, ``envelopes`` then being the zero-phase targets
            of its training (:func:`nmm.model.train.prepare_cohort`); None: ``envelopes``.
    """

    subject: str
    trial_id: str
    session: str
    condition: str
    time: np.ndarray
    angle: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray
    torque: np.ndarray
    torque_source: str
    envelopes: np.ndarray
    measured: np.ndarray
    load_kg: float
    lever_arm_m: float
    rate: float
    metadata: dict[str, Any] = field(default_factory=dict)
    input_envelopes: np.ndarray | None = None

    @property
    def recorded_envelopes(self) -> np.ndarray:
        """``(T, M)`` the envelopes a stream of the trial records: :attr:`input_envelopes`
        where set, else :attr:`envelopes`."""
        return self.envelopes if self.input_envelopes is None else self.input_envelopes

    @property
    def n_samples(self) -> int:
        return int(self.time.shape[0])

    @property
    def key(self) -> tuple[str, str, str]:
        """(subject, session, trial id): how trials are joined to their ground truth."""
        return (self.subject, self.session, self.trial_id)

    @property
    def kind(self) -> str:
        """``metadata['kind']`` (``movement``/:data:`MVIC_KIND` in the synthetic cohort), else
        movement."""
        return str(self.metadata.get("kind", "movement"))


def _raw_envelope(trial: Trial, emg_chain: Step | None) -> tuple[Signal | None, str | None]:
    """The trial's envelope (given, or the EMG chain's) and ``"given"`` or None (computed)."""
    if trial.envelope is not None:
        return trial.envelope, "given"
    if trial.emg is None:
        return None, "none"
    if emg_chain is None:
        raise MissingChannelError(
            f"trial {trial.subject}/{trial.trial_id} has raw EMG but no EMG preprocessing "
            "chain was given (preprocess.emg)"
        )
    return emg_chain(trial.emg), None


def subject_peak_reference(trials: Sequence[Trial], emg_chain: Step | None) -> dict[str, float]:
    """Per channel, the peak envelope over all of a subject's trials, in the EMG's units: the
    reference of the peak dynamic method where no MVIC was recorded (Burden 2010, J Electromyogr
    Kinesiol 20:1023). One reference for every trial keeps the envelopes' relation across
    loads and speeds, which a per-trial peak would erase (each trial would then peak at 1)."""
    peaks: dict[str, float] = {}
    for t in trials:
        env, _ = _raw_envelope(t, emg_chain)
        if env is None or all(u == "1" for u in env.units):
            continue
        for ch, p in zip(env.channels, np.max(np.abs(env.values), axis=0), strict=True):
            peaks[ch] = max(peaks.get(ch, 0.0), float(p))
    return {ch: p for ch, p in peaks.items() if p > 0}


def _normalised_envelope(
    trial: Trial,
    emg_chain: Step | None,
    mvic: Mapping[str, float] | None,
    peak_reference: Mapping[str, float] | None = None,
) -> tuple[Signal | None, str]:
    env, how = _raw_envelope(trial, emg_chain)
    if env is None:
        return None, "none"
    if all(u == "1" for u in env.units):
        return env, how or "given"
    if mvic and all(ch in mvic for ch in env.channels):
        return NormaliseMVIC(mvic)(env), "mvic"
    if peak_reference and all(ch in peak_reference for ch in env.channels):
        return NormaliseMVIC(peak_reference)(env), "subject_peak"
    peaks = np.max(np.abs(env.values), axis=0)
    peaks = np.where(peaks > 0, peaks, 1.0)
    log.warning(
        "trial %s/%s: no MVIC reference for %s; envelopes divided by their peak in the trial "
        "(relative, not %%MVIC)",
        trial.subject,
        trial.trial_id,
        ", ".join(ch for ch in env.channels if not mvic or ch not in mvic),
    )
    return env.with_values(env.values / peaks, units=("1",) * len(env.channels)), "peak"


def map_envelopes(
    envelopes: np.ndarray, channels: Sequence[str], channel_map: ChannelMap, where: str
) -> tuple[np.ndarray, np.ndarray, dict[str, list[str]]]:
    """Recorded envelopes ``(T, C)`` of ``channels`` -> ``(T, M)`` in model muscle order (the
    mean of the channels mapped to a muscle, 0 where none or hidden), ``(M,)`` measured, and
    muscle -> the channels used.

    Raises:
        MissingChannelError: an input muscle has no channel (``where`` names the trial).
    """
    muscles = channel_map.muscles
    total = np.zeros((envelopes.shape[0], len(muscles)))
    count = np.zeros(len(muscles))
    used: dict[str, list[str]] = {}
    for j, ch in enumerate(channels):
        for m in channel_map.targets(ch):
            k = muscles.index(m)
            total[:, k] += envelopes[:, j]
            count[k] += 1
            used.setdefault(m, []).append(ch)
    measured = count > 0
    for k, m in enumerate(muscles):
        if m in channel_map.hidden and measured[k]:
            log.info(
                "%s: muscle %s is hidden in the model; its recorded channel is ignored", where, m
            )
            measured[k] = False
            total[:, k] = 0.0
            used.pop(m, None)
    missing = [m for m in channel_map.inputs if not measured[muscles.index(m)]]
    if missing:
        raise MissingChannelError(
            f"{where}: no envelope for input muscle(s) {missing}; the trial has channels "
            f"{list(channels)}. Map them with model.channel_map (e.g. "
            "{biceps: [BIClong, BICshort], triceps: [TRIlong, TRIlat]}) or record them."
        )
    values = np.where(measured, total / np.maximum(count, 1.0), 0.0)
    return values, measured, used


def prepare_trial(
    trial: Trial,
    channel_map: ChannelMap,
    rate_hz: float,
    *,
    emg_chain: Step | None = None,
    kinematics_chain: Step | None = None,
    mvic: Mapping[str, float] | None = None,
    peak_reference: Mapping[str, float] | None = None,
    use_recorded_derivatives: bool = True,
    default_lever_arm_m: float = 0.3,
    inverse_dynamics: Any = None,
) -> PreparedTrial:
    """A :class:`PreparedTrial` from a trial (see the module doc for the steps).

    Args:
        trial: a validated trial with EMG or envelopes and kinematics.
        channel_map: recorded channels -> model muscles.
        rate_hz: the common grid (``preprocess.resample_hz``).
        emg_chain: raw EMG -> envelope (``preprocess.emg``).
        kinematics_chain: angle -> angle, speed, acceleration (``preprocess.kinematics``).
        mvic: the subject's MVIC reference per channel, in the raw EMG's units.
        peak_reference: where ``mvic`` lacks a channel, the subject's peak envelope over its
            trials (:func:`subject_peak_reference`); with neither, each trial's own peak.
        use_recorded_derivatives: keep recorded speed and acceleration when the trial has them.
        default_lever_arm_m: load lever arm (m) when the trial's ``Load`` has none.
        inverse_dynamics: ``f(angle, velocity, acceleration, load_kg, lever_m) -> torque``
            (numpy arrays, N·m) for trials without a torque stream; None makes such a trial an
            error.

    Raises:
        MissingChannelError: no envelope for an input muscle, no kinematics, or no torque and
            no ``inverse_dynamics``.
    """
    where = f"trial {trial.subject}/{trial.trial_id}" + (
        f" ({trial.source})" if trial.source else ""
    )
    env, how = _normalised_envelope(trial, emg_chain, mvic, peak_reference)
    if env is None:
        raise MissingChannelError(
            f"{where}: no EMG or envelope stream; the model needs the envelopes of "
            f"{list(channel_map.inputs)}"
        )
    kin = trial_kinematics(trial, kinematics_chain, use_recorded_derivatives)
    aligned = align_streams(trial.replace(emg=None, envelope=env, kinematics=kin), rate_hz)
    env = aligned.envelope
    values, measured, used = map_envelopes(env.values, env.channels, channel_map, where)
    c = trial.coordinate
    angle = aligned.kinematics[c]
    velocity = aligned.kinematics[f"{c}_speed"]
    acceleration = aligned.kinematics[f"{c}_acceleration"]
    lever = trial.load.lever_arm_m
    lever = float(default_lever_arm_m if lever is None else lever)
    load = float(trial.load.mass_kg)
    if aligned.torque is not None:
        torque, source = aligned.torque[f"{c}_moment"], "recorded"
    elif inverse_dynamics is not None:
        torque = np.asarray(inverse_dynamics(angle, velocity, acceleration, load, lever))
        source = "inverse_dynamics"
    else:
        raise MissingChannelError(f"{where}: no torque stream and no inverse-dynamics model given")
    meta = dict(trial.metadata)
    meta["envelope_normalisation"] = how
    meta["channel_map"] = used
    return PreparedTrial(
        subject=trial.subject,
        trial_id=trial.trial_id,
        session=trial.session,
        condition=trial.condition,
        time=np.asarray(aligned.kinematics.time, dtype=float),
        angle=np.asarray(angle, dtype=float),
        velocity=np.asarray(velocity, dtype=float),
        acceleration=np.asarray(acceleration, dtype=float),
        torque=np.asarray(torque, dtype=float),
        torque_source=source,
        envelopes=np.clip(values, 0.0, None),
        measured=measured,
        load_kg=load,
        lever_arm_m=lever,
        rate=float(rate_hz),
        metadata=meta,
    )


def input_features(
    prepared: PreparedTrial, spec: FeatureSpec, muscles: Sequence[str]
) -> np.ndarray:
    """``(T, F)`` float32 network inputs of a prepared trial, columns as ``spec.names``.

    Args:
        prepared: the trial.
        spec: inputs and scales.
        muscles: the model muscles, the column order of ``prepared.envelopes``.
    """
    cols: list[np.ndarray] = []
    n = prepared.n_samples
    for kind in spec.inputs:
        if kind == "angle":
            cols.append(prepared.angle * spec.scales.get("angle", 1.0))
        elif kind == "velocity":
            cols.append(prepared.velocity * spec.scales.get("velocity", 1.0))
        elif kind == "acceleration":
            cols.append(prepared.acceleration * spec.scales.get("acceleration", 1.0))
        elif kind == "load":
            cols.append(np.full(n, prepared.load_kg * spec.scales.get("load", 1.0)))
        else:
            for m in spec.input_muscles:
                k = list(muscles).index(m)
                if not prepared.measured[k]:
                    raise MissingChannelError(
                        f"trial {prepared.subject}/{prepared.trial_id}: input muscle {m} has no "
                        "envelope"
                    )
                cols.append(prepared.recorded_envelopes[:, k])
    out = np.column_stack(cols).astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"trial {prepared.subject}/{prepared.trial_id}: non-finite inputs")
    return out


def window_starts(n_samples: int, window: int, stride: int) -> list[int]:
    """Start indices of windows of ``window`` samples every ``stride``, the last one flush with
    the end (so every sample is covered); one window at 0 when the trial is shorter."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1 sample, got {window}, {stride}")
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window + 1, stride))
    if starts[-1] != n_samples - window:
        starts.append(n_samples - window)
    return starts


def samples(seconds: float, rate: float) -> int:
    """Seconds -> whole samples at ``rate`` Hz (at least 1)."""
    return max(1, math.floor(seconds * rate + 0.5))


#: ``envelope_normalisation`` of envelopes that are not in fractions of an MVIC.
UNCALIBRATED_NORMALISATIONS = ("subject_peak", "peak")


def uncalibrated_muscles(
    trials: Sequence[PreparedTrial], subject_ids: Sequence[str]
) -> list[np.ndarray | None]:
    """Per subject, ``(M,)`` bool: the muscles measured in one of its trials whose envelopes
    were divided by a peak (the subject's over its trials, or the trial's own), not by an MVIC
    reference (``metadata["envelope_normalisation"]``, :data:`UNCALIBRATED_NORMALISATIONS`);
    None where every measured envelope is in fractions of an MVIC (or given normalised)."""
    out: list[np.ndarray | None] = []
    for sid in subject_ids:
        masks = [
            np.asarray(t.measured, dtype=bool)
            for t in trials
            if t.subject == sid
            and t.metadata.get("envelope_normalisation") in UNCALIBRATED_NORMALISATIONS
        ]
        out.append(np.logical_or.reduce(masks) if masks else None)
    return out


def body_masses(trials: Sequence[PreparedTrial], subject_ids: Sequence[str]) -> list[float | None]:
    """Each subject's body mass (kg) from its trials' ``metadata["body_mass_kg"]`` (set by
    :func:`nmm.model.train.prepare_cohort` from the dataset's subjects), None where unknown."""
    mass = {t.subject: t.metadata.get("body_mass_kg") for t in trials}
    return [None if mass.get(s) is None else float(mass[s]) for s in subject_ids]
