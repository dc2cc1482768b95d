"""The physics of the NMM: predicted envelopes -> activation -> muscle torque, per subject.

A thin ``nn.Module`` over :mod:`nmm.physics` (no equation is restated here):

    u = gain_s ⊙ ê                       excitation from the envelope (per-subject EMG gain)
    a = g_A(ODE(u(t - d)))                :func:`nmm.physics.activation.excitation_to_activation`
                                          (delay, De Groote 2016 dynamics, Lloyd & Besier shape)
    τ_mus = Σ_i r_i(θ) F_T,i(a_i, l_MT,i(θ), -r_i θ̇; F0, l_opt, l_Ts of subject s)
                                          :func:`nmm.physics.elbow.muscle_torque`

with each subject's 32 bounded parameters in a
:class:`~nmm.physics.parameters.PersonalisedParameters` table (``conf/physics/arm26.yaml``),
and r_i, l_MT,i and the nominal F0, l_opt, l_Ts those of subject s's model: its own scaled
``.osim`` where it has one, else ``physics.osim``
(:class:`~nmm.physics.subject_elbows.SubjectElbows`; the relative parameters are factors of its
values).

The activation ODE is integrated on the data grid with a fixed, configured scheme
(``model.activation.method``/``substeps``): explicit Euler with 2 substeps at 100 Hz is stable
over the whole ``tau_act_s`` range (step × fastest rate 1/(0.5 τ_a) ≤ 2 for τ_a ≥ 5 ms) and costs
a quarter of the default RK4, which matters because the integration is a loop over time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from nmm.model.settings import NMMSettings
from nmm.physics.elbow import ElbowModel
from nmm.physics.muscle import MuscleParameters
from nmm.physics.parameters import MUSCLE_PROPERTY_PARAMETERS, PersonalisedParameters
from nmm.physics.subject_elbows import SubjectElbows

__all__ = [
    "PersonalisedElbow",
    "PhysicsOutput",
    "mvic_agonists",
    "row_nominal",
    "with_measured",
]


def row_nominal(elbows: SubjectElbows, subject_ids: Sequence[str]) -> MuscleParameters:
    """The nominal (``.osim``) muscle parameters of a table with one row per subject of
    ``subject_ids``: the elbow's own (``(M,)``) where every row has the same elbow; otherwise
    every property ``(S, M)``, each row its model's."""
    distinct = elbows.distinct(subject_ids)
    if len(distinct) <= 1:
        return (distinct[0] if distinct else elbows.default).muscle_parameters
    m = len(elbows.muscle_names)
    rows = [elbows[s].muscle_parameters for s in subject_ids]
    stacked = {
        n: torch.stack(
            [
                torch.broadcast_to(torch.as_tensor(getattr(r, n), dtype=torch.float64), (m,))
                for r in rows
            ]
        )
        for n in MUSCLE_PROPERTY_PARAMETERS
    }
    return replace(elbows.default.muscle_parameters, **stacked)


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
        elbow: geometry, nominal muscle parameters and arm (:class:`ElbowModel`) of every row,
            or each subject's (:class:`SubjectElbows`, with ``subject_ids``).
        parameters: the per-subject table; its muscles must be the elbow's, in order; where
            rows have different elbows, its nominal values are each row's (``(S, M)``).
        dt: sample interval of the data (s).
        method, substeps, smoothing: activation integration
            (:func:`nmm.physics.activation.integrate_activation`).
        subject_ids: the subject of each row, to find its elbow in ``elbow``; None: the
            default elbow for every row.
    """

    def __init__(
        self,
        elbow: ElbowModel | SubjectElbows,
        parameters: PersonalisedParameters,
        dt: float,
        method: str = "euler",
        substeps: int | None = 2,
        smoothing: float = 10.0,
        subject_ids: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.elbows = SubjectElbows.of(elbow)
        if tuple(parameters.muscle_names) != self.elbows.muscle_names:
            raise ValueError(
                f"parameter muscles {list(parameters.muscle_names)} differ from the elbow's "
                f"{list(self.elbows.muscle_names)}"
            )
        if subject_ids is not None and len(subject_ids) != parameters.n_subjects:
            raise ValueError(
                f"{len(subject_ids)} subject ids for {parameters.n_subjects} parameter rows"
            )
        self.subject_ids = None if subject_ids is None else tuple(subject_ids)
        rows = self.subject_ids or ()
        # The distinct elbows of the rows, and each row's index into them (one group: every
        # row has the same elbow, and forward is the elbow's muscle_torque as it is).
        self.row_elbows = self.elbows.distinct(rows) if rows else [self.elbows.default]
        index = {id(e): k for k, e in enumerate(self.row_elbows)}
        groups = [index[id(self.elbows[s])] for s in rows] or [0] * parameters.n_subjects
        self.register_buffer("row_group", torch.tensor(groups), persistent=False)
        self.parameters_table = parameters
        self.dt = float(dt)
        self.method, self.substeps, self.smoothing = method, substeps, float(smoothing)

    @classmethod
    def from_settings(
        cls,
        settings: NMMSettings,
        elbow: ElbowModel | SubjectElbows,
        subject_ids: Sequence[str],
        body_mass_kg: Sequence[float | None] | None = None,
        uncalibrated: Sequence[Sequence[bool] | None] | None = None,
    ) -> PersonalisedElbow:
        """The personalised elbow of the NMM's settings, one parameter row per subject of
        ``subject_ids`` with its elbow (``elbow[subject]``): the table of ``settings.physics``
        (bounds, initial values, priors), relative to each subject's model, the data rate
        ``settings.rate_hz`` (Hz) and the activation integration of ``settings``. The one
        construction the NMM and SynX share. ``body_mass_kg`` (kg, one per row, None: unknown)
        centres the strength priors (:meth:`PersonalisedParameters.expect_strength`);
        ``uncalibrated`` (one ``(M,)`` bool mask per row, :func:`nmm.model.features.
        uncalibrated_muscles`) sets the gain priors of muscles whose envelopes are not in
        fractions of an MVIC (:meth:`PersonalisedParameters.expect_uncalibrated_gains`)."""
        elbows = SubjectElbows.of(elbow)
        table = PersonalisedParameters.from_config(
            settings.physics,
            len(subject_ids),
            row_nominal(elbows, subject_ids),
            list(elbows.muscle_names),
        ).to(torch.get_default_dtype())
        table.expect_subjects(body_mass_kg, uncalibrated)
        return cls(
            elbows,
            table,
            dt=1.0 / settings.rate_hz,
            method=settings.activation_method,
            substeps=settings.activation_substeps,
            smoothing=settings.activation_smoothing,
            subject_ids=subject_ids,
        )

    @property
    def muscle_names(self) -> tuple[str, ...]:
        return self.elbows.muscle_names

    @property
    def n_subjects(self) -> int:
        return self.parameters_table.n_subjects

    def with_subjects(
        self,
        subject_ids: Sequence[str],
        body_mass_kg: Sequence[float | None] | None = None,
        uncalibrated: Sequence[Sequence[bool] | None] | None = None,
    ) -> PersonalisedElbow:
        """A copy with a fresh table, one row per subject of ``subject_ids`` (with its elbow
        from :attr:`elbows`) at the initial values (same specs), strengths centred on the
        ``body_mass_kg`` given (one per row, kg) and gain priors set by ``uncalibrated`` (as
        :meth:`from_settings`)."""
        old = self.parameters_table
        table = PersonalisedParameters(
            len(subject_ids),
            old.muscle_names,
            old.specs,
            row_nominal(self.elbows, subject_ids),
            tau_act=old.tau_act_default,
            tau_deact=old.tau_deact_default,
            deactivation_ratio=old.deactivation_ratio,
            strength_from_body_mass=old.strength_from_body_mass,
            uncalibrated_gain_prior=old.uncalibrated_gain_prior,
        ).to(device=old.raw.device, dtype=old.raw.dtype)
        table.expect_subjects(body_mass_kg, uncalibrated)
        return PersonalisedElbow(
            self.elbows, table, self.dt, self.method, self.substeps, self.smoothing, subject_ids
        )

    def add_elbows(self, elbows: SubjectElbows) -> None:
        """Add the elbows of more subjects (e.g. a new cohort's, before :meth:`with_subjects`);
        this table's rows keep theirs."""
        self.elbows = self.elbows.merged(elbows)

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
        torque, muscle_torques = self.muscle_torque(activation, subjects, angle, velocity)
        return PhysicsOutput(excitation, activation, torque, muscle_torques)

    def muscle_torque(
        self, activation: Tensor, subjects: Tensor, angle: Tensor, velocity: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(B, T)`` τ_mus and ``(B, T, M)`` r_i F_T,i (N·m) of activations ``(B, T, M)``
        with the rows ``subjects`` ``(B,)``, at θ ``(B, T)`` rad and θ̇ ``(B, T)`` rad/s
        (:func:`nmm.physics.elbow.muscle_torque` with each row's elbow and parameters)."""
        mp = self.parameters_table.muscle_parameters(subjects, time_axis=True)
        if len(self.row_elbows) == 1:
            out = self.row_elbows[0].muscle_torque(angle, velocity, activation, mp)
            return out.torque, out.muscle_torques
        groups = self.row_group.to(subjects.device)[subjects]
        return self._grouped_torque(groups, angle, velocity, activation, mp)

    def _grouped_torque(
        self,
        groups: Tensor,
        angle: Tensor,
        velocity: Tensor,
        activation: Tensor,
        mp: MuscleParameters,
    ) -> tuple[Tensor, Tensor]:
        """``(B, T)`` τ_mus and ``(B, T, M)`` r_i F_T,i (N·m) where the batch's sequences have
        different elbows: each group of sequences (``groups``, ``(B,)`` index into
        :attr:`row_elbows`) through its own geometry, with its rows' personalised F0, l_opt,
        l_Ts and its model's other properties (``mp``, each ``(B, 1, M)``)."""
        parts, order = [], []
        for k, elbow in enumerate(self.row_elbows):
            idx = torch.nonzero(groups == k).reshape(-1)
            if idx.numel() == 0:
                continue
            own = {n: getattr(mp, n)[idx] for n in MUSCLE_PROPERTY_PARAMETERS}
            params = replace(elbow.muscle_parameters, **own)
            parts.append(elbow.muscle_torque(angle[idx], velocity[idx], activation[idx], params))
            order.append(idx)
        inverse = torch.argsort(torch.cat(order))
        torque = torch.cat([p.torque for p in parts])[inverse]
        return torque, torch.cat([p.muscle_torques for p in parts])[inverse]

    def prior_deviation(self, subjects: Tensor | Sequence[int] | None = None) -> Tensor:
        """``(S, P)`` (value - prior centre) / (upper - lower) of every personalised parameter
        (the centre: the initial value, or what :meth:`PersonalisedParameters.recentre` set),
        divided by the subject's prior width (1, or inf where a parameter has no prior:
        :meth:`PersonalisedParameters.expect_uncalibrated_gains`, whose deviation is then 0)."""
        table = self.parameters_table
        x = table.bounded(subjects)
        rows = slice(None) if subjects is None else torch.as_tensor(subjects)
        centre, width = table.centre[rows], table.prior_width[rows]
        return (x - centre.to(x)) / ((table.upper - table.lower) * width.to(x))
