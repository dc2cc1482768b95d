"""Excitation-to-activation dynamics in PyTorch (differentiable, batched).

Three pieces, usually chained as delay -> first-order dynamics -> nonlinearity:

1. :func:`apply_electromechanical_delay` shifts the excitation by a (learnable) delay d.
2. :func:`integrate_activation` integrates the first-order activation dynamics of
   OpenSim's ``DeGrooteFregly2016Muscle`` (De Groote et al. 2016, eq. 1-2 / supplement),
   whose derivative is :func:`activation_derivative`.
3. :func:`activation_nonlinearity` is the exponential EMG-to-activation shape of
   Lloyd & Besier 2003 / Buchanan et al. 2004.

:func:`excitation_to_activation` runs the three in order.

Layout: time series are ``(..., T, M)`` with time on dim -2 and muscles on dim -1
(e.g. ``(B, T, M)``). Per-muscle parameters (time constants, delay, shape factor) are
floats or tensors broadcastable to ``(..., M)`` (e.g. ``(M,)`` or ``(B, M)``); they never
carry a time axis. Times are in seconds; excitation and activation are dimensionless.

References:

- De Groote F, Kinney AL, Rao AV, Fregly BJ (2016). Ann Biomed Eng 44(10):2922-2936,
  doi:10.1007/s10439-016-1591-9 (activation dynamics, eqs. 1-2 and supplement S1).
- OpenSim 4.6, ``DeGrooteFregly2016Muscle::computeStateVariableDerivatives``.
- Lloyd DG, Besier TF (2003). J Biomech 36(6):765-776 (EMG-driven model, shape factor A).
- Buchanan TS, Lloyd DG, Manal K, Besier TF (2004). J Appl Biomech 20(4):367-395.
- Thelen DG (2003). J Biomech Eng 125(1):70-77 (activation-dependent time constants).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nmm.physics.activation_kernel import euler_activation

__all__ = [
    "DEFAULT_ACTIVATION_TIME_CONSTANT",
    "DEFAULT_DEACTIVATION_TIME_CONSTANT",
    "OPENSIM_DEFAULT_ACTIVATION_SMOOTHING",
    "RECOMMENDED_ACTIVATION_SMOOTHING",
    "activation_derivative",
    "activation_nonlinearity",
    "apply_electromechanical_delay",
    "excitation_to_activation",
    "integrate_activation",
]

#: OpenSim ``DeGrooteFregly2016Muscle`` default ``activation_time_constant`` (s).
DEFAULT_ACTIVATION_TIME_CONSTANT: float = 0.015
#: OpenSim ``DeGrooteFregly2016Muscle`` default ``deactivation_time_constant`` (s).
DEFAULT_DEACTIVATION_TIME_CONSTANT: float = 0.060
#: OpenSim 4.6 default ``activation_dynamics_smoothing`` b: 0.1, "to match the originally
#: published model" (De Groote 2016). With b = 0.1 the tanh blend stays within
#: 0.5 +/- 0.05, i.e. activation and deactivation use nearly the same mixed rate.
OPENSIM_DEFAULT_ACTIVATION_SMOOTHING: float = 0.1
#: Smoothing recommended by OpenSim's property comment "to achieve activation and
#: deactivation speeds closer to the intended time constants"; this module's default.
RECOMMENDED_ACTIVATION_SMOOTHING: float = 10.0

# Activation-dependent time-constant factor z = 0.5 + 1.5 a (Thelen 2003 eq. 2-3;
# De Groote 2016 eq. 2; OpenSim timeConstFactor).
_TAU_FACTOR_OFFSET = 0.5
_TAU_FACTOR_SLOPE = 1.5
# Upper bound of |d(da/dt)/da| in units of the rates 1/tau_a and 1/tau_d, from
# z >= 0.5 and |e - a| <= 1: the activation branch gives 1/(tau_a z) + 1.5 |e-a|/(tau_a z^2)
# <= 8/tau_a, the deactivation branch z/tau_d + 1.5 |e-a|/tau_d <= 3.5/tau_d.
_RATE_BOUND_ACT = 8.0
_RATE_BOUND_DEACT = 3.5
# Series switch for the shape factor near A = 0 (error O(A^3) < 1e-18 below this).
_SHAPE_SERIES_THRESHOLD = 1e-6

ArrayLike = Tensor | float


def _as(x: ArrayLike, ref: Tensor) -> Tensor:
    return torch.as_tensor(x, dtype=ref.dtype, device=ref.device)


def _add_time_axis(x: Tensor) -> Tensor:
    """Per-muscle ``(..., M)`` -> ``(..., 1, M)`` so it broadcasts over time; scalars kept."""
    return x if x.dim() == 0 else x.unsqueeze(-2)


def activation_derivative(
    excitation: Tensor,
    activation: Tensor,
    tau_act: ArrayLike = DEFAULT_ACTIVATION_TIME_CONSTANT,
    tau_deact: ArrayLike = DEFAULT_DEACTIVATION_TIME_CONSTANT,
    smoothing: ArrayLike = RECOMMENDED_ACTIVATION_SMOOTHING,
) -> Tensor:
    """da/dt of ``DeGrooteFregly2016Muscle`` (1/s), elementwise.

    De Groote 2016 eq. 1-2 as coded in OpenSim ``computeStateVariableDerivatives``::

        z = 0.5 + 1.5 a,  f = 0.5 tanh(b (e - a))
        da/dt = [ (f + 0.5) / (tau_a z) + (0.5 - f) z / tau_d ] (e - a)

    i.e. a tanh blend between tau = tau_a z when e > a and tau = tau_d / z when e < a.

    Note: OpenSim's default b is 0.1 (``OPENSIM_DEFAULT_ACTIVATION_SMOOTHING``); the
    default here is 10 (``RECOMMENDED_ACTIVATION_SMOOTHING``). Pass ``smoothing=0.1`` to
    reproduce a default-constructed OpenSim muscle.

    Args:
        excitation: e in [0, 1], any shape.
        activation: a in [0, 1], broadcastable with ``excitation``.
        tau_act: activation time constant tau_a (s), broadcastable.
        tau_deact: deactivation time constant tau_d (s), broadcastable.
        smoothing: tanh steepness b (dimensionless), broadcastable.
    """
    z = _TAU_FACTOR_OFFSET + _TAU_FACTOR_SLOPE * activation
    diff = excitation - activation
    f = 0.5 * torch.tanh(smoothing * diff)
    rate = (f + 0.5) / (tau_act * z) + (0.5 - f) * z / tau_deact
    return rate * diff


def _auto_substeps(dt: float, tau_act: ArrayLike, tau_deact: ArrayLike, ratio: float) -> int:
    """Substeps per sample so that h * (8/tau_a + 3.5/tau_d) <= ratio."""
    ta = torch.as_tensor(tau_act).detach().min().item()
    td = torch.as_tensor(tau_deact).detach().min().item()
    rate = _RATE_BOUND_ACT / ta + _RATE_BOUND_DEACT / td
    return max(1, math.ceil(dt * rate / ratio - 1e-9))


def integrate_activation(
    excitation: Tensor,
    dt: float,
    tau_act: ArrayLike = DEFAULT_ACTIVATION_TIME_CONSTANT,
    tau_deact: ArrayLike = DEFAULT_DEACTIVATION_TIME_CONSTANT,
    smoothing: ArrayLike = RECOMMENDED_ACTIVATION_SMOOTHING,
    initial_activation: Tensor | None = None,
    method: str = "rk4",
    substeps: int | None = None,
    max_step_ratio: float = 2.0,
    compiled: bool = True,
) -> Tensor:
    """Integrate :func:`activation_derivative` over a uniform time grid.

    The excitation is taken as piecewise linear between samples (first-order hold).
    Each sample interval ``dt`` is split into ``substeps`` explicit steps of the classic
    fourth-order Runge-Kutta scheme (``method="rk4"``, default), Heun's second-order
    scheme (``"heun"``) or forward Euler (``"euler"``). With ``substeps=None`` the count
    is chosen so that ``h * (8/tau_a + 3.5/tau_d) <= max_step_ratio``, where the bracket
    bounds the Jacobian magnitude of the ODE; the default ratio 2 keeps RK4 (stability
    limit 2.78) and Heun (2.0) stable. For dt = 10 ms, tau_a = 10 ms, tau_d = 40 ms this
    gives 5 substeps. The count is computed from detached values (it is an integer).

    Activation is not clipped; for e in [0, 1] and a stable step it stays in [0, 1].

    Forward Euler on the CPU with a scalar ``smoothing`` runs compiled
    (:func:`nmm.physics.activation_kernel.euler_activation`: same scheme, exact gradients,
    no autograd graph per substep) unless ``compiled=False``.

    Args:
        excitation: e(t), shape ``(..., T, M)``, time on dim -2.
        dt: sample interval (s).
        tau_act: tau_a (s), float or tensor broadcastable to ``(..., M)``.
        tau_deact: tau_d (s), float or tensor broadcastable to ``(..., M)``.
        smoothing: tanh steepness b, float or tensor broadcastable to ``(..., M)``.
        initial_activation: a(t_0), broadcastable to ``(..., M)``; default ``e(t_0)``.
        method: ``"rk4"``, ``"heun"`` or ``"euler"``.
        substeps: explicit steps per sample interval; default automatic.
        max_step_ratio: stability margin used when ``substeps`` is None.
        compiled: allow the compiled Euler kernel (False: always this module's loop).

    Returns:
        a(t), same shape as ``excitation``; ``a[..., 0, :]`` is the initial activation.
    """
    if excitation.dim() < 2:
        raise ValueError("excitation must have shape (..., T, M)")
    if method not in ("rk4", "heun", "euler"):
        raise ValueError(f"unknown method {method!r}")
    n_sub = (
        substeps if substeps is not None else _auto_substeps(dt, tau_act, tau_deact, max_step_ratio)
    )
    h = dt / n_sub
    ta, td, b = _as(tau_act, excitation), _as(tau_deact, excitation), _as(smoothing, excitation)

    def rhs(e: Tensor, a: Tensor) -> Tensor:
        return activation_derivative(e, a, ta, td, b)

    first = excitation[..., 0, :]
    a0 = first if initial_activation is None else _as(initial_activation, excitation)
    scalar_b = b.numel() == 1 and not b.requires_grad
    # the numba kernel is opaque to torch's tracer: a traced call (the ONNX export,
    # nmm.model.onnx_export) runs the loop below, the same scheme
    kernel = compiled and not torch.jit.is_tracing()
    if kernel and method == "euler" and excitation.device.type == "cpu" and scalar_b:
        return euler_activation(excitation, a0, ta, td, b.item(), n_sub, dt)  # broadcasts a0
    a = a0 + torch.zeros_like(first)  # broadcast to (..., M)
    e_all = excitation.unbind(dim=-2)
    out = [a]
    for k in range(len(e_all) - 1):
        e0, e1 = e_all[k], e_all[k + 1]
        de = e1 - e0
        for j in range(n_sub):
            s0 = j / n_sub
            s1 = (j + 1) / n_sub
            ea = e0 + s0 * de
            eb = e0 + s1 * de
            if method == "euler":
                a = a + h * rhs(ea, a)
            elif method == "heun":
                k1 = rhs(ea, a)
                k2 = rhs(eb, a + h * k1)
                a = a + 0.5 * h * (k1 + k2)
            else:
                em = e0 + 0.5 * (s0 + s1) * de
                k1 = rhs(ea, a)
                k2 = rhs(em, a + 0.5 * h * k1)
                k3 = rhs(em, a + 0.5 * h * k2)
                k4 = rhs(eb, a + h * k3)
                a = a + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        out.append(a)
    return torch.stack(out, dim=-2)


def apply_electromechanical_delay(excitation: Tensor, delay: ArrayLike, dt: float) -> Tensor:
    """Delay excitation by d seconds: ``e_d(t_i) = e(t_i - d)`` (Lloyd & Besier 2003).

    Linear interpolation between grid samples, so the result is differentiable in d
    (piecewise linear; at exact multiples of dt the gradient is the one-sided slope
    towards earlier samples). Samples before the start of the record hold the first
    value (and, for negative d, after the end the last value).

    Args:
        excitation: e, shape ``(..., T, M)``, time on dim -2.
        delay: d (s), float or tensor broadcastable to ``(..., M)`` (no time axis).
        dt: sample interval (s).

    Returns:
        Delayed excitation with the broadcast shape of ``excitation`` and ``delay``.
    """
    if excitation.dim() < 2:
        raise ValueError("excitation must have shape (..., T, M)")
    d = _as(delay, excitation)
    shift = _add_time_axis(d / dt)  # (..., 1, M)
    k0 = torch.floor(shift.detach())
    frac = shift - k0
    n_t = excitation.shape[-2]
    t_idx = torch.arange(n_t, device=excitation.device).unsqueeze(-1)  # (T, 1)
    idx_hi = t_idx - k0.long()  # sample at or after t - d
    idx_lo = idx_hi - 1
    shape = torch.broadcast_shapes(excitation.shape, idx_hi.shape, frac.shape)
    e = excitation.expand(shape)
    e_hi = torch.gather(e, -2, idx_hi.clamp(0, n_t - 1).expand(shape))
    e_lo = torch.gather(e, -2, idx_lo.clamp(0, n_t - 1).expand(shape))
    return (1.0 - frac) * e_hi + frac * e_lo


def activation_nonlinearity(u: Tensor, shape_factor: ArrayLike) -> Tensor:
    """Exponential neural-to-muscle activation shape (Lloyd & Besier 2003 eq. 4).

    ``a = (exp(A u) - 1) / (exp(A) - 1)`` (written with expm1), with A in (-3, 0)
    typically (Buchanan et al. 2004); a(0) = 0, a(1) = 1, monotonic for any A.
    A -> 0 gives the identity: for ``|A| < 1e-6`` a second-order series
    ``u (1 + A (u - 1)/2 + A^2 (u^2/6 - u/4 + 1/12))`` is used, so A = 0 exactly and its
    gradient are finite.

    Args:
        u: neural activation in [0, 1], any shape.
        shape_factor: A (dimensionless), broadcastable with ``u``.
    """
    a_fac = _as(shape_factor, u)
    small = a_fac.abs() < _SHAPE_SERIES_THRESHOLD
    safe = torch.where(small, torch.ones_like(a_fac), a_fac)
    exact = torch.expm1(safe * u) / torch.expm1(safe)
    series = u * (1.0 + 0.5 * a_fac * (u - 1.0) + a_fac**2 * (u**2 / 6.0 - u / 4.0 + 1.0 / 12.0))
    return torch.where(small, series, exact)


def excitation_to_activation(
    excitation: Tensor,
    dt: float,
    delay: ArrayLike = 0.0,
    tau_act: ArrayLike = DEFAULT_ACTIVATION_TIME_CONSTANT,
    tau_deact: ArrayLike = DEFAULT_DEACTIVATION_TIME_CONSTANT,
    smoothing: ArrayLike = RECOMMENDED_ACTIVATION_SMOOTHING,
    shape_factor: ArrayLike | None = None,
    initial_activation: Tensor | None = None,
    method: str = "rk4",
    substeps: int | None = None,
) -> Tensor:
    """Delay, first-order dynamics and (optionally) the exponential nonlinearity.

    ``a = g_A(ODE(e(t - d)))`` with the pieces of this module, in the order of
    Lloyd & Besier 2003 (delay, neural activation dynamics, nonlinear shape).

    Args:
        excitation: e(t) in [0, 1], shape ``(..., T, M)``.
        dt: sample interval (s).
        delay: electromechanical delay d (s), broadcastable to ``(..., M)``.
        tau_act, tau_deact, smoothing: see :func:`activation_derivative`.
        shape_factor: A of :func:`activation_nonlinearity`; None skips it.
        initial_activation, method, substeps: see :func:`integrate_activation`.

    Returns:
        Activation, shape ``(..., T, M)`` (broadcast with the parameters' batch shape).
    """
    e = apply_electromechanical_delay(excitation, delay, dt)
    u = integrate_activation(
        e, dt, tau_act, tau_deact, smoothing, initial_activation, method, substeps
    )
    if shape_factor is None:
        return u
    return activation_nonlinearity(u, _add_time_axis(_as(shape_factor, u)))
