"""OpenSim's ``DeGrooteFregly2016Muscle`` in PyTorch: curves, rigid and compliant tendon.

Everything here is a plain differentiable function of tensors. Quantities broadcast
elementwise, so a batch of muscles is usually laid out as ``(..., M)`` (for example
``(batch, time, M)``), and each parameter may be a float, an ``(M,)`` tensor or any
tensor that broadcasts against the inputs. ``float32`` and ``float64`` both work; the
dtype and device of the result follow the inputs (floats are promoted to the dtype of
the first tensor argument).

Sources:

- De Groote F, Kinney AL, Rao AV, Fregly BJ (2016). Evaluation of direct collocation
  optimal control problem formulations for solving the muscle redundancy problem.
  Ann Biomed Eng 44(10):2922-2936, doi:10.1007/s10439-016-1591-9, supplementary
  material S1 (curves, eqs. S1-S3 and the tendon curve).
- OpenSim 4.6, ``OpenSim/Actuators/DeGrooteFregly2016Muscle.{h,cpp}``. OpenSim modified
  some published constants so that the curves pass through key points (listed below);
  this module follows OpenSim, not the paper, wherever the two differ.

Units: lengths in m, velocities in m/s (lengthening positive), forces in N, angles in
rad. "Normalised fibre length" is ``l_M / l_opt``; "normalised fibre velocity" is
``v_M / (v_max * l_opt)``, i.e. in units of the maximum contraction velocity, as in
OpenSim (so the force-velocity curve's domain is [-1, 1]).

Behaviour copied from OpenSim on purpose:

- No clamping of the fibre length: below ``MIN_NORM_FIBER_LENGTH`` the passive curve
  goes negative, and when ``l_MT < l_Ts`` with zero pennation, ``cos(phi)`` becomes -1
  (OpenSim only logs "buckling").
- The fibre damping force ``F0 * fiber_damping * v_M_norm`` is part of the passive fibre
  force (OpenSim ``calcFiberForce``); OpenSim's default ``fiber_damping`` is 0.
- No saturation of compressive fibre forces (commented out in OpenSim as well).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "ACTIVE_FL_B",
    "DEFAULT_TENDON_STRAIN",
    "FV_D1",
    "FV_D2",
    "FV_D3",
    "FV_D4",
    "KPE",
    "MAX_NORM_FIBER_LENGTH",
    "MAX_NORM_TENDON_FORCE",
    "MIN_NORM_FIBER_LENGTH",
    "MIN_NORM_TENDON_FORCE",
    "TENDON_C1",
    "TENDON_C2",
    "TENDON_C3",
    "MuscleParameters",
    "MuscleState",
    "active_force_length_multiplier",
    "compliant_tendon_equilibrium",
    "fiber_force_along_tendon_from_tendon_force",
    "force_velocity_inverse",
    "force_velocity_multiplier",
    "passive_force_length_multiplier",
    "rigid_tendon_muscle",
    "tendon_force_length_inverse",
    "tendon_force_length_multiplier",
    "tendon_stiffness_kt",
]

# --------------------------------------------------------------------------------------
# Curve constants. All are OpenSim 4.6's own (DeGrooteFregly2016Muscle.h, private
# constexpr members), which derive from De Groote et al. 2016, supplement S1.
# --------------------------------------------------------------------------------------

#: Active force-length curve: three Gaussian-like terms, rows (b1i, b2i, b3i, b4i) for
#: i = 1, 2, 3 (De Groote 2016 eq. S1). OpenSim takes the values from
#: simtk.org/projects/optcntrlmuscle and modified b11 so that f_L(1) = 1.
ACTIVE_FL_B: tuple[tuple[float, float, float, float], ...] = (
    (0.8150671134243542, 1.055033428970575, 0.162384573599574, 0.063303448465465),
    (0.433004984392647, 0.716775413397760, -0.029947116970696, 0.200356847296188),
    (0.1, 1.0, 0.353553390593274, 0.0),  # b33 = 0.5 * sqrt(0.5)
)

#: Passive force-length exponential shape factor kPE (De Groote 2016 eq. S2; OpenSim kPE).
KPE: float = 4.0

#: Tendon force-length constants (De Groote 2016 eq. S4; OpenSim c1, c2, c3). OpenSim
#: uses c2 = 1.0 (paper: 0.995) and c3 = 0.2 (paper: 0.25) so that f_T(1) = 0.
TENDON_C1: float = 0.200
TENDON_C2: float = 1.0
TENDON_C3: float = 0.200

#: Force-velocity constants (De Groote 2016 eq. S3; OpenSim d1..d4). OpenSim re-solved
#: d1 and d4 so that the curve passes exactly through (-1, 0) and (0, 1).
FV_D1: float = -0.3211346127989808
FV_D2: float = -8.149
FV_D3: float = -0.374
FV_D4: float = 0.8825327733249912

#: Normalised fibre length bounds (OpenSim m_minNormFiberLength, m_maxNormFiberLength).
#: The passive curve is shifted to be 0 at the minimum; neither bound is enforced.
MIN_NORM_FIBER_LENGTH: float = 0.2
MAX_NORM_FIBER_LENGTH: float = 1.8

#: Normalised tendon force bounds (OpenSim m_minNormTendonForce, m_maxNormTendonForce);
#: OpenSim's initial equilibrium bisects over this bracket.
MIN_NORM_TENDON_FORCE: float = 0.0
MAX_NORM_TENDON_FORCE: float = 5.0

# OpenSim property defaults (DeGrooteFregly2016Muscle::constructProperties and
# Muscle::max_contraction_velocity).
_DEFAULT_MAX_CONTRACTION_VELOCITY = 10.0  # optimal fibre lengths per second
_DEFAULT_FIBER_DAMPING = 0.0
_DEFAULT_PASSIVE_STRAIN = 0.6
#: Tendon strain at one normalised force (DeGrooteFregly2016Muscle's default), public for the
#: models whose muscle type has no such property (nmm.opensim.geometry_sampling).
DEFAULT_TENDON_STRAIN = 0.049
_DEFAULT_ACTIVE_WIDTH_SCALE = 1.0

ArrayLike = Tensor | float


def _like(x: ArrayLike, ref: Tensor) -> Tensor:
    """``x`` as a tensor with ``ref``'s dtype and device (no copy if already matching)."""
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


def _first_tensor(*xs: object) -> Tensor:
    for x in xs:
        if isinstance(x, Tensor) and x.is_floating_point():
            return x
    return torch.zeros((), dtype=torch.get_default_dtype())


# --------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------


def _gaussian_like(x: Tensor, b1: float, b2: float, b3: float, b4: float) -> Tensor:
    # OpenSim calcGaussianLikeCurve: b1 * exp(-0.5 (x - b2)^2 / (b3 + b4 x)^2)
    # (the supplement of De Groote 2016 omits the square in the denominator).
    return b1 * torch.exp(-0.5 * (x - b2) ** 2 / (b3 + b4 * x) ** 2)


def active_force_length_multiplier(
    norm_fiber_length: Tensor, active_force_width_scale: ArrayLike = _DEFAULT_ACTIVE_WIDTH_SCALE
) -> Tensor:
    """Active force-length multiplier f_L (dimensionless, 1 at ``l_M/l_opt = 1``).

    Sum of three Gaussian-like terms (De Groote 2016 eq. S1; OpenSim
    ``calcActiveForceLengthMultiplier``), with OpenSim's ``active_force_width_scale``
    stretching the curve about its peak: ``x = (l - 1) / scale + 1``.

    Args:
        norm_fiber_length: normalised fibre length, any shape.
        active_force_width_scale: OpenSim ``active_force_width_scale`` (>= 1), broadcastable.
    """
    x = (norm_fiber_length - 1.0) / active_force_width_scale + 1.0
    out = _gaussian_like(x, *ACTIVE_FL_B[0])
    for b in ACTIVE_FL_B[1:]:
        out = out + _gaussian_like(x, *b)
    return out


def passive_force_length_multiplier(
    norm_fiber_length: Tensor,
    passive_fiber_strain_at_one_norm_force: ArrayLike = _DEFAULT_PASSIVE_STRAIN,
) -> Tensor:
    """Passive fibre force-length multiplier f_PE (dimensionless).

    OpenSim ``calcPassiveForceMultiplier`` (modified De Groote 2016 eq. S2)::

        f_PE = (exp(kPE (l - 1) / e0) - offset) / (exp(kPE) - offset),
        offset = exp(kPE (l_min - 1) / e0),  l_min = 0.2,

    so that f_PE(0.2) = 0 and f_PE(1 + e0) = 1. Negative below l_min (not clamped).

    Args:
        norm_fiber_length: normalised fibre length, any shape.
        passive_fiber_strain_at_one_norm_force: e0 (default 0.6), broadcastable.
    """
    e0 = _like(passive_fiber_strain_at_one_norm_force, norm_fiber_length)
    offset = torch.exp(KPE * (MIN_NORM_FIBER_LENGTH - 1.0) / e0)
    denom = math.exp(KPE) - offset
    return (torch.exp(KPE * (norm_fiber_length - 1.0) / e0) - offset) / denom


def force_velocity_multiplier(norm_fiber_velocity: Tensor) -> Tensor:
    """Force-velocity multiplier f_V (dimensionless, f_V(0) = 1, f_V(-1) = 0).

    ``f_V = d1 * asinh(d2 v + d3) + d4`` (De Groote 2016 eq. S3; OpenSim
    ``calcForceVelocityMultiplier`` writes asinh as ``log(t + sqrt(t^2 + 1))``).

    Args:
        norm_fiber_velocity: fibre velocity in units of ``v_max * l_opt`` (lengthening
            positive); domain [-1, 1], range [0, 1.794].
    """
    return FV_D1 * torch.asinh(FV_D2 * norm_fiber_velocity + FV_D3) + FV_D4


def force_velocity_inverse(force_velocity_mult: Tensor) -> Tensor:
    """Inverse of :func:`force_velocity_multiplier`: normalised fibre velocity.

    ``v = (sinh((f_V - d4) / d1) - d3) / d2`` (OpenSim ``calcForceVelocityInverseCurve``,
    which corrects the missing ``- d3`` of the De Groote 2016 supplement).
    """
    return (torch.sinh((force_velocity_mult - FV_D4) / FV_D1) - FV_D3) / FV_D2


def tendon_stiffness_kt(
    tendon_strain_at_one_norm_force: ArrayLike = DEFAULT_TENDON_STRAIN,
) -> Tensor | float:
    """Tendon shape factor kT from the strain at one normalised force (dimensionless).

    ``kT = ln((1 + c3) / c1) / (1 + e0T - c2)`` (OpenSim
    ``DeGrooteFregly2016Muscle::extendFinalizeFromProperties``, m_kT), so that
    ``f_T(1 + e0T) = 1``. For e0T = 0.049, kT = 36.566 (paper: 35).
    """
    num = math.log((1.0 + TENDON_C3) / TENDON_C1)
    return num / (1.0 + tendon_strain_at_one_norm_force - TENDON_C2)


def tendon_force_length_multiplier(
    norm_tendon_length: Tensor,
    tendon_strain_at_one_norm_force: ArrayLike = DEFAULT_TENDON_STRAIN,
) -> Tensor:
    """Normalised tendon force f_T as a function of ``l_T / l_Ts`` (dimensionless).

    ``f_T = c1 exp(kT (l_T - c2)) - c3`` (De Groote 2016 eq. S4 with OpenSim's c2, c3;
    OpenSim ``calcTendonForceMultiplier``). Equals 0 at ``l_T = 1`` and 1 at ``1 + e0T``;
    tends to -c3 for short tendons (not clamped).
    """
    kt = tendon_stiffness_kt(tendon_strain_at_one_norm_force)
    return TENDON_C1 * torch.exp(kt * (norm_tendon_length - TENDON_C2)) - TENDON_C3


def tendon_force_length_inverse(
    norm_tendon_force: Tensor,
    tendon_strain_at_one_norm_force: ArrayLike = DEFAULT_TENDON_STRAIN,
) -> Tensor:
    """Normalised tendon length from normalised tendon force (inverse of f_T).

    ``l_T = ln((f_T + c3) / c1) / kT + c2`` (OpenSim ``calcTendonForceLengthInverseCurve``);
    defined for ``f_T > -c3``.
    """
    kt = tendon_stiffness_kt(tendon_strain_at_one_norm_force)
    return torch.log((norm_tendon_force + TENDON_C3) / TENDON_C1) / kt + TENDON_C2


# --------------------------------------------------------------------------------------
# Parameters and outputs
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MuscleParameters:
    """Parameters of a set of ``DeGrooteFregly2016Muscle`` s, with OpenSim's names.

    Each field is a float or a tensor broadcastable against the inputs, typically
    ``(M,)`` for M muscles or ``(..., M)`` for per-subject values. Fields that require
    gradients are differentiated through.

    Attributes:
        max_isometric_force: F0 (N).
        optimal_fiber_length: l_opt (m).
        tendon_slack_length: l_Ts (m).
        pennation_angle_at_optimal: phi_opt (rad), in [0, pi/2). Default 0.
        max_contraction_velocity: v_max in optimal fibre lengths per second. Default 10.
        fiber_damping: dimensionless damping; damping force = F0 * fiber_damping *
            v_M_norm. OpenSim default 0.
        passive_fiber_strain_at_one_norm_force: e0 of f_PE. Default 0.6.
        tendon_strain_at_one_norm_force: e0T of f_T (compliant tendon only). Default 0.049.
        active_force_width_scale: widens f_L (>= 1). Default 1.
        ignore_passive_fiber_force: OpenSim ``ignore_passive_fiber_force`` (f_PE = 0; the
            damping force is kept, as in OpenSim). Default False.
    """

    max_isometric_force: ArrayLike
    optimal_fiber_length: ArrayLike
    tendon_slack_length: ArrayLike
    pennation_angle_at_optimal: ArrayLike = 0.0
    max_contraction_velocity: ArrayLike = _DEFAULT_MAX_CONTRACTION_VELOCITY
    fiber_damping: ArrayLike = _DEFAULT_FIBER_DAMPING
    passive_fiber_strain_at_one_norm_force: ArrayLike = _DEFAULT_PASSIVE_STRAIN
    tendon_strain_at_one_norm_force: ArrayLike = DEFAULT_TENDON_STRAIN
    active_force_width_scale: ArrayLike = _DEFAULT_ACTIVE_WIDTH_SCALE
    ignore_passive_fiber_force: bool = False

    def to(self, ref: Tensor) -> MuscleParameters:
        """Copy with every numeric field as a tensor of ``ref``'s dtype and device."""
        values = {}
        for f in fields(self):
            v = getattr(self, f.name)
            values[f.name] = v if isinstance(v, bool) else _like(v, ref)
        return MuscleParameters(**values)

    def fiber_width(self) -> ArrayLike:
        """Constant fibre width ``w = l_opt sin(phi_opt)`` (m), parallelogram model."""
        phi = self.pennation_angle_at_optimal
        sin_phi = torch.sin(phi) if isinstance(phi, Tensor) else math.sin(phi)
        return self.optimal_fiber_length * sin_phi


class MuscleState(NamedTuple):
    """Kinematic and kinetic quantities of the muscles; each a tensor of the batch shape.

    Names follow OpenSim's Muscle getters. Forces in N, lengths in m, velocities in m/s.
    ``passive_fiber_force`` includes the damping force (OpenSim ``getPassiveFiberForce``).
    """

    fiber_length: Tensor
    norm_fiber_length: Tensor
    fiber_length_along_tendon: Tensor
    cos_pennation_angle: Tensor
    pennation_angle: Tensor
    tendon_length: Tensor
    norm_tendon_length: Tensor
    fiber_velocity: Tensor
    norm_fiber_velocity: Tensor
    active_force_length_multiplier: Tensor
    passive_force_multiplier: Tensor
    force_velocity_multiplier: Tensor
    active_fiber_force: Tensor
    passive_fiber_force: Tensor
    fiber_force: Tensor
    fiber_force_along_tendon: Tensor
    tendon_force: Tensor
    norm_tendon_force: Tensor


# --------------------------------------------------------------------------------------
# Muscle-tendon unit
# --------------------------------------------------------------------------------------


def _fiber_kinematics(
    mtu_length: Tensor, tendon_length: Tensor, p: MuscleParameters
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Fibre length, length along tendon, cos and angle of pennation (constant width).

    OpenSim ``calcMuscleLengthInfoHelper``: l_M = sqrt((l_MT - l_T)^2 + w^2),
    cos(phi) = (l_MT - l_T) / l_M, phi = asin(w / l_M), w = l_opt sin(phi_opt).
    """
    width = p.fiber_width()
    along = mtu_length - tendon_length
    fiber_length = torch.sqrt(along**2 + width**2)
    cos_phi = along / fiber_length
    phi = torch.asin(width / fiber_length)
    return fiber_length, along, cos_phi, phi


def _fiber_forces(
    activation: Tensor,
    norm_fiber_length: Tensor,
    norm_fiber_velocity: Tensor,
    p: MuscleParameters,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Multipliers and fibre forces (OpenSim ``calcFiberForce``)."""
    f_l = active_force_length_multiplier(norm_fiber_length, p.active_force_width_scale)
    if p.ignore_passive_fiber_force:
        f_pe = torch.zeros_like(norm_fiber_length)
    else:
        f_pe = passive_force_length_multiplier(
            norm_fiber_length, p.passive_fiber_strain_at_one_norm_force
        )
    f_v = force_velocity_multiplier(norm_fiber_velocity)
    f0 = p.max_isometric_force
    active = f0 * (activation * f_l * f_v)
    passive = f0 * f_pe + f0 * p.fiber_damping * norm_fiber_velocity
    return f_l, f_pe, f_v, active, passive, active + passive


def rigid_tendon_muscle(
    activation: Tensor,
    mtu_length: Tensor,
    mtu_velocity: Tensor,
    params: MuscleParameters,
) -> MuscleState:
    """``DeGrooteFregly2016Muscle`` with ``ignore_tendon_compliance=True``.

    Rigid tendon (l_T = l_Ts), constant-width pennation, fibre velocity
    ``v_M = v_MT cos(phi)`` (OpenSim ``calcFiberVelocityInfoHelper``), fibre force
    ``F0 (a f_L f_V + f_PE + d v_M_norm)`` and tendon force ``F_M cos(phi)``
    (OpenSim ``calcMuscleDynamicsInfoHelper``). Matches OpenSim to rounding.

    Args:
        activation: a, dimensionless, shape ``(..., M)``.
        mtu_length: musculotendon length l_MT (m), broadcastable with ``activation``.
        mtu_velocity: musculotendon lengthening velocity v_MT (m/s), broadcastable.
        params: muscle parameters, each broadcastable (usually ``(M,)``).

    Returns:
        :class:`MuscleState` of tensors with the broadcast shape.
    """
    ref = _first_tensor(activation, mtu_length, mtu_velocity)
    p = params.to(ref)
    activation, mtu_length, mtu_velocity = (
        _like(activation, ref),
        _like(mtu_length, ref),
        _like(mtu_velocity, ref),
    )
    tendon_length = p.tendon_slack_length * torch.ones_like(mtu_length)
    fiber_length, along, cos_phi, phi = _fiber_kinematics(mtu_length, tendon_length, p)
    norm_fiber_length = fiber_length / p.optimal_fiber_length
    # Rigid tendon: tendon velocity 0, so the fibre velocity along the tendon is v_MT.
    fiber_velocity = mtu_velocity * cos_phi
    norm_fiber_velocity = fiber_velocity / (p.max_contraction_velocity * p.optimal_fiber_length)
    f_l, f_pe, f_v, active, passive, total = _fiber_forces(
        activation, norm_fiber_length, norm_fiber_velocity, p
    )
    along_tendon = total * cos_phi
    return MuscleState(
        fiber_length=fiber_length,
        norm_fiber_length=norm_fiber_length,
        fiber_length_along_tendon=along,
        cos_pennation_angle=cos_phi,
        pennation_angle=phi,
        tendon_length=tendon_length,
        norm_tendon_length=torch.ones_like(tendon_length),
        fiber_velocity=fiber_velocity,
        norm_fiber_velocity=norm_fiber_velocity,
        active_force_length_multiplier=f_l,
        passive_force_multiplier=f_pe,
        force_velocity_multiplier=f_v,
        active_fiber_force=active,
        passive_fiber_force=passive,
        fiber_force=total,
        fiber_force_along_tendon=along_tendon,
        tendon_force=along_tendon,
        norm_tendon_force=along_tendon / p.max_isometric_force,
    )


def _state_from_tendon_force(
    norm_tendon_force: Tensor,
    activation: Tensor,
    mtu_length: Tensor,
    mtu_velocity: Tensor,
    p: MuscleParameters,
) -> MuscleState:
    """Muscle state for a given normalised tendon force and zero tendon velocity.

    OpenSim ``calcMuscleLengthInfoHelper`` / ``calcFiberVelocityInfoHelper`` in the
    implicit form with ``normTendonForceDerivative = 0`` (the form OpenSim's
    ``computeInitialFiberEquilibrium`` uses): l_T from the inverse tendon curve and the
    whole musculotendon velocity taken by the fibre.
    """
    norm_tendon_length = tendon_force_length_inverse(
        norm_tendon_force, p.tendon_strain_at_one_norm_force
    )
    tendon_length = p.tendon_slack_length * norm_tendon_length
    fiber_length, along, cos_phi, phi = _fiber_kinematics(mtu_length, tendon_length, p)
    norm_fiber_length = fiber_length / p.optimal_fiber_length
    fiber_velocity = mtu_velocity * cos_phi
    norm_fiber_velocity = fiber_velocity / (p.max_contraction_velocity * p.optimal_fiber_length)
    f_l, f_pe, f_v, active, passive, total = _fiber_forces(
        activation, norm_fiber_length, norm_fiber_velocity, p
    )
    return MuscleState(
        fiber_length=fiber_length,
        norm_fiber_length=norm_fiber_length,
        fiber_length_along_tendon=along,
        cos_pennation_angle=cos_phi,
        pennation_angle=phi,
        tendon_length=tendon_length,
        norm_tendon_length=norm_tendon_length,
        fiber_velocity=fiber_velocity,
        norm_fiber_velocity=norm_fiber_velocity,
        active_force_length_multiplier=f_l,
        passive_force_multiplier=f_pe,
        force_velocity_multiplier=f_v,
        active_fiber_force=active,
        passive_fiber_force=passive,
        fiber_force=total,
        fiber_force_along_tendon=total * cos_phi,
        tendon_force=p.max_isometric_force * norm_tendon_force,
        norm_tendon_force=norm_tendon_force,
    )


def fiber_force_along_tendon_from_tendon_force(
    norm_tendon_force: Tensor,
    activation: Tensor,
    mtu_length: Tensor,
    mtu_velocity: Tensor,
    params: MuscleParameters,
) -> tuple[Tensor, Tensor]:
    """Tendon force and fibre force along the tendon (N) for a guessed tendon force.

    Their difference is OpenSim's ``calcEquilibriumResidual`` (implicit form, zero
    tendon-force derivative), useful as a residual in collocation or PINN losses.

    Returns:
        ``(tendon_force, fiber_force_along_tendon)``, both of the broadcast shape.
    """
    ref = _first_tensor(norm_tendon_force, activation, mtu_length, mtu_velocity)
    st = _state_from_tendon_force(
        _like(norm_tendon_force, ref),
        _like(activation, ref),
        _like(mtu_length, ref),
        _like(mtu_velocity, ref),
        params.to(ref),
    )
    return st.tendon_force, st.fiber_force_along_tendon


def compliant_tendon_equilibrium(
    activation: Tensor,
    mtu_length: Tensor,
    mtu_velocity: Tensor | float,
    params: MuscleParameters,
    n_bisection: int | None = None,
    n_newton: int = 1,
) -> MuscleState:
    """Fibre-tendon equilibrium with a compliant tendon (static / quasi-static).

    Solves ``F0 f_T = F_M cos(phi)`` for the normalised tendon force f_T in
    ``[MIN_NORM_TENDON_FORCE, MAX_NORM_TENDON_FORCE]`` with zero tendon velocity
    (the fibre takes the whole ``v_MT``), which is what OpenSim's
    ``DeGrooteFregly2016Muscle::computeInitialFiberEquilibrium`` (called by
    ``Model.equilibrateMuscles``) does; use ``mtu_velocity=0`` for isometric equilibrium.

    Method: vectorised bisection without gradient (as OpenSim), then ``n_newton`` Newton
    steps taken with the residual slope held constant. Because the slope is detached, the
    result's first derivatives with respect to activation, lengths and every parameter
    are the implicit-function-theorem derivatives at the root (exact to the solver
    tolerance); second derivatives are not. Where the residual does not change sign on
    the bracket the result stays at the nearer bound with zero gradient (OpenSim also
    returns the bisection end point).

    Args:
        activation: a, shape ``(..., M)``.
        mtu_length: l_MT (m), broadcastable.
        mtu_velocity: v_MT (m/s), broadcastable.
        params: muscle parameters; ``tendon_strain_at_one_norm_force`` sets compliance.
        n_bisection: bisection iterations; default 64 in float64, 14 in float32 (a bracket of
            3e-4 F0, which the Newton step takes to float32 precision: on arm26's muscles
            driven over the elbow's range, its tendon forces are within 6e-7 F0 of a float64
            solve to full precision, as with 32 iterations, at half the cost).
        n_newton: Newton refinement steps after bisection (>= 1 to get gradients).

    Returns:
        :class:`MuscleState` at equilibrium (``tendon_force = F0 * norm_tendon_force``).
    """
    ref = _first_tensor(activation, mtu_length, mtu_velocity)
    p = params.to(ref)
    activation, mtu_length, mtu_velocity = (
        _like(activation, ref),
        _like(mtu_length, ref),
        _like(mtu_velocity, ref),
    )
    shape = torch.broadcast_shapes(
        activation.shape,
        mtu_length.shape,
        mtu_velocity.shape,
        *(
            torch.as_tensor(getattr(p, f.name)).shape
            for f in fields(p)
            if not isinstance(getattr(p, f.name), bool)
        ),
    )
    if n_bisection is None:
        n_bisection = 64 if ref.dtype == torch.float64 else 14
    pd = MuscleParameters(
        **{
            f.name: (
                getattr(p, f.name).detach()
                if isinstance(getattr(p, f.name), Tensor)
                else getattr(p, f.name)
            )
            for f in fields(p)
        }
    )
    ad, ld, vd = activation.detach(), mtu_length.detach(), mtu_velocity.detach()
    ft, bracketed = _bisect_tendon_force(ad, ld, vd, pd, shape, n_bisection)
    for _ in range(n_newton):
        with torch.enable_grad():
            x = ft.detach().requires_grad_(True)
            r_x = _equilibrium_residual(x, ad, ld, vd, pd)
            (slope,) = torch.autograd.grad(r_x.sum(), x)
        safe_slope = torch.where(bracketed & (slope != 0), slope, torch.ones_like(slope))
        step = _equilibrium_residual(ft, activation, mtu_length, mtu_velocity, p) / safe_slope
        ft = torch.where(bracketed, ft - step, ft.detach())
    return _state_from_tendon_force(ft, activation, mtu_length, mtu_velocity, p)


def _equilibrium_residual(
    ft: Tensor, a: Tensor, lmt: Tensor, vmt: Tensor, q: MuscleParameters
) -> Tensor:
    """``f_T - F_M cos(phi) / F0``: OpenSim ``calcEquilibriumResidual`` normalised by F0."""
    st = _state_from_tendon_force(ft, a, lmt, vmt, q)
    return ft - st.fiber_force_along_tendon / q.max_isometric_force


@torch.no_grad()
def _bisect_tendon_force(
    a: Tensor,
    lmt: Tensor,
    vmt: Tensor,
    p: MuscleParameters,
    shape: torch.Size,
    n_bisection: int,
) -> tuple[Tensor, Tensor]:
    """Bisection of the normalised tendon force on ``[MIN_NORM_TENDON_FORCE,
    MAX_NORM_TENDON_FORCE]`` (no gradient; inputs detached), as OpenSim's initial equilibrium.

    Returns:
        ``(f_T, bracketed)`` of ``shape``: the bracket's midpoint, or where the residual does
        not change sign the nearer bound; and whether it changed sign.
    """
    ref = lmt
    lo = torch.full(shape, MIN_NORM_TENDON_FORCE, dtype=ref.dtype, device=ref.device)
    hi = torch.full(shape, MAX_NORM_TENDON_FORCE, dtype=ref.dtype, device=ref.device)
    r_lo = _equilibrium_residual(lo, a, lmt, vmt, p)
    r_hi = _equilibrium_residual(hi, a, lmt, vmt, p)
    bracketed = (r_lo <= 0) & (r_hi >= 0)
    for _ in range(n_bisection):
        mid = 0.5 * (lo + hi)
        r_mid = _equilibrium_residual(mid, a, lmt, vmt, p)
        go_right = r_mid < 0
        lo = torch.where(go_right, mid, lo)
        hi = torch.where(go_right, hi, mid)
    ft0 = 0.5 * (lo + hi)
    # Unbracketed: residual > 0 everywhere -> lower bound; < 0 -> upper bound.
    return torch.where(bracketed, ft0, torch.where(r_lo > 0, lo, hi)), bracketed
