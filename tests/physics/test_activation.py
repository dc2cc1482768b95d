"""Tests of nmm.physics.activation: against OpenSim, scipy and closed-form solutions."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from nmm.physics.activation import (
    OPENSIM_DEFAULT_ACTIVATION_SMOOTHING,
    activation_derivative,
    activation_nonlinearity,
    apply_electromechanical_delay,
    excitation_to_activation,
    integrate_activation,
)

# ---------------------------------------------------------------------------------------
# OpenSim reference, run in a subprocess.
#
# OpenSim 4.6 DeGrooteFregly2016Muscle::computeStateVariableDerivatives reads
# activation_time_constant, deactivation_time_constant and activation_dynamics_smoothing
# into function-level `static const` variables: the first muscle whose derivatives are
# computed fixes them for every DGF muscle in the process. A fresh process per parameter
# set is the only reliable way to test non-default values.
# ---------------------------------------------------------------------------------------

_OPENSIM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import opensim as osim
    osim.Logger.setLevelString("Error")
    cfg = json.loads(sys.stdin.read())
    model = osim.Model()
    model.setGravity(osim.Vec3(0))
    body = osim.Body("body", 1.0, osim.Vec3(0), osim.Inertia(1))
    model.addBody(body)
    joint = osim.SliderJoint("slider", model.getGround(), body)
    model.addJoint(joint)
    coord = joint.updCoordinate()
    coord.setDefaultValue(0.14)
    coord.setDefaultLocked(True)
    mus = osim.DeGrooteFregly2016Muscle()
    mus.setName("mus")
    mus.set_max_isometric_force(987.26)
    mus.set_optimal_fiber_length(0.0858)
    mus.set_tendon_slack_length(0.0535)
    mus.set_ignore_tendon_compliance(True)
    mus.set_activation_time_constant(cfg["tau_act"])
    mus.set_deactivation_time_constant(cfg["tau_deact"])
    mus.set_activation_dynamics_smoothing(cfg["smoothing"])
    mus.addNewPathPoint("origin", model.getGround(), osim.Vec3(0))
    mus.addNewPathPoint("insertion", body, osim.Vec3(0))
    model.addForce(mus)
    func = osim.PiecewiseLinearFunction()
    for ti, ei in zip(cfg["t"], cfg["e"]):
        func.addPoint(ti, ei)
    ctrl = osim.PrescribedController()
    ctrl.setName("ctrl")
    ctrl.addActuator(mus)
    ctrl.prescribeControlForActuator("mus", func)
    model.addController(ctrl)
    state = model.initSystem()
    deriv = []
    for e, a in cfg["pairs"]:
        s2 = osim.State(state)
        mus.setActivation(s2, a)
        model.realizeVelocity(s2)
        controls = model.updControls(s2)
        mus.setControls(osim.Vector(1, e), controls)
        model.setControls(s2, controls)
        model.realizeAcceleration(s2)
        deriv.append([mus.getExcitation(s2),
                      mus.getStateVariableDerivativeValue(s2, "activation")])
    mus.setActivation(state, cfg["e"][0])
    manager = osim.Manager(model)
    manager.setIntegratorAccuracy(1e-10)
    manager.setIntegratorMaximumStepSize(cfg["max_step"])
    manager.initialize(state)
    act = [cfg["e"][0]]
    for ti in cfg["t"][1:]:
        act.append(mus.getActivation(manager.integrate(ti)))
    print("RESULT" + json.dumps({"deriv": deriv, "act": act}))
    """
)

DT = 0.01
T_GRID = np.arange(41) * DT
# a pulse with slanted edges plus a sine, within [0, 1]
E_SIGNAL = np.clip(
    0.05 + 0.85 * ((T_GRID > 0.05) & (T_GRID < 0.25)) + 0.05 * np.sin(2 * np.pi * 5 * T_GRID),
    0.0,
    1.0,
)
PAIRS = [
    [0.8, 0.3],
    [0.2, 0.7],
    [0.5, 0.5],
    [1.0, 0.0],
    [0.0, 1.0],
    [0.51, 0.49],
    [0.3, 0.31],
    [0.95, 0.05],
]
OPENSIM_CASES = {
    "opensim_default": (0.015, 0.060, OPENSIM_DEFAULT_ACTIVATION_SMOOTHING),
    "arm26_taus_smooth10": (0.010, 0.040, 10.0),
}


@pytest.fixture(scope="module")
def opensim_reference() -> dict:
    pytest.importorskip("opensim")
    procs = {}
    for name, (ta, td, b) in OPENSIM_CASES.items():
        cfg = {
            "tau_act": ta,
            "tau_deact": td,
            "smoothing": b,
            "t": T_GRID.tolist(),
            "e": E_SIGNAL.tolist(),
            "pairs": PAIRS,
            "max_step": DT / 4,
        }
        proc = subprocess.Popen(
            [sys.executable, "-c", _OPENSIM_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc.stdin.write(json.dumps(cfg))
        proc.stdin.close()
        procs[name] = proc
    out = {}
    for name, proc in procs.items():
        stdout = proc.stdout.read()
        stderr = proc.stderr.read()
        assert proc.wait(timeout=60) == 0, stderr
        line = next(x for x in stdout.splitlines() if x.startswith("RESULT"))
        out[name] = json.loads(line[len("RESULT") :])
    return out


@pytest.mark.parametrize("case", list(OPENSIM_CASES))
def test_derivative_matches_opensim(opensim_reference: dict, case: str) -> None:
    ta, td, b = OPENSIM_CASES[case]
    ref = np.array(opensim_reference[case]["deriv"])
    pairs = np.array(PAIRS)
    np.testing.assert_array_equal(ref[:, 0], pairs[:, 0])  # the excitation OpenSim used
    mine = activation_derivative(
        torch.tensor(pairs[:, 0]), torch.tensor(pairs[:, 1]), ta, td, b
    ).numpy()
    np.testing.assert_allclose(mine, ref[:, 1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(OPENSIM_CASES))
def test_integration_matches_opensim_forward_simulation(opensim_reference: dict, case: str) -> None:
    ta, td, b = OPENSIM_CASES[case]
    ref = np.array(opensim_reference[case]["act"])
    e = torch.tensor(E_SIGNAL)[:, None]
    fine = integrate_activation(e, DT, ta, td, b, substeps=40)[:, 0].numpy()
    np.testing.assert_allclose(fine, ref, atol=1e-7)  # OpenSim integrator accuracy 1e-10
    default = integrate_activation(e, DT, ta, td, b)[:, 0].numpy()
    np.testing.assert_allclose(default, ref, atol=2e-4)


# ---------------------------------------------------------------------------------------
# Closed-form and scipy references
# ---------------------------------------------------------------------------------------


def test_derivative_limits_of_the_tanh_blend() -> None:
    e = torch.tensor([0.9, 0.1], dtype=torch.float64)
    a = torch.tensor([0.2, 0.6], dtype=torch.float64)
    ta, td = 0.01, 0.04
    z = 0.5 + 1.5 * a
    d = activation_derivative(e, a, ta, td, smoothing=1e6)
    torch.testing.assert_close(d[0], (e[0] - a[0]) / (ta * z[0]))  # activation: tau_a z
    torch.testing.assert_close(d[1], (e[1] - a[1]) * z[1] / td)  # deactivation: tau_d / z


def _t_activation(a: np.ndarray, a0: float, tau_act: float) -> np.ndarray:
    # e = 1, pure activation branch: da/dt = (1 - a) / (tau_a (0.5 + 1.5 a)); separable,
    # tau_a * integral (0.5 + 1.5a)/(1 - a) da = tau_a [-2 ln(1 - a) - 1.5 a].
    def g(x):
        return -2.0 * np.log1p(-x) - 1.5 * x

    return tau_act * (g(a) - g(a0))


def _t_deactivation(a: np.ndarray, a0: float, tau_deact: float) -> np.ndarray:
    # e = 0, pure deactivation branch: da/dt = -a (0.5 + 1.5 a) / tau_d; separable,
    # integral da / (a (0.5 + 1.5a)) = 2 ln(a / (0.5 + 1.5 a)).
    def g(x):
        return 2.0 * np.log(x / (0.5 + 1.5 * x))

    return -tau_deact * (g(a) - g(a0))


@pytest.mark.parametrize("branch", ["activation", "deactivation"])
def test_step_response_matches_closed_form(branch: str) -> None:
    ta, td, dt, n = 0.01, 0.04, 0.002, 40
    a0, level = (0.05, 1.0) if branch == "activation" else (0.95, 0.0)
    e = torch.full((n, 1), level, dtype=torch.float64)
    # smoothing 1e6 makes the tanh blend an exact switch while |e - a| > 1e-4
    a = integrate_activation(
        e, dt, ta, td, 1e6, initial_activation=torch.tensor([a0]), substeps=20
    )[:, 0].numpy()
    t = np.arange(n) * dt
    assert np.all(np.abs(level - a) > 1e-3)  # stayed inside the switched regime
    t_exact = _t_activation(a, a0, ta) if branch == "activation" else _t_deactivation(a, a0, td)
    np.testing.assert_allclose(t_exact, t, atol=1e-9)


def _scipy_reference(
    e: np.ndarray, dt: float, ta: np.ndarray, td: np.ndarray, b: float, a0: np.ndarray
) -> np.ndarray:
    """solve_ivp (DOP853, rtol 1e-10) interval by interval, e linear within each interval.

    Restarting at every sample keeps the kinks of the piecewise-linear excitation on step
    boundaries, where a high-order integrator stays accurate.
    """
    out = [np.asarray(a0, dtype=float)]
    for k in range(e.shape[0] - 1):
        e0, e1 = e[k], e[k + 1]

        def rhs(tt: float, a: np.ndarray, e0=e0, e1=e1) -> np.ndarray:
            ee = e0 + (e1 - e0) * (tt / dt)
            z = 0.5 + 1.5 * a
            f = 0.5 * np.tanh(b * (ee - a))
            return ((f + 0.5) / (ta * z) + (0.5 - f) * z / td) * (ee - a)

        sol = solve_ivp(rhs, (0.0, dt), out[-1], method="DOP853", rtol=1e-10, atol=1e-12)
        out.append(sol.y[:, -1])
    return np.stack(out)


def test_batched_integration_matches_solve_ivp() -> None:
    rng = np.random.default_rng(0)
    b_sz, n, m, dt = 2, 60, 3, 0.005
    t = np.arange(n) * dt
    e = np.clip(
        0.5
        + 0.45
        * np.sin(
            2 * np.pi * rng.uniform(1, 4, (b_sz, 1, m)) * t[:, None]
            + rng.uniform(0, 6, (b_sz, 1, m))
        ),
        0,
        1,
    )
    ta = np.array([0.010, 0.015, 0.02])
    td = np.array([[0.04, 0.05, 0.06], [0.03, 0.06, 0.08]])  # (B, M)
    a0 = np.array([[0.1, 0.5, 0.9], [0.0, 0.3, 1.0]])
    out_fine = integrate_activation(
        torch.tensor(e),
        dt,
        torch.tensor(ta),
        torch.tensor(td),
        10.0,
        initial_activation=torch.tensor(a0),
        substeps=20,
    )
    out = integrate_activation(
        torch.tensor(e),
        dt,
        torch.tensor(ta),
        torch.tensor(td),
        10.0,
        initial_activation=torch.tensor(a0),
    )
    assert out.shape == (b_sz, n, m)
    for i in range(b_sz):
        ref = _scipy_reference(e[i], dt, ta, td[i], 10.0, a0[i])
        np.testing.assert_allclose(out_fine[i].numpy(), ref, atol=1e-8)
        np.testing.assert_allclose(out[i].numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("method", ["rk4", "heun", "euler"])
def test_stable_at_10ms_with_10ms_activation_time_constant(method: str) -> None:
    dt = 0.01
    t = np.arange(60) * dt
    e = ((t >= 0.05) & (t < 0.3)).astype(float)[:, None]
    a = integrate_activation(torch.tensor(e), dt, 0.010, 0.040, 10.0, method=method)[:, 0]
    a = a.numpy()
    assert np.all(a >= -1e-9) and np.all(a <= 1 + 1e-9)
    on, off = a[5:30], a[30:]
    assert np.all(np.diff(on) >= -1e-12) and np.all(np.diff(off) <= 1e-12)
    ref = _scipy_reference(e, dt, np.array([0.010]), np.array([0.040]), 10.0, e[0])[:, 0]
    tol = {"rk4": 2e-4, "heun": 5e-3, "euler": 5e-2}[method]
    np.testing.assert_allclose(a, ref, atol=tol)


# ---------------------------------------------------------------------------------------
# Electromechanical delay
# ---------------------------------------------------------------------------------------


def test_delay_shifts_a_ramp_exactly() -> None:
    dt, n = 0.001, 200
    t = torch.arange(n, dtype=torch.float64) * dt
    e = (0.5 + 2.0 * t)[:, None].expand(n, 3)  # ramp, per muscle
    d = torch.tensor([0.0, 0.0237, 0.040], dtype=torch.float64)
    out = apply_electromechanical_delay(e, d, dt)
    for j in range(3):
        valid = t >= d[j]
        torch.testing.assert_close(out[valid, j], 0.5 + 2.0 * (t[valid] - d[j]), rtol=0, atol=1e-13)
        assert torch.all(out[~valid, j] == e[0, j])  # holds the first sample before t = d


def test_delay_integer_shift_and_batch_shapes() -> None:
    dt = 0.01
    e = torch.rand(4, 30, 2, dtype=torch.float64)
    out = apply_electromechanical_delay(e, torch.tensor([0.03, 0.05], dtype=torch.float64), dt)
    torch.testing.assert_close(out[:, 3:, 0], e[:, :-3, 0])
    torch.testing.assert_close(out[:, 5:, 1], e[:, :-5, 1])
    per_subject = torch.tensor([[0.0], [0.01], [0.02], [0.03]], dtype=torch.float64)
    out_b = apply_electromechanical_delay(e, per_subject, dt)
    for i in range(4):
        torch.testing.assert_close(out_b[i, i:, :], e[i, : 30 - i, :])


def test_delay_gradient_is_minus_slope() -> None:
    dt = 0.002
    t = torch.arange(100, dtype=torch.float64) * dt
    e = torch.stack([torch.sin(8 * t), 0.3 + t], dim=-1)
    d = torch.tensor([0.0131, 0.0277], dtype=torch.float64, requires_grad=True)
    out = apply_electromechanical_delay(e, d, dt)
    (g,) = torch.autograd.grad(out[50:, 1].sum(), d)
    assert g[0].item() == 0.0
    assert g[1].item() == pytest.approx(-50.0, abs=1e-9)  # d/dd (0.3 + t - d) summed


# ---------------------------------------------------------------------------------------
# Nonlinear shape factor
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [-3.0, -1.5, -0.01, -1e-7, 0.0, 1e-9, 0.5, 2.0])
def test_shape_factor_endpoints_and_monotonic(shape: float) -> None:
    u = torch.linspace(0, 1, 101, dtype=torch.float64)
    a = activation_nonlinearity(u, shape)
    assert torch.isfinite(a).all()
    assert a[0].item() == pytest.approx(0.0, abs=1e-15)
    assert a[-1].item() == pytest.approx(1.0, abs=1e-14)
    assert torch.all(torch.diff(a) > 0)
    if shape != 0.0:
        direct = (math.e ** (shape * u) - 1) / (math.exp(shape) - 1)
        torch.testing.assert_close(a, direct, rtol=1e-7, atol=1e-12)


def test_shape_factor_zero_is_identity_with_finite_gradient() -> None:
    u = torch.linspace(0, 1, 11, dtype=torch.float64)
    shape = torch.zeros(11, dtype=torch.float64, requires_grad=True)
    a = activation_nonlinearity(u, shape)
    torch.testing.assert_close(a, u, rtol=0, atol=0)
    (g,) = torch.autograd.grad(a.sum(), shape)
    torch.testing.assert_close(g, 0.5 * u * (u - 1.0))  # d/dA at A = 0
    # continuity across the series switch
    for dtype in (torch.float32, torch.float64):
        uu = torch.linspace(0, 1, 11, dtype=dtype)
        lo = activation_nonlinearity(uu, 0.999e-6)
        hi = activation_nonlinearity(uu, 1.001e-6)
        torch.testing.assert_close(lo, hi, rtol=1e-7, atol=1e-7)


def test_shape_factor_concave_for_negative_a() -> None:
    u = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    assert torch.all(activation_nonlinearity(u, -2.0) > u)


# ---------------------------------------------------------------------------------------
# Gradients and precision
# ---------------------------------------------------------------------------------------


def test_gradcheck_full_pipeline() -> None:
    torch.manual_seed(1)
    e = (0.1 + 0.8 * torch.rand(1, 7, 2, dtype=torch.float64)).requires_grad_(True)

    def p(*v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float64, requires_grad=True)

    tau_a, tau_d, delay, shape, smooth = (
        p(0.012, 0.02),
        p(0.05, 0.04),
        p(0.013, 0.027),
        p(-1.5, -0.5),
        p(10.0, 3.0),
    )

    def fn(e, ta, td, d, s, b):
        return excitation_to_activation(e, 0.01, d, ta, td, b, shape_factor=s, substeps=3)

    assert torch.autograd.gradcheck(fn, (e, tau_a, tau_d, delay, shape, smooth))


def test_gradcheck_initial_activation_and_heun() -> None:
    e = torch.tensor([[0.2, 0.9], [0.7, 0.1], [0.4, 0.5]], dtype=torch.float64, requires_grad=True)
    a0 = torch.tensor([0.3, 0.6], dtype=torch.float64, requires_grad=True)

    def fn(e, a0):
        return integrate_activation(
            e, 0.01, 0.015, 0.06, 10.0, initial_activation=a0, method="heun", substeps=4
        )

    assert torch.autograd.gradcheck(fn, (e, a0))


def test_float32_matches_float64() -> None:
    torch.manual_seed(2)
    e64 = torch.rand(2, 50, 3, dtype=torch.float64)
    kwargs = {
        "delay": torch.tensor([0.012, 0.03, 0.0]),
        "tau_act": 0.01,
        "tau_deact": 0.04,
        "shape_factor": torch.tensor([-2.0, -0.5, 0.0]),
    }
    a64 = excitation_to_activation(
        e64, 0.005, **{k: v.double() if torch.is_tensor(v) else v for k, v in kwargs.items()}
    )
    a32 = excitation_to_activation(e64.float(), 0.005, **kwargs)
    assert a32.dtype == torch.float32
    torch.testing.assert_close(a32.double(), a64, rtol=0, atol=1e-5)
