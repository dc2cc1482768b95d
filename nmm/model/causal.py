"""The NMM in causal mode (``model.causal``): every estimate from inputs up to its own sample.

A stream updates every ``hop`` samples (``model.hop_s``, 20 ms). At each update the encoder,
whose self-attention is masked causally (:class:`nmm.model.encoder.NMMEncoder`), sees the
window of ``window`` samples ending at the newest sample and gives the envelopes of the samples
that arrived since the last update, the window's newest ``hop``. Before a whole window has
arrived the window is everything since the start: with the causal mask, the outputs of the
window ``[0, e)`` are those of the window ``[0, window)`` up to ``e``, so one window from sample
0 gives them all offline (:func:`causal_envelopes`).

The physics (activation dynamics and muscle torque, :class:`nmm.model.physics.PersonalisedElbow`)
is causal as it is: the electromechanical delay looks back, the activation ODE steps forwards
from the first sample, and the torque is a function of each sample. :class:`StreamingPhysics`
runs it block by block with its state carried (the ODE's state and the last envelopes the delay
reaches back to), giving what one pass over the whole trial gives.

- :func:`update_blocks` the samples each update gives;
- :func:`causal_envelopes` a whole trial's envelopes, exactly as a stream of it gives them;
- :class:`StreamingPhysics` the physics of one subject, block by block;
- :class:`StreamInputs`, :func:`stream_inputs` what a subject's stream sends and how its EMG is
  normalised, as in training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nmm.data.preprocess import Step
from nmm.data.schema import Cohort
from nmm.model.features import subject_peak_reference
from nmm.model.physics import PersonalisedElbow
from nmm.model.settings import NMMSettings
from nmm.physics.activation import (
    activation_nonlinearity,
    apply_electromechanical_delay,
    integrate_activation,
)

__all__ = [
    "StreamInputs",
    "StreamingPhysics",
    "causal_envelopes",
    "stream_inputs",
    "update_blocks",
]


def update_blocks(n_samples: int, hop: int) -> list[tuple[int, int]]:
    """``[(start, end), ...]``: the samples ``[start, end)`` each update of a stream of
    ``n_samples`` gives, one every ``hop`` samples; a last, shorter block ends at
    ``n_samples`` when ``hop`` does not divide it (the stream's end)."""
    if hop < 1:
        raise ValueError(f"hop must be >= 1 sample, got {hop}")
    ends = list(range(hop, n_samples + 1, hop))
    if not ends or ends[-1] != n_samples:
        ends.append(n_samples)
    return [(max(0, e - hop) if k == 0 else ends[k - 1], e) for k, e in enumerate(ends)]


@torch.no_grad()
def causal_envelopes(
    net: torch.nn.Module, x: np.ndarray, window: int, hop: int, batch_size: int = 256
) -> np.ndarray:
    """``(T, M)`` envelopes of a trial's inputs ``x`` ``(T, F)``, each update's block from the
    causal network's window of ``window`` samples ending at that update (module doc).

    Raises:
        ValueError: the network is not causal (``net.causal``): its outputs would look ahead.
    """
    if not getattr(net, "causal", False):
        raise ValueError("causal reconstruction needs a causal network (model.causal=true)")
    was_training = net.training
    net.eval()
    ref = next(net.parameters())
    xt = torch.as_tensor(x).to(ref)
    n = xt.shape[0]
    first = min(window, n)
    out = np.empty((n, net.n_outputs))
    out[:first] = net(xt[None, :first])[0].double().cpu().numpy()
    later = [(s, e) for s, e in update_blocks(n, hop) if e > window]
    for k in range(0, len(later), batch_size):
        blocks = later[k : k + batch_size]
        y = net(torch.stack([xt[e - window : e] for _, e in blocks])).double().cpu().numpy()
        for (s, e), yk in zip(blocks, y, strict=True):
            out[s:e] = yk[window - (e - s) :]
    net.train(was_training)
    return out


class StreamingPhysics:
    """The physics of subject row ``row`` of ``physics``, block by block (module doc).

    Calls give, for consecutive blocks of samples, what :class:`PersonalisedElbow` gives for
    the whole sequence at once, ``a = g_A(ODE(gain × ê(t - d)))`` (Lloyd & Besier 2003 order;
    De Groote et al. 2016 dynamics; the steps of
    :meth:`nmm.physics.parameters.PersonalisedParameters.activation`): the delay with the
    samples before the start holding the first one, the ODE from ``u(t_0) = e(t_0)``, the
    exponential nonlinearity g_A, then the muscle torque of each sample.
    """

    def __init__(self, physics: PersonalisedElbow, row: int) -> None:
        self.physics, self.row = physics, int(row)
        table = physics.parameters_table
        self._dtype = table.raw.dtype
        with torch.no_grad():
            self._p = table.activation_parameters([self.row])
        # the delay reaches back floor(d / dt) + 1 samples; one more for the ODE's first step
        longest = float(self._p.delay.max()) / physics.dt
        self.context = math.floor(longest) + 2
        self._recent = torch.zeros((0, len(physics.muscle_names)), dtype=self._dtype)
        self._state: torch.Tensor | None = None  # the ODE's u at the last sample given

    @torch.no_grad()
    def __call__(
        self, envelopes: np.ndarray, angle: np.ndarray, velocity: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(excitation (k, M), activation (k, M), torque (k,) N·m)`` of the next ``k``
        samples: envelopes ê ``(k, M)``, θ ``(k,)`` rad, θ̇ ``(k,)`` rad/s."""
        k = len(envelopes)
        m = len(self.physics.muscle_names)
        if k == 0:
            return np.zeros((0, m)), np.zeros((0, m)), np.zeros(0)
        p, dt = self._p, self.physics.dt
        new = torch.tensor(envelopes, dtype=self._dtype)
        env = torch.cat([self._recent, new]).unsqueeze(0)  # (1, c + k, M)
        old = self._recent.shape[0]
        delayed = apply_electromechanical_delay(env * p.emg_gain.unsqueeze(-2), p.delay, dt)
        kwargs = {"method": self.physics.method, "substeps": self.physics.substeps}
        smoothing = self.physics.smoothing
        if self._state is None:  # the stream's first sample: u(t_0) = e(t_0)
            u = integrate_activation(delayed, dt, p.tau_act, p.tau_deact, smoothing, None, **kwargs)
        else:  # from the last sample given, whose u is the state
            u = integrate_activation(
                delayed[:, old - 1 :],
                dt,
                p.tau_act,
                p.tau_deact,
                smoothing,
                self._state,
                **kwargs,
            )[:, 1:]
        self._state = u[:, -1]
        a = u
        if p.shape_factor is not None:
            a = activation_nonlinearity(u, p.shape_factor.unsqueeze(-2))
        rows = torch.tensor([self.row])
        th = torch.tensor(angle, dtype=self._dtype).unsqueeze(0)
        thd = torch.tensor(velocity, dtype=self._dtype).unsqueeze(0)
        torque, _ = self.physics.muscle_torque(a, rows, th, thd)
        self._recent = env[0, -self.context :]
        excitation = (new * p.emg_gain).double().numpy()
        return excitation, a[0].double().numpy(), torque[0].double().numpy()


@dataclass(frozen=True)
class StreamInputs:
    """What a stream of one subject sends, and how its EMG is normalised, as in training.

    Attributes:
        emg_channels: the raw EMG channels, in the order of a chunk's columns.
        emg_rate_hz: their rate (Hz).
        kinematic_channels: ``(<coordinate>,)``, or with ``<coordinate>_speed`` and
            ``<coordinate>_acceleration`` where the model was trained on recorded derivatives.
        kinematic_rate_hz: their rate (Hz).
        references: each EMG channel's reference, in the raw EMG's units: its envelope is
            divided by it (:class:`nmm.data.preprocess.NormaliseMVIC`).
        normalisation: ``"mvic"`` (the subject's MVIC references) or ``"subject_peak"`` (its
            peak envelope over its trials, :func:`nmm.model.features.subject_peak_reference`).
    """

    emg_channels: tuple[str, ...]
    emg_rate_hz: float
    kinematic_channels: tuple[str, ...]
    kinematic_rate_hz: float
    references: Mapping[str, float]
    normalisation: str

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any]) -> StreamInputs:
        """From :meth:`as_dict`'s mapping (e.g. read back from JSON)."""
        return cls(
            emg_channels=tuple(str(c) for c in node["emg_channels"]),
            emg_rate_hz=float(node["emg_rate_hz"]),
            kinematic_channels=tuple(str(c) for c in node["kinematic_channels"]),
            kinematic_rate_hz=float(node["kinematic_rate_hz"]),
            references={str(k): float(v) for k, v in node["references"].items()},
            normalisation=str(node["normalisation"]),
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "emg_channels": list(self.emg_channels),
            "emg_rate_hz": self.emg_rate_hz,
            "kinematic_channels": list(self.kinematic_channels),
            "kinematic_rate_hz": self.kinematic_rate_hz,
            "references": dict(self.references),
            "normalisation": self.normalisation,
        }


def stream_inputs(
    cohort: Cohort, subject: str, settings: NMMSettings, emg_chain: Step
) -> StreamInputs:
    """The :class:`StreamInputs` of ``subject``'s trials in ``cohort`` (its first trial with
    raw EMG gives the channels and rates), normalised as
    :func:`nmm.model.train.prepare_cohort` normalises them with ``emg_chain``.

    Raises:
        ValueError: the subject has no trial with raw EMG and kinematics, or its envelopes are
            normalised by each trial's own peak (known only at the trial's end).
    """
    trials = [t for t in cohort if t.subject == subject]
    raw = [t for t in trials if t.emg is not None and t.kinematics is not None]
    if not raw:
        raise ValueError(f"subject {subject}: no trial with raw EMG and kinematics to stream")
    first = raw[0]
    channels = tuple(first.emg.channels)
    mvic = cohort.subjects[subject].mvic or None
    refs, how = (
        (mvic, "mvic") if mvic else (subject_peak_reference(trials, emg_chain), "subject_peak")
    )
    if not all(ch in refs for ch in channels):
        raise ValueError(
            f"subject {subject}: no {how} reference for every EMG channel {list(channels)}; "
            "each trial would be divided by its own peak, which a stream knows only at its end"
        )
    c = first.coordinate
    derivatives = (c, f"{c}_speed", f"{c}_acceleration")
    recorded = settings.use_recorded_derivatives and all(
        n in first.kinematics.channels for n in derivatives
    )
    return StreamInputs(
        emg_channels=channels,
        emg_rate_hz=float(first.emg.rate),
        kinematic_channels=derivatives if recorded else (c,),
        kinematic_rate_hz=float(first.kinematics.rate),
        references={ch: float(refs[ch]) for ch in channels},
        normalisation=how,
    )
