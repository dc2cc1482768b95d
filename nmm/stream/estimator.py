"""The causal NMM on a stream: raw EMG and kinematics in, every muscle's envelope and the muscle
torque out, sample by sample as they become known.

:class:`StreamEstimator` computes, chunk after chunk, what the offline causal reconstruction of
the whole recording gives (:func:`nmm.model.reconstruct.reconstruct` with ``causal_hop``, on a
trial prepared by :func:`nmm.model.features.prepare_trial` with the causal chains):

1. the EMG through the run's causal chain (:class:`nmm.stream.filters.StreamingChain`), divided
   by the subject's references (:class:`nmm.model.causal.StreamInputs`); the kinematics through
   the causal kinematics chain, or as recorded where the model was trained on recorded
   derivatives;
2. both on the model's grid (``rate_hz``; sample k at k / rate_hz s after the stream's first
   sample) by linear interpolation as :func:`nmm.data.preprocess.align_streams` does: a grid
   sample is complete when both streams have a sample at or after it (a wait of at most one
   sample of the slower stream); the channels mapped onto the model's muscles
   (:func:`nmm.model.features.map_envelopes`);
3. every ``hop`` grid samples (20 ms), the causal encoder over the window of ``window`` samples
   ending there (the whole stream so far before a window has arrived) gives the newest ``hop``
   samples' envelopes (:mod:`nmm.model.causal`); the measured muscles' are their recordings
   where the model uses them (``use_measured``), as offline;
4. the personalised physics, block by block with its state carried
   (:class:`nmm.model.causal.StreamingPhysics`), gives the muscle torque.

The estimator never blocks: :meth:`StreamEstimator.update` returns at once with every complete
update block since the last call (empty arrays when there is none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nmm.data.preprocess import Chain
from nmm.model.causal import StreamingPhysics, StreamInputs
from nmm.model.features import (
    ChannelMap,
    FeatureSpec,
    PreparedTrial,
    input_features,
    map_envelopes,
)
from nmm.model.physics import PersonalisedElbow
from nmm.stream.filters import StreamingChain

__all__ = ["StreamEstimator", "StreamModel", "StreamUpdate"]


@dataclass(frozen=True)
class StreamUpdate:
    """The model-rate samples an update completed (k of them, M muscles).

    Attributes:
        t_s: ``(k,)`` s since the stream's first sample.
        envelopes: ``(k, M)`` ê of every muscle (columns :attr:`StreamEstimator.muscles`): the
            network's, and for the measured muscles with ``use_measured`` their MVIC-normalised
            recordings (which exceed 1 above the MVIC), as the offline reconstruction's.
        torque_nm: ``(k,)`` τ_mus, the personalised muscle torque (N·m, flexion positive).
    """

    t_s: np.ndarray
    envelopes: np.ndarray
    torque_nm: np.ndarray

    @classmethod
    def empty(cls, n_muscles: int) -> StreamUpdate:
        return cls(np.zeros(0), np.zeros((0, n_muscles)), np.zeros(0))


@dataclass(frozen=True)
class StreamModel:
    """One subject's trained causal NMM, as the estimator runs it.

    Attributes:
        net: the causal encoder (``(B, T, F) -> (B, T, M)``, ``net.causal``).
        physics: the personalised elbow; ``row`` the subject's row of its table.
        spec: the network's inputs; channel_map: recorded channels -> model muscles.
        rate_hz: the model's grid (Hz); window, hop: samples of a window and between updates.
        use_measured: drive the physics with the measured muscles' recordings.
        emg_chain: the causal EMG chain (raw -> envelope); kinematics_chain: the causal
            kinematics chain (angle -> angle, speed, acceleration), unused where
            ``inputs.kinematic_channels`` carry the derivatives.
        inputs: what the stream sends and the EMG references.
    """

    net: torch.nn.Module
    physics: PersonalisedElbow
    row: int
    spec: FeatureSpec
    channel_map: ChannelMap
    rate_hz: float
    window: int
    hop: int
    use_measured: bool
    emg_chain: Chain
    kinematics_chain: Chain | None
    inputs: StreamInputs


class _Gridded:
    """A stream's samples (at ``rate_hz``, the first at 0 s) interpolated linearly onto the
    model's grid (``np.interp``, as :func:`nmm.data.preprocess.align_streams`), keeping only
    the samples the next grid points still need."""

    def __init__(self, rate_hz: float, n_channels: int) -> None:
        self.rate_hz = float(rate_hz)
        self._first = 0  # index of the first sample kept
        self._values = np.zeros((0, n_channels))

    @property
    def last_time_s(self) -> float:
        """Time of the newest sample (s; -inf before any)."""
        n = self._first + len(self._values)
        return (n - 1) / self.rate_hz if n else -np.inf

    def push(self, values: np.ndarray) -> None:
        self._values = np.concatenate([self._values, values])

    def at(self, times: np.ndarray) -> np.ndarray:
        """``(len(times), C)`` at grid times within the samples kept; drops the samples before
        the last grid time's left neighbour."""
        t = (self._first + np.arange(len(self._values))) / self.rate_hz
        out = np.column_stack([np.interp(times, t, v) for v in self._values.T])
        keep = max(0, int(np.searchsorted(t, times[-1], side="right")) - 1)
        self._first += keep
        self._values = self._values[keep:]
        return out


class StreamEstimator:
    """The causal NMM of one subject on a stream (module doc).

    Attributes:
        muscles: every model muscle (the columns of the envelopes), the hidden ones included.
        hidden: the hidden (deep) muscles, reconstructed.
        emg_channels, emg_rate_hz: the raw EMG a chunk of :meth:`push_emg` holds, and its rate.
        kinematic_channels, kinematic_rate_hz: likewise for :meth:`push_kinematics`.
        out_rate_hz: the rate of the estimates (the model's grid, Hz).
        load_kg: the load in the hand (kg), an input of the network; set it when it changes.
    """

    def __init__(self, model: StreamModel, load_kg: float = 0.0) -> None:
        if model.hop < 1 or model.window < model.hop:
            raise ValueError(f"need 1 <= hop <= window samples, got {model.hop}, {model.window}")
        inputs = model.inputs
        self.model = model
        self.muscles = tuple(model.channel_map.muscles)
        self.hidden = tuple(model.channel_map.hidden)
        self.emg_channels, self.emg_rate_hz = inputs.emg_channels, inputs.emg_rate_hz
        self.kinematic_channels = inputs.kinematic_channels
        self.kinematic_rate_hz = inputs.kinematic_rate_hz
        self.out_rate_hz = float(model.rate_hz)
        self.load_kg = float(load_kg)
        self._emg = StreamingChain.from_chain(model.emg_chain, self.emg_rate_hz, self.emg_channels)
        self._references = np.array([inputs.references[c] for c in self._emg.out_channels])
        self._kin = None
        if len(self.kinematic_channels) == 1:
            if model.kinematics_chain is None:
                raise ValueError("the kinematics need a chain that differentiates the angle")
            self._kin = StreamingChain.from_chain(
                model.kinematics_chain, self.kinematic_rate_hz, self.kinematic_channels
            )
        self._env_grid = _Gridded(self._emg.out_rate_hz, len(self._emg.out_channels))
        kin_rate = self.kinematic_rate_hz if self._kin is None else self._kin.out_rate_hz
        self._kin_grid = _Gridded(kin_rate, 3)
        self._physics = StreamingPhysics(model.physics, model.row)
        self._measured = np.zeros(len(self.muscles), dtype=bool)  # muscles with a channel
        self._done = 0  # grid samples given so far (whole update blocks)
        self._pending: list[np.ndarray] = []  # grid rows not yet in a block: angle, speed, ...
        self._features = np.zeros((0, model.spec.n_features), dtype=np.float32)

    # ------------------------------------------------------------------------ input

    def push_emg(self, values: np.ndarray) -> None:
        """The next raw EMG samples, ``(n, len(emg_channels))`` in the recording's units."""
        env = self._emg.process(values)
        self._env_grid.push(env / self._references)

    def push_kinematics(self, values: np.ndarray) -> None:
        """The next kinematic samples, ``(k, len(kinematic_channels))`` (rad, rad/s, rad/s²)."""
        x = np.asarray(values, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.kinematic_channels):
            raise ValueError(
                f"kinematics must be (k, {len(self.kinematic_channels)}) for channels "
                f"{list(self.kinematic_channels)}, got shape {x.shape}"
            )
        if self._kin is not None:
            out = self._kin.process(x)
            names = self._kin.out_channels
            c = self.kinematic_channels[0]
            x = out[:, [names.index(n) for n in (c, f"{c}_speed", f"{c}_acceleration")]]
        self._kin_grid.push(x)

    # ------------------------------------------------------------------------ output

    def update(self) -> StreamUpdate:
        """Every whole update block (``hop`` grid samples) completed since the last call."""
        self._grid()
        rows = np.concatenate(self._pending) if self._pending else np.zeros((0, 1))
        blocks = len(rows) // self.model.hop
        if blocks == 0:
            return StreamUpdate.empty(len(self.muscles))
        n = blocks * self.model.hop
        block, rest = rows[:n], rows[n:]
        self._pending = [rest] if len(rest) else []
        return self._estimate(block)

    def _grid(self) -> None:
        """Grid samples both streams now cover, interpolated, mapped and queued."""
        rate = self.out_rate_hz
        last = min(self._env_grid.last_time_s, self._kin_grid.last_time_s)
        queued = self._done + sum(len(p) for p in self._pending)
        if not np.isfinite(last):
            return
        available = int(np.floor(last * rate + 1e-9)) + 1
        if available <= queued:
            return
        times = np.arange(queued, available) / rate
        env = self._env_grid.at(times)
        kin = self._kin_grid.at(times)
        muscles, measured, _ = map_envelopes(
            env, self._emg.out_channels, self.model.channel_map, "stream"
        )
        self._measured = measured
        self._pending.append(np.column_stack([times, kin, np.clip(muscles, 0.0, None)]))

    def _estimate(self, rows: np.ndarray) -> StreamUpdate:
        """Envelopes and torque of whole update blocks of grid ``rows`` (time, θ, θ̇, θ̈,
        envelopes)."""
        m = self.model
        trial = PreparedTrial(
            subject="stream",
            trial_id="stream",
            session="",
            condition="",
            time=rows[:, 0],
            angle=rows[:, 1],
            velocity=rows[:, 2],
            acceleration=rows[:, 3],
            torque=np.zeros(len(rows)),
            torque_source="none",
            envelopes=rows[:, 4:],
            measured=self._measured,
            load_kg=self.load_kg,
            lever_arm_m=0.0,
            rate=self.out_rate_hz,
        )
        self._features = np.concatenate(
            [self._features, input_features(trial, m.spec, self.muscles)]
        )
        env = self._network(len(rows))
        self._features = self._features[-m.window :]
        if m.use_measured:
            env = np.where(self._measured[None, :], trial.envelopes, env)
        _, _, torque = self._physics(env, trial.angle, trial.velocity)
        self._done += len(rows)
        return StreamUpdate(rows[:, 0], env, torque)

    @torch.no_grad()
    def _network(self, n_new: int) -> np.ndarray:
        """``(n_new, M)`` envelopes of the newest ``n_new`` feature rows, ``hop`` at a time,
        each block from the window ending with it."""
        m, net = self.model, self.model.net
        net.eval()
        ref = next(net.parameters())
        x = torch.as_tensor(self._features).to(ref)
        total = self._done + n_new  # grid samples once these are given
        ends = list(range(self._done + m.hop, total + 1, m.hop))
        offset = total - len(x)  # grid index of the first feature row kept
        windows = [x[max(0, e - m.window) - offset : e - offset] for e in ends]
        full = [w for w in windows if len(w) == m.window]
        outs = [net(w[None])[0] for w in windows if len(w) < m.window]
        if full:
            outs += list(net(torch.stack(full)))
        return np.concatenate([o[-m.hop :].double().cpu().numpy() for o in outs])
