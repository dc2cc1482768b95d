"""Tests of nmm.physics.elbow: signs, formulas, batching, gradients; OpenSim where it is needed.

Torch-only tests use a small synthetic geometry (linear lengths); the comparisons with OpenSim
itself on arm26 (muscle torque, inverse dynamics) are in tests/opensim/test_elbow_twin.py, and
here only :func:`nmm.opensim.torch_elbow.elbow_from_config` is checked against the OpenSim twin.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from nmm.opensim import torch_elbow
from nmm.opensim.torch_elbow import elbow_from_config
from nmm.physics.elbow import (
    ArmParameters,
    ElbowModel,
    forward_acceleration,
    gravity_angle,
    gravity_torque,
    inverse_dynamics_torque,
    joint_limit_torque,
    muscle_torque,
    passive_joint_torque,
    smooth_step,
    total_inertia,
)
from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle import MuscleParameters, compliant_tendon_equilibrium
from nmm.physics.muscle_models import DEFAULT_MUSCLE_MODEL, UnknownMuscleModelError

G = 9.80665
# arm26's forearm (arm26.osim), planar idealisation
ARM = ArmParameters(forearm_mass=1.534315, forearm_com_distance=0.181479, forearm_inertia=0.020062)
PASSIVE = ARM.replace(
    joint_damping=0.1,
    lower_limit=0.0,
    upper_limit=2.26892803,
    limit_stiffness=300.0,
    limit_damping=1.0,
    limit_transition=math.radians(5.0),
)
MUSCLES = ("FLEX", "EXT")
REL_TOL = 0.005  # brief: 0.5 % RMS against OpenSim
COMPLIANT = "degroote2016_compliant_tendon"


def _rel_rms(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref**2)))


@pytest.fixture(scope="module")
def toy_geometry() -> MuscleGeometry:
    """Flexor with r = +0.03 m and extensor with r = -0.02 m (l_MT linear in θ)."""
    lo, hi = 0.0, 2.3
    half = 0.5 * (hi - lo)
    # l = c0 + c1 x, x = (θ - centre) / half, r = -c1 / half
    return MuscleGeometry(
        muscle_names=MUSCLES,
        coordinate="elbow",
        domain=(lo, hi),
        degree=1,
        coefficients=[[0.30, -0.03 * half], [0.25, 0.02 * half]],
    )


TOY_PARAMS = MuscleParameters(
    max_isometric_force=torch.tensor([600.0, 800.0]),
    optimal_fiber_length=torch.tensor([0.12, 0.10]),
    tendon_slack_length=torch.tensor([0.18, 0.15]),
    pennation_angle_at_optimal=torch.tensor([0.0, 0.15]),
)


# ------------------------------------------------------------------------------------------
# Rigid-body terms
# ------------------------------------------------------------------------------------------


def test_gravity_torque_sign_convention() -> None:
    """Flexion positive: holding the forearm horizontal takes a flexing torque m g l."""
    m_l, lever = 2.0, 0.3
    moment = ARM.forearm_mass * ARM.forearm_com_distance + m_l * lever
    theta = torch.tensor([0.0, math.pi / 2, math.pi], dtype=torch.float64)
    tau = gravity_torque(theta, ARM, m_l, lever)
    np.testing.assert_allclose(tau.numpy(), [0.0, moment * G, 0.0], atol=1e-12)
    # Upper arm elevated 90° forward: the extended forearm is horizontal, pointing forward.
    up = ARM.replace(shoulder_elevation=math.pi / 2)
    assert gravity_angle(torch.tensor(0.0), up).item() == pytest.approx(math.pi / 2)
    assert gravity_torque(torch.tensor(0.0), up, m_l, lever).item() == pytest.approx(moment * G)
    # ... and flexed another 90° the forearm points up: no gravity torque.
    assert gravity_torque(torch.tensor(math.pi / 2, dtype=torch.float64), up).abs().item() < 1e-12
    # Planar factor and offset
    tilted = ARM.replace(gravity_plane_factor=0.5, gravity_angle_offset=0.1)
    assert gravity_torque(torch.tensor(0.3), tilted).item() == pytest.approx(
        ARM.forearm_mass * ARM.forearm_com_distance * G * 0.5 * math.sin(0.4)
    )


def test_total_inertia_parallel_axis() -> None:
    expected = 0.020062 + 1.534315 * 0.181479**2 + 4.0 * 0.3**2
    assert total_inertia(ARM, 4.0, 0.3).item() == pytest.approx(expected, rel=1e-6)  # float32
    load = torch.tensor(4.0, dtype=torch.float64)
    assert total_inertia(ARM, load, 0.3).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_dynamics_formula_batched(dtype: torch.dtype) -> None:
    """τ_ID = I θ̈ + (m l + m_L L) g sin θ_g + B θ̇ - τ_lim, per-trial loads (B, 1)."""
    gen = torch.Generator().manual_seed(0)
    n_b, n_t = 3, 50
    theta = torch.rand(n_b, n_t, generator=gen, dtype=dtype) * 2.0 + 0.1
    theta_dot = torch.randn(n_b, n_t, generator=gen, dtype=dtype)
    theta_ddot = torch.randn(n_b, n_t, generator=gen, dtype=dtype) * 5
    load = torch.tensor([[0.0], [2.0], [4.0]], dtype=dtype)
    lever = 0.3
    tau = inverse_dynamics_torque(theta, theta_dot, theta_ddot, PASSIVE, load, lever)
    assert tau.shape == (n_b, n_t) and tau.dtype == dtype
    t64 = [x.double().numpy() for x in (theta, theta_dot, theta_ddot)]
    m_l = load.double().numpy()
    inertia = 0.020062 + 1.534315 * 0.181479**2 + m_l * lever**2
    expected = (
        inertia * t64[2] + (1.534315 * 0.181479 + m_l * lever) * G * np.sin(t64[0]) + 0.1 * t64[1]
    )  # inside the range: no limit torque
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    np.testing.assert_allclose(tau.double().numpy(), expected, rtol=tol, atol=tol)
    rigid = inverse_dynamics_torque(theta, theta_dot, theta_ddot, PASSIVE, load, lever, False)
    np.testing.assert_allclose((tau - rigid).double().numpy(), 0.1 * t64[1], rtol=tol, atol=tol)


def test_forward_acceleration_inverts_inverse_dynamics() -> None:
    gen = torch.Generator().manual_seed(1)
    theta = torch.rand(4, 30, generator=gen, dtype=torch.float64) * 2.8 - 0.2  # past the limits
    theta_dot = torch.randn(4, 30, generator=gen, dtype=torch.float64)
    theta_ddot = torch.randn(4, 30, generator=gen, dtype=torch.float64)
    tau = inverse_dynamics_torque(theta, theta_dot, theta_ddot, PASSIVE, 2.0, 0.3)
    back = forward_acceleration(theta, theta_dot, tau, PASSIVE, 2.0, 0.3)
    torch.testing.assert_close(back, theta_ddot, rtol=1e-12, atol=1e-12)


def test_joint_limit_torque_shape() -> None:
    """OpenSim CoordinateLimitForce form: 0 inside, -K (θ - θ_up) - D θ̇ beyond the transition."""
    k, d, delta = 300.0, 1.0, math.radians(5.0)
    up, lo = PASSIVE.upper_limit, PASSIVE.lower_limit
    theta = torch.tensor([0.5, 2.0, up + 2 * delta, lo - 2 * delta], dtype=torch.float64)
    speed = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    tau = joint_limit_torque(theta, speed, PASSIVE).numpy()
    np.testing.assert_allclose(tau[:2], 0.0, atol=0)
    assert tau[2] == pytest.approx(-k * 2 * delta - d * 0.5)
    assert tau[3] == pytest.approx(k * 2 * delta + d * 0.5)
    # Half-way through the transition the step is 1/2.
    half = torch.tensor([up + 0.5 * delta], dtype=torch.float64)
    assert joint_limit_torque(half, 0.0, PASSIVE).item() == pytest.approx(-k * 0.5 * delta * 0.5)
    # Passive torque adds viscous damping.
    assert passive_joint_torque(torch.tensor(1.0), torch.tensor(2.0), PASSIVE).item() == (
        pytest.approx(-0.2)
    )


def test_smooth_step_is_c2() -> None:
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5], dtype=torch.float64)
    np.testing.assert_allclose(smooth_step(x).numpy(), [0.0, 0.0, 0.5, 1.0, 1.0])
    xs = torch.tensor([1e-9, 1 - 1e-9], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(smooth_step(xs).sum(), xs, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 0.0, atol=1e-12)


def test_limit_torque_gradient_continuous() -> None:
    """The stiffness (dτ/dθ) has no jump: its largest step halves when the grid is refined."""

    def max_step(n: int) -> float:
        theta = torch.linspace(2.2, 2.5, n, dtype=torch.float64, requires_grad=True)
        tau = joint_limit_torque(theta, torch.zeros_like(theta), PASSIVE)
        (g,) = torch.autograd.grad(tau.sum(), theta)
        assert torch.all(torch.isfinite(g))
        return float(torch.max(torch.abs(torch.diff(g))))

    assert max_step(4001) / max_step(2001) == pytest.approx(0.5, rel=0.05)
    up = torch.tensor([2.26892803, 2.26892803 + math.radians(5.0)], dtype=torch.float64)
    up.requires_grad_(True)
    (g,) = torch.autograd.grad(joint_limit_torque(up, 0.0, PASSIVE).sum(), up)
    np.testing.assert_allclose(g.numpy(), [0.0, -300.0], atol=1e-9)


def test_inverse_dynamics_gradcheck() -> None:
    gen = torch.Generator().manual_seed(2)
    theta = (torch.rand(2, 4, generator=gen, dtype=torch.float64) * 2.6 - 0.15).requires_grad_()
    theta_dot = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    theta_ddot = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    mass = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    com = torch.tensor(0.18, dtype=torch.float64, requires_grad=True)
    damping = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    load = torch.tensor([[2.0], [4.0]], dtype=torch.float64, requires_grad=True)

    def f(th, thd, thdd, m, c, b, m_l):
        arm = PASSIVE.replace(forearm_mass=m, forearm_com_distance=c, joint_damping=b)
        return inverse_dynamics_torque(th, thd, thdd, arm, m_l, 0.3)

    assert torch.autograd.gradcheck(f, (theta, theta_dot, theta_ddot, mass, com, damping, load))


# ------------------------------------------------------------------------------------------
# Muscle torque
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_muscle_torque_batched(toy_geometry: MuscleGeometry, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(3)
    n_b, n_t = 3, 20
    theta = torch.rand(n_b, n_t, generator=gen, dtype=dtype) * 2.0 + 0.1
    theta_dot = torch.randn(n_b, n_t, generator=gen, dtype=dtype)
    act = torch.rand(n_b, n_t, 2, generator=gen, dtype=dtype)
    out = muscle_torque(theta, theta_dot, act, toy_geometry, TOY_PARAMS)
    assert out.torque.shape == (n_b, n_t) and out.torque.dtype == dtype
    assert out.muscle_torques.shape == (n_b, n_t, 2)
    r = torch.tensor([0.03, -0.02], dtype=dtype)
    torch.testing.assert_close(out.moment_arms, r.expand(n_b, n_t, 2))
    torch.testing.assert_close(out.mtu_velocities, -r * theta_dot.unsqueeze(-1))
    torch.testing.assert_close(out.torque, (r * out.muscle.tendon_force).sum(-1))
    # The flexor flexes, the extensor extends.
    assert torch.all(out.muscle_torques[..., 0] > 0) and torch.all(out.muscle_torques[..., 1] < 0)
    # Per-trial parameters (B, 1, M): doubling F0 for trial 1 doubles its active torque part.
    f0 = torch.tensor([[[600.0, 800.0]], [[1200.0, 1600.0]], [[600.0, 800.0]]], dtype=dtype)
    per_trial = MuscleParameters(
        **{**TOY_PARAMS.__dict__, "max_isometric_force": f0, "ignore_passive_fiber_force": True}
    )
    base = MuscleParameters(**{**TOY_PARAMS.__dict__, "ignore_passive_fiber_force": True})
    out2 = muscle_torque(theta, theta_dot, act, toy_geometry, per_trial)
    out1 = muscle_torque(theta, theta_dot, act, toy_geometry, base)
    torch.testing.assert_close(out2.torque[1], 2 * out1.torque[1])
    torch.testing.assert_close(out2.torque[0], out1.torque[0])


def test_muscle_torque_wrong_muscle_count(toy_geometry: MuscleGeometry) -> None:
    with pytest.raises(ValueError, match=r"\['FLEX', 'EXT'\]"):
        muscle_torque(torch.zeros(5), torch.zeros(5), torch.zeros(5, 3), toy_geometry, TOY_PARAMS)


def test_muscle_torque_gradcheck(toy_geometry: MuscleGeometry) -> None:
    gen = torch.Generator().manual_seed(4)
    theta = (torch.rand(2, 3, generator=gen, dtype=torch.float64) * 2 + 0.1).requires_grad_()
    theta_dot = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    act = torch.rand(2, 3, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    f0 = torch.tensor([600.0, 800.0], dtype=torch.float64, requires_grad=True)

    def f(th, thd, a, f0_):
        p = MuscleParameters(**{**TOY_PARAMS.__dict__, "max_isometric_force": f0_})
        return muscle_torque(th, thd, a, toy_geometry, p).torque

    assert torch.autograd.gradcheck(f, (theta, theta_dot, act, f0))


def test_compliant_muscle_torque_is_the_equilibrium_tendon_force(toy_geometry) -> None:
    """τ_mus = Σ r_i F_T,i with F_T from the fibre-tendon equilibrium at l_MT(θ), v_MT = -r θ̇;
    a stiff tendon gives the rigid-tendon torque, the default one less (the tendon stretches)."""
    theta = torch.tensor([[0.4, 1.2, 2.0]], dtype=torch.float64)
    theta_dot = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    act = torch.tensor([[[0.8, 0.1], [0.5, 0.6], [1.0, 0.0]]], dtype=torch.float64)
    out = muscle_torque(theta, theta_dot, act, toy_geometry, TOY_PARAMS, muscle_model=COMPLIANT)
    lengths, arms = toy_geometry.lengths(theta), toy_geometry.moment_arms(theta)
    eq = compliant_tendon_equilibrium(act, lengths, -arms * theta_dot.unsqueeze(-1), TOY_PARAMS)
    torch.testing.assert_close(out.torque, (arms * eq.tendon_force).sum(-1))
    rigid = muscle_torque(theta, theta_dot, act, toy_geometry, TOY_PARAMS)
    stiff = MuscleParameters(**{**TOY_PARAMS.__dict__, "tendon_strain_at_one_norm_force": 1e-6})
    torch.testing.assert_close(
        muscle_torque(theta, theta_dot, act, toy_geometry, stiff, muscle_model=COMPLIANT).torque,
        rigid.torque,
        rtol=1e-4,
        atol=1e-6,
    )
    assert (out.muscle_torques.abs() < rigid.muscle_torques.abs()).any()
    with pytest.raises(UnknownMuscleModelError, match="unknown muscle model 'elastic'"):
        muscle_torque(theta, theta_dot, act, toy_geometry, TOY_PARAMS, muscle_model="elastic")
    with pytest.raises(UnknownMuscleModelError, match="unknown muscle model"):
        ElbowModel(toy_geometry, TOY_PARAMS, PASSIVE, muscle_model="elastic")


def test_elbow_model_equation_of_motion(toy_geometry: MuscleGeometry) -> None:
    model = ElbowModel(toy_geometry, TOY_PARAMS, PASSIVE)
    theta = torch.tensor([[0.5, 1.0, 1.5]], dtype=torch.float64)
    theta_dot = torch.tensor([[0.2, -0.3, 0.1]], dtype=torch.float64)
    act = torch.full((1, 3, 2), 0.3, dtype=torch.float64)
    acc = model.acceleration(theta, theta_dot, act, 2.0, 0.3)
    tau_mus = model.muscle_torque(theta, theta_dot, act).torque
    torch.testing.assert_close(model.inverse_dynamics(theta, theta_dot, acc, 2.0, 0.3), tau_mus)


# ------------------------------------------------------------------------------------------
# Config
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def physics_cfg():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="demo", overrides=["physics=arm26"])
    return cfg.physics


def test_arm_parameters_from_config(physics_cfg) -> None:
    arm = ArmParameters.from_mapping(physics_cfg)
    assert arm.forearm_mass == pytest.approx(1.534315)
    assert arm.forearm_com_distance == pytest.approx(0.181479)
    assert arm.shoulder_elevation == 0.0
    assert arm.upper_limit == pytest.approx(2.26892803)
    assert arm.joint_damping > 0 and arm.limit_stiffness > 0 and arm.limit_transition > 0
    with pytest.raises(ValueError, match="arm parameters"):
        ArmParameters.from_mapping({"gravity": 9.8})


def test_config_names_a_registered_muscle_model(physics_cfg) -> None:
    assert physics_cfg.muscle_model == DEFAULT_MUSCLE_MODEL


def test_unknown_muscle_model_fails_before_sampling(physics_cfg, monkeypatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the geometry was sampled before the muscle model was checked")

    monkeypatch.setattr(torch_elbow, "muscle_geometry_from_osim", fail)
    cfg = {**dict(physics_cfg), "muscle_model": "hill_1938"}
    with pytest.raises(
        UnknownMuscleModelError, match=r"^physics\.muscle_model: unknown muscle model 'hill_1938'"
    ):
        elbow_from_config(cfg)


def test_elbow_model_from_config_matches_opensim(physics_cfg, arm26_osim, tmp_path) -> None:
    pytest.importorskip("opensim")
    from nmm.opensim.elbow_twin import load_muscle_twin, opensim_muscle_torque

    cfg = dict(physics_cfg)
    cfg["osim"] = str(arm26_osim)
    model = elbow_from_config(cfg, cache_dir=str(tmp_path))
    assert model.muscle_names == tuple(physics_cfg.muscles)
    rng = np.random.default_rng(5)
    n = 60
    q = rng.uniform(0.0, 2.26, n)
    u = rng.uniform(-3.0, 3.0, n)
    a = rng.uniform(0.0, 1.0, (n, len(model.muscle_names)))
    twin = load_muscle_twin(arm26_osim, muscles=model.muscle_names)
    ref = opensim_muscle_torque(twin, q, u, a)
    ours = model.muscle_torque(torch.tensor(q), torch.tensor(u), torch.tensor(a)).torque.numpy()
    assert _rel_rms(ours, ref) < REL_TOL
