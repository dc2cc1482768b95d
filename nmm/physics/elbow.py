"""One-degree-of-freedom elbow dynamics in PyTorch: muscle torque and inverse dynamics.

Convention (OpenSim arm26's ``r_elbow_flex``): the elbow angle θ is 0 at full extension and
positive in flexion; torques are positive when they flex. ``ψ`` is the shoulder elevation
(arm26's ``r_shoulder_elev``: 0 with the upper arm hanging, positive when it swings forward and
up). The forearm's angle from the downward vertical is

    θ_g = θ + ψ + φ_0

(φ_0 = 0 for an ideal planar arm; :func:`nmm.opensim.elbow_twin.arm_parameters_from_osim`
computes it, with the gravity factor cos β below, for a model whose axes are tilted), so that
θ_g = 0 with the forearm hanging straight down and π/2 with it horizontal, pointing forward.

Equations (each cited where used):

- muscle torque ``τ_mus = Σ_i r_i(θ) F_T,i`` with ``F_T,i`` the tendon force of the muscle
  model named from :data:`nmm.physics.muscle_models.MUSCLE_MODELS` at ``l_MT,i(θ)`` and
  ``v_MT,i = -r_i(θ) θ̇`` (:class:`nmm.physics.geometry.MuscleGeometry`); by default a
  ``DeGrooteFregly2016Muscle`` with a rigid tendon (:func:`nmm.physics.muscle.rigid_tendon_muscle`),
  or compliant in fibre-tendon equilibrium
  (:func:`nmm.physics.muscle.compliant_tendon_equilibrium`);
- gravity ``τ_g = (m_f l_c + m_L L) g cos β sin θ_g``;
- inertia about the axis ``I_tot = I_c + m_f l_c² + m_L L²`` (parallel-axis theorem; the load
  is a point mass);
- passive joint torque ``τ_p = -B θ̇ + τ_lim(θ, θ̇)``, with ``τ_lim`` OpenSim's
  ``CoordinateLimitForce`` (smooth-step stiffness beyond the range);
- inverse dynamics ``τ_ID = I_tot θ̈ + τ_g - τ_p``, the torque the muscles must supply, and the
  equation of motion ``I_tot θ̈ = τ_mus - τ_g + τ_p`` (docs/methods.md, arm dynamics).

Shapes: angles, speeds and accelerations are any batch shape ``(...)``, usually ``(B, T)``;
activations ``(..., M)``. Parameters are floats or tensors broadcastable to those shapes (a
per-trial load or shoulder angle as ``(B, 1)``, per-subject muscle parameters as ``(B, 1, M)``).
float32 and float64 both work; everything is differentiable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import torch
from torch import Tensor

from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle import MuscleParameters, MuscleState
from nmm.physics.muscle_models import DEFAULT_MUSCLE_MODEL, MuscleModel, get_muscle_model

__all__ = [
    "DEFAULT_LIMIT_TRANSITION",
    "STANDARD_GRAVITY",
    "ArmParameters",
    "ElbowModel",
    "MuscleTorque",
    "forward_acceleration",
    "gravity_angle",
    "gravity_torque",
    "inverse_dynamics_torque",
    "joint_limit_torque",
    "muscle_torque",
    "passive_joint_torque",
    "smooth_step",
    "total_inertia",
]

#: Standard acceleration of gravity g_n (m/s²), 3rd CGPM (1901). arm26.osim uses 9.8066.
STANDARD_GRAVITY: float = 9.80665
#: OpenSim ``CoordinateLimitForce`` default ``transition`` (0.1°), in rad.
DEFAULT_LIMIT_TRANSITION: float = math.radians(0.1)

ArrayLike = Tensor | float


def _first_tensor(*xs: object) -> Tensor:
    for x in xs:
        if isinstance(x, Tensor) and x.is_floating_point():
            return x
    return torch.zeros((), dtype=torch.get_default_dtype())


def _like(x: ArrayLike, ref: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


@dataclass(frozen=True)
class ArmParameters:
    """Forearm, gravity and passive-joint parameters of the 1-DoF elbow.

    Each field is a float or a tensor broadcastable to the angles' shape (e.g. ``(B, 1)`` for
    a per-trial value); tensors that require gradients are differentiated through.

    Attributes:
        forearm_mass: m_f, forearm + hand (kg).
        forearm_com_distance: l_c, distance of the forearm's centre of mass from the flexion
            axis, perpendicular to it (m).
        forearm_inertia: I_c, moment of inertia about the flexion axis through the centre of
            mass (kg·m²).
        gravity: g (m/s²).
        shoulder_elevation: ψ (rad), the upper arm's angle from hanging (see module doc).
        gravity_angle_offset: φ_0 (rad), added to θ + ψ; 0 for an ideal planar arm.
        gravity_plane_factor: cos β, where β is the flexion axis's tilt out of the horizontal
            plane; 1 for an ideal planar arm.
        joint_damping: B (N·m·s/rad), viscous joint damping throughout the range.
        lower_limit, upper_limit: range of motion (rad); the limit torque acts beyond it.
        limit_stiffness: K (N·m/rad) of the limit torque (both ends); 0 disables it.
        limit_damping: D (N·m·s/rad) of the limit torque, faded in with the stiffness.
        limit_transition: Δ (rad) over which the limit stiffness ramps from 0 to K.
    """

    forearm_mass: ArrayLike
    forearm_com_distance: ArrayLike
    forearm_inertia: ArrayLike
    gravity: ArrayLike = STANDARD_GRAVITY
    shoulder_elevation: ArrayLike = 0.0
    gravity_angle_offset: ArrayLike = 0.0
    gravity_plane_factor: ArrayLike = 1.0
    joint_damping: ArrayLike = 0.0
    lower_limit: ArrayLike = -math.pi
    upper_limit: ArrayLike = math.pi
    limit_stiffness: ArrayLike = 0.0
    limit_damping: ArrayLike = 0.0
    limit_transition: ArrayLike = DEFAULT_LIMIT_TRANSITION

    def to(self, ref: Tensor) -> ArmParameters:
        """Copy with every field as a tensor of ``ref``'s dtype and device."""
        return ArmParameters(**{f.name: _like(getattr(self, f.name), ref) for f in fields(self)})

    def replace(self, **changes: ArrayLike) -> ArmParameters:
        """Copy with some fields changed (``dataclasses.replace``)."""
        return replace(self, **changes)

    def as_floats(self) -> dict[str, float]:
        """Every field as a Python float (fields must be scalars)."""
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_mapping(cls, physics: Mapping[str, Any]) -> ArmParameters:
        """From a plain mapping laid out as the ``physics`` config (``conf/physics/arm26.yaml``).

        Reads ``forearm`` (``mass_kg``, ``com_m``, ``inertia_kgm2``), ``gravity`` (m/s²), the
        held value (rad) of ``shoulder_coordinate`` in ``locked`` and ``joint`` (``range_rad``,
        ``damping_nms_per_rad``, ``limit_stiffness_nm_per_rad``, ``limit_damping_nms_per_rad``,
        ``limit_transition_rad``); a key that is absent or null takes the field's default (ψ = 0,
        a range of ±π). The planar idealisation: φ_0 = 0, cos β = 1 (for arm26 the exact values
        differ by < 0.3 %; see :func:`nmm.opensim.elbow_twin.arm_parameters_from_osim`).

        Raises:
            ValueError: ``forearm`` or one of its values is missing or not a number.
        """
        try:
            forearm = physics["forearm"]
            joint = _section(physics, "joint")
            shoulder = physics.get("shoulder_coordinate")
            lo, hi = joint.get("range_rad", (-math.pi, math.pi))
            return cls(
                forearm_mass=float(forearm["mass_kg"]),
                forearm_com_distance=float(forearm["com_m"]),
                forearm_inertia=float(forearm["inertia_kgm2"]),
                gravity=float(physics.get("gravity", STANDARD_GRAVITY)),
                shoulder_elevation=(
                    float(_section(physics, "locked").get(shoulder, 0.0)) if shoulder else 0.0
                ),
                joint_damping=float(joint.get("damping_nms_per_rad", 0.0)),
                lower_limit=float(lo),
                upper_limit=float(hi),
                limit_stiffness=float(joint.get("limit_stiffness_nm_per_rad", 0.0)),
                limit_damping=float(joint.get("limit_damping_nms_per_rad", 0.0)),
                limit_transition=float(joint.get("limit_transition_rad", DEFAULT_LIMIT_TRANSITION)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"physics settings: cannot read the arm parameters ({exc!r})") from exc


def _section(physics: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``physics[key]``, or an empty mapping where it is absent or null."""
    value = physics.get(key)
    return {} if value is None else value


# --------------------------------------------------------------------------------------
# Rigid-body terms
# --------------------------------------------------------------------------------------


def gravity_angle(theta: Tensor, arm: ArmParameters) -> Tensor:
    """Forearm angle from the downward vertical θ_g = θ + ψ + φ_0 (rad), shape of ``theta``."""
    p = arm.to(theta)
    return theta + p.shoulder_elevation + p.gravity_angle_offset


def total_inertia(
    arm: ArmParameters, load_mass: ArrayLike = 0.0, load_lever_arm: ArrayLike = 0.0
) -> Tensor:
    """Moment of inertia about the flexion axis, I_tot = I_c + m_f l_c² + m_L L² (kg·m²).

    Parallel-axis theorem (Steiner); the load is a point mass at distance L from the axis.
    Broadcast shape of the parameters and loads.
    """
    ref = _first_tensor(load_mass, load_lever_arm, *(getattr(arm, f.name) for f in fields(arm)))
    p = arm.to(ref)
    m_l, lever = _like(load_mass, ref), _like(load_lever_arm, ref)
    return p.forearm_inertia + p.forearm_mass * p.forearm_com_distance**2 + m_l * lever**2


def gravity_torque(
    theta: Tensor,
    arm: ArmParameters,
    load_mass: ArrayLike = 0.0,
    load_lever_arm: ArrayLike = 0.0,
) -> Tensor:
    """Torque the joint must supply against gravity, (m_f l_c + m_L L) g cos β sin θ_g (N·m).

    Gravity moment of the forearm and of a point load on its long axis (docs/methods.md,
    arm dynamics). Positive (flexing) while 0 < θ_g < π.

    Args:
        theta: θ (rad), any shape.
        arm: arm parameters, broadcastable.
        load_mass: m_L (kg), broadcastable (e.g. ``(B, 1)``).
        load_lever_arm: L (m), distance of the load from the flexion axis, broadcastable.
    """
    p = arm.to(theta)
    moment = p.forearm_mass * p.forearm_com_distance + _like(load_mass, theta) * _like(
        load_lever_arm, theta
    )
    return moment * p.gravity * p.gravity_plane_factor * torch.sin(gravity_angle(theta, arm))


def smooth_step(x: Tensor) -> Tensor:
    """Quintic step 0 -> 1 over x in [0, 1], ``x³(10 - 15x + 6x²)`` clamped outside (C²).

    SimTK ``Function::Step`` (Simbody ``SimTKcommon/Scalar.h`` stepUp), used by OpenSim's
    ``CoordinateLimitForce``.
    """
    x = x.clamp(0.0, 1.0)
    return x**3 * (10.0 + x * (-15.0 + 6.0 * x))


def joint_limit_torque(theta: Tensor, theta_dot: Tensor, arm: ArmParameters) -> Tensor:
    """Smooth range-of-motion limit torque (N·m), applied to the joint.

    OpenSim ``CoordinateLimitForce::calcLimitForce`` (in rad instead of its per-degree
    properties)::

        s_up = step((θ - θ_up) / Δ),  s_lo = step((θ_lo - θ) / Δ)
        τ_lim = -K s_up (θ - θ_up) + K s_lo (θ_lo - θ) - D (s_up + s_lo) θ̇

    Zero inside the range; pushes back into it beyond, reaching full stiffness Δ past a limit.

    Args:
        theta: θ (rad), any shape.
        theta_dot: θ̇ (rad/s), broadcastable.
        arm: uses ``lower_limit``, ``upper_limit``, ``limit_stiffness``, ``limit_damping``,
            ``limit_transition``.
    """
    p = arm.to(theta)
    theta_dot = _like(theta_dot, theta)
    over = theta - p.upper_limit
    under = p.lower_limit - theta
    s_up = smooth_step(over / p.limit_transition)
    s_lo = smooth_step(under / p.limit_transition)
    stiff = p.limit_stiffness * (s_lo * under - s_up * over)
    return stiff - p.limit_damping * (s_up + s_lo) * theta_dot


def passive_joint_torque(theta: Tensor, theta_dot: Tensor, arm: ArmParameters) -> Tensor:
    """Passive torque applied to the joint, τ_p = -B θ̇ + τ_lim (N·m).

    Viscous damping as OpenSim ``SpringGeneralizedForce`` (viscosity) plus
    :func:`joint_limit_torque`.
    """
    p = arm.to(theta)
    return -p.joint_damping * _like(theta_dot, theta) + joint_limit_torque(theta, theta_dot, arm)


def inverse_dynamics_torque(
    theta: Tensor,
    theta_dot: Tensor,
    theta_ddot: Tensor,
    arm: ArmParameters,
    load_mass: ArrayLike = 0.0,
    load_lever_arm: ArrayLike = 0.0,
    include_passive: bool = True,
) -> Tensor:
    """Joint torque that the motion and load demand of the muscles (N·m).

    ``τ_ID = I_tot θ̈ + (m_f l_c + m_L L) g cos β sin θ_g - τ_p(θ, θ̇)``, i.e.
    ``I_tot θ̈ + τ_g + B θ̇ - τ_lim`` (1-DoF equation of motion, docs/methods.md;
    OpenSim ``InverseDynamicsSolver`` with the muscles excluded returns the same).

    Args:
        theta, theta_dot, theta_ddot: θ (rad), θ̇ (rad/s), θ̈ (rad/s²), broadcastable, e.g.
            ``(B, T)``.
        arm: arm parameters.
        load_mass: m_L (kg); load_lever_arm: L (m); broadcastable (e.g. ``(B, 1)``).
        include_passive: False drops damping and limit torque (rigid-body terms only).

    Returns:
        τ_ID, the broadcast shape.
    """
    theta_dot, theta_ddot = _like(theta_dot, theta), _like(theta_ddot, theta)
    inertia = total_inertia(arm.to(theta), _like(load_mass, theta), _like(load_lever_arm, theta))
    tau = inertia * theta_ddot + gravity_torque(theta, arm, load_mass, load_lever_arm)
    if include_passive:
        tau = tau - passive_joint_torque(theta, theta_dot, arm)
    return tau


def forward_acceleration(
    theta: Tensor,
    theta_dot: Tensor,
    muscle_torque: Tensor,
    arm: ArmParameters,
    load_mass: ArrayLike = 0.0,
    load_lever_arm: ArrayLike = 0.0,
    include_passive: bool = True,
) -> Tensor:
    """θ̈ = (τ_mus - τ_g + τ_p) / I_tot (rad/s²), the inverse of :func:`inverse_dynamics_torque`.

    Args:
        theta, theta_dot: θ (rad), θ̇ (rad/s).
        muscle_torque: τ_mus (N·m), broadcastable.
        arm, load_mass, load_lever_arm, include_passive: as in :func:`inverse_dynamics_torque`.
    """
    theta_dot = _like(theta_dot, theta)
    net = muscle_torque - gravity_torque(theta, arm, load_mass, load_lever_arm)
    if include_passive:
        net = net + passive_joint_torque(theta, theta_dot, arm)
    inertia = total_inertia(arm.to(theta), _like(load_mass, theta), _like(load_lever_arm, theta))
    return net / inertia


# --------------------------------------------------------------------------------------
# Muscles
# --------------------------------------------------------------------------------------


class MuscleTorque(NamedTuple):
    """Muscle contributions to the elbow torque (muscles on the last axis, geometry order).

    Attributes:
        torque: ``(...)`` τ_mus = Σ_i r_i F_T,i (N·m).
        muscle_torques: ``(..., M)`` r_i F_T,i (N·m).
        moment_arms: ``(..., M)`` r_i(θ) (m).
        mtu_lengths: ``(..., M)`` l_MT,i(θ) (m).
        mtu_velocities: ``(..., M)`` v_MT,i = -r_i θ̇ (m/s, lengthening positive).
        muscle: :class:`~nmm.physics.muscle.MuscleState` of the muscles.
    """

    torque: Tensor
    muscle_torques: Tensor
    moment_arms: Tensor
    mtu_lengths: Tensor
    mtu_velocities: Tensor
    muscle: MuscleState


def muscle_torque(
    theta: Tensor,
    theta_dot: Tensor,
    activation: Tensor,
    geometry: MuscleGeometry,
    params: MuscleParameters,
    check_range: bool = False,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> MuscleTorque:
    """Elbow torque of muscles driven by activations.

    ``τ_mus = Σ_i r_i(θ) F_T,i(a_i, l_MT,i(θ), -r_i(θ) θ̇)``: OpenSim's generalized force of a
    path actuator, tension × moment arm (``Muscle::computeMomentArm``, Sherman, Seth & Delp
    2013), with the tendon forces ``F_T`` of the registered muscle model ``muscle_model``
    (:mod:`nmm.physics.muscle_models`): ``"degroote2016_rigid_tendon"``, OpenSim's
    ``DeGrooteFregly2016Muscle`` with ``ignore_tendon_compliance``;
    ``"degroote2016_compliant_tendon"``, its fibre-tendon equilibrium at each sample with the
    fibre taking the whole v_MT (what ``computeInitialFiberEquilibrium`` solves; the tendon's
    own stretch velocity is neglected).

    Args:
        theta: θ (rad), shape ``(...)``, e.g. ``(B, T)``.
        theta_dot: θ̇ (rad/s), same shape.
        activation: a in [0, 1], shape ``(..., M)``, muscles in ``geometry.muscle_names`` order.
        geometry: fitted musculotendon lengths and moment arms.
        params: muscle parameters broadcastable to ``(..., M)`` (``(M,)``, or ``(B, 1, M)`` per
            trial).
        check_range: call :meth:`MuscleGeometry.check_range` first (syncs with the CPU).
        muscle_model: a name in :data:`~nmm.physics.muscle_models.MUSCLE_MODELS`.

    Returns:
        :class:`MuscleTorque`.
    """
    force = get_muscle_model(muscle_model).force_function()
    if activation.shape[-1:] != (geometry.n_muscles,):
        raise ValueError(
            f"activation has {tuple(activation.shape)[-1:]} muscles on its last axis; the "
            f"geometry has {geometry.n_muscles}: {list(geometry.muscle_names)}"
        )
    if check_range:
        geometry.check_range(theta)
    theta_dot = _like(theta_dot, theta)
    lengths = geometry.lengths(theta)
    moment_arms = geometry.moment_arms(theta)
    velocities = -moment_arms * theta_dot.unsqueeze(-1)  # v_MT = dl_MT/dt = -r θ̇
    state = force(_like(activation, theta), lengths, velocities, params)
    per_muscle = moment_arms * state.tendon_force
    return MuscleTorque(
        torque=per_muscle.sum(-1),
        muscle_torques=per_muscle,
        moment_arms=moment_arms,
        mtu_lengths=lengths,
        mtu_velocities=velocities,
        muscle=state,
    )


def _check_parameter_ranges(model: MuscleModel, params: MuscleParameters) -> None:
    """Raise ValueError if a value of ``params`` lies outside its range in ``model``."""
    for spec in model.parameters:
        values = torch.as_tensor(getattr(params, spec.name)).detach().reshape(-1).tolist()
        bad = [v for v in values if not spec.contains(v)]
        if bad:
            raise ValueError(
                f"muscle model {model.name!r}: {spec.name} must lie in {spec.range_text()}, "
                f"got {bad}"
            )


@dataclass
class ElbowModel:
    """The elbow: muscle geometry, nominal muscle parameters and arm parameters together.

    A convenience over the functions of this module; holds no learnable parameters (those are
    in :class:`nmm.physics.parameters.PersonalisedParameters`).

    Attributes:
        geometry: fitted l_MT(θ), r(θ) of the M muscles.
        muscle_parameters: nominal ``(M,)`` parameters, in geometry order (from the .osim).
        arm: forearm, gravity and passive-joint parameters.
        muscle_model: the registered muscle model (:func:`muscle_torque`); the nominal
            parameters must lie in its parameters' valid ranges.
        load_lever_arm: distance of a hand-held load from the flexion axis in this model (m),
            for trials that give none; None: the configured ``physics.load.lever_arm_m``.
    """

    geometry: MuscleGeometry
    muscle_parameters: MuscleParameters
    arm: ArmParameters
    muscle_model: str = DEFAULT_MUSCLE_MODEL
    load_lever_arm: float | None = None

    def __post_init__(self) -> None:
        _check_parameter_ranges(get_muscle_model(self.muscle_model), self.muscle_parameters)

    @property
    def muscle_names(self) -> tuple[str, ...]:
        """Muscle order of the last axis of activations and per-muscle outputs."""
        return self.geometry.muscle_names

    def muscle_torque(
        self,
        theta: Tensor,
        theta_dot: Tensor,
        activation: Tensor,
        params: MuscleParameters | None = None,
    ) -> MuscleTorque:
        """:func:`muscle_torque` with this model's geometry (and parameters unless given)."""
        return muscle_torque(
            theta,
            theta_dot,
            activation,
            self.geometry,
            self.muscle_parameters if params is None else params,
            muscle_model=self.muscle_model,
        )

    def inverse_dynamics(
        self,
        theta: Tensor,
        theta_dot: Tensor,
        theta_ddot: Tensor,
        load_mass: ArrayLike = 0.0,
        load_lever_arm: ArrayLike = 0.0,
        include_passive: bool = True,
    ) -> Tensor:
        """:func:`inverse_dynamics_torque` with this model's arm parameters (N·m)."""
        return inverse_dynamics_torque(
            theta, theta_dot, theta_ddot, self.arm, load_mass, load_lever_arm, include_passive
        )

    def acceleration(
        self,
        theta: Tensor,
        theta_dot: Tensor,
        activation: Tensor,
        load_mass: ArrayLike = 0.0,
        load_lever_arm: ArrayLike = 0.0,
        params: MuscleParameters | None = None,
    ) -> Tensor:
        """θ̈ (rad/s²) from activations: :func:`forward_acceleration` of the muscle torque."""
        tau = self.muscle_torque(theta, theta_dot, activation, params).torque
        return forward_acceleration(theta, theta_dot, tau, self.arm, load_mass, load_lever_arm)
