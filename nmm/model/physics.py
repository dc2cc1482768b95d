"""The physics of the NMM: predicted envelopes -> activation -> muscle torque, per subject.

A thin ``nn.Module`` over :mod:`nmm.physics` (no equation is restated here):

    u = gain_s ⊙ ê                       excitation from the envelope (per-subject EMG gain)
    a = g_A(ODE(u(t - d)))                :func:`nmm.physics.activation.excitation_to_activation`
                                          (delay, De Groote 2016 dynamics, Lloyd & Besier shape)
    τ_mus = Σ_i r_i(θ) F_T,i(a_i, l_MT,i(θ), -r_i θ̇; F0, l_opt, l_Ts of subject s)
                                          :func:`nmm.physics.elbow.muscle_torque`

with each subject's 32 bounded parameters in a
:class:`~nmm.physics.parameters.PersonalisedParameters` table (``conf/physics/arm26.yaml``).

The activation ODE is integrated on the data grid with a fixed, configured scheme
(``model.activation.method``/``substeps``): explicit Euler with 2 substeps at 100 Hz is stable
over the whole ``tau_act_s`` range (step × fastest rate 1/(0.5 τ_a) ≤ 2 for τ_a ≥ 5 ms) and costs
a quarter of the default RK4, which matters because the integration is a loop over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from nmm.model.settings import NMMSettings
from nmm.physics.elbow import ElbowModel
from nmm.physics.parameters import PersonalisedParameters

__all__ = ["PersonalisedElbow", "PhysicsOutput", "mvic_agonists", "with_measured"]


def with_measured(envelopes: Tensor, measured_envelopes: Tensor, measured: Tensor) -> Tensor:
    """``envelopes`` with the measured muscles' columns replaced by the recordings.

    At prediction time the measured muscles' envelopes are data: the physics is driven by them
    and by the network's envelopes of the hidden muscles.

    Args:
        envelopes: ``(B, T, M)`` network output.
        measured_envelopes: ``(B, T, M)`` recorded envelopes (any value where not measured).
        measured: ``(B, M)`` or ``(M,)`` bool.
    """
    mask = measured.to(torch.bool)
    mask = mask.unsqueeze(-2) if mask.dim() == 2 else mask
    return torch.where(mask, measured_envelopes.to(envelopes.dtype), envelopes)


def mvic_agonists(muscle_torques: Tensor, torque_target: Tensor, hold: Tensor) -> Tensor:
    """``(B, T, M)`` bool: in the hold of an MVIC trial (``hold``, ``(B, T)`` bool), the muscles
    whose moment has the sign of the inverse-dynamics moment (``torque_target``, ``(B, T)``
    N·m); ``muscle_torques`` ``(B, T, M)`` N·m (a muscle's sign is its moment arm's)."""
    same_sign = muscle_torques.detach() * torque_target.unsqueeze(-1) > 0
    return same_sign & hold.to(torch.bool).unsqueeze(-1)


class PhysicsOutput(NamedTuple):
    """What :class:`PersonalisedElbow` returns (B batch, T samples, M muscles).

    Attributes:
        excitation: ``(B, T, M)`` u = gain × envelope.
        activation: ``(B, T, M)`` a after delay, dynamics and shape.
        torque: ``(B, T)`` τ_mus (N·m), flexion positive.
        muscle_torques: ``(B, T, M)`` r_i F_T,i (N·m).
    """

    excitation: Tensor
    activation: Tensor
    torque: Tensor
    muscle_torques: Tensor


class PersonalisedElbow(nn.Module):
    """Differentiable elbow with a table of personalised parameters (one row per subject).

    Args:
        elbow: geometry, nominal muscle parameters and arm (:class:`ElbowModel`).
        parameters: the per-subject table; its muscles must be the elbow's, in order.
        dt: sample interval of the data (s).
        method, substeps, smoothing: activation integration
            (:func:`nmm.physics.activation.integrate_activation`).
    """

    def __init__(
        self,
        elbow: ElbowModel,
        parameters: PersonalisedParameters,
        dt: float,
        method: str = "euler",
        substeps: int | None = 2,
        smoothing: float = 10.0,
    ) -> None:
        super().__init__()
        if tuple(parameters.muscle_names) != tuple(elbow.muscle_names):
            raise ValueError(
                f"parameter muscles {list(parameters.muscle_names)} differ from the elbow's "
                f"{list(elbow.muscle_names)}"
            )
        self.elbow = elbow
        self.parameters_table = parameters
        self.dt = float(dt)
        self.method, self.substeps, self.smoothing = method, substeps, float(smoothing)

    @classmethod
    def from_settings(
        cls,
        settings: NMMSettings,
        elbow: ElbowModel,
        n_subjects: int,
        body_mass_kg: Sequence[float | None] | None = None,
    ) -> PersonalisedElbow:
        """The personalised elbow of the NMM's settings, ``n_subjects`` parameter rows: the
        table of ``settings.physics`` (bounds, initial values, priors), the data rate
        ``settings.rate_hz`` (Hz) and the activation integration of ``settings``. The one
        construction the NMM and SynX share. ``body_mass_kg`` (kg, one per row, None: unknown)
        centres the strength priors (:meth:`PersonalisedParameters.expect_strength`)."""
        table = PersonalisedParameters.from_config(
            settings.physics, n_subjects, elbow.muscle_parameters, list(elbow.muscle_names)
        ).to(torch.get_default_dtype())
        if body_mass_kg is not None:
            table.expect_strength(body_mass_kg)
        return cls(
            elbow,
            table,
            dt=1.0 / settings.rate_hz,
            method=settings.activation_method,
            substeps=settings.activation_substeps,
            smoothing=settings.activation_smoothing,
        )

    @property
    def muscle_names(self) -> tuple[str, ...]:
        return tuple(self.elbow.muscle_names)

    @property
    def n_subjects(self) -> int:
        return self.parameters_table.n_subjects

    def with_subjects(
        self, n_subjects: int, body_mass_kg: Sequence[float | None] | None = None
    ) -> PersonalisedElbow:
        """A copy with a fresh table of ``n_subjects`` rows at the initial values (same specs),
        strengths centred on the ``body_mass_kg`` given (one per row, kg; see
        :meth:`PersonalisedParameters.expect_strength`)."""
        old = self.parameters_table
        table = PersonalisedParameters(
            n_subjects,
            old.muscle_names,
            old.specs,
            self.elbow.muscle_parameters,
            tau_act=old.tau_act_default,
            tau_deact=old.tau_deact_default,
            deactivation_ratio=old.deactivation_ratio,
            strength_from_body_mass=old.strength_from_body_mass,
        ).to(device=old.raw.device, dtype=old.raw.dtype)
        if body_mass_kg is not None:
            table.expect_strength(body_mass_kg)
        return PersonalisedElbow(
            self.elbow, table, self.dt, self.method, self.substeps, self.smoothing
        )

    def forward(
        self,
        envelopes: Tensor,
        subjects: Tensor | Sequence[int],
        angle: Tensor,
        velocity: Tensor,
    ) -> PhysicsOutput:
        """Muscle torque from envelopes.

        Args:
            envelopes: ``(B, T, M)`` ê in [0, 1].
            subjects: ``(B,)`` row of each sequence in the parameter table.
            angle: ``(B, T)`` θ (rad).
            velocity: ``(B, T)`` θ̇ (rad/s).
        """
        table = self.parameters_table
        subjects = torch.as_tensor(subjects, device=envelopes.device).reshape(-1)
        p = table.activation_parameters(subjects)
        excitation = envelopes * p.emg_gain.unsqueeze(-2)
        kwargs: dict[str, Any] = {"smoothing": self.smoothing, "method": self.method}
        if self.substeps is not None:
            kwargs["substeps"] = int(self.substeps)
        activation = table.activation(envelopes, self.dt, subjects, **kwargs)
        mp = table.muscle_parameters(subjects, time_axis=True)
        out = self.elbow.muscle_torque(angle, velocity, activation, mp)
        return PhysicsOutput(excitation, activation, out.torque, out.muscle_torques)

    def prior_deviation(self, subjects: Tensor | Sequence[int] | None = None) -> Tensor:
        """``(S, P)`` (value - prior centre) / (upper - lower) of every personalised parameter
        (the centre: the initial value, or what :meth:`PersonalisedParameters.recentre` set)."""
        table = self.parameters_table
        x = table.bounded(subjects)
        centre = table.centre if subjects is None else table.centre[torch.as_tensor(subjects)]
        return (x - centre.to(x)) / (table.upper - table.lower)
