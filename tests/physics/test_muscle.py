"""Tests of nmm.physics.muscle against OpenSim 4.6's DeGrooteFregly2016Muscle itself, and of every
registered muscle model (nmm.physics.muscle_models) against its OpenSim muscle."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nmm.physics.muscle import (
    MAX_NORM_TENDON_FORCE,
    MIN_NORM_FIBER_LENGTH,
    MuscleParameters,
    active_force_length_multiplier,
    compliant_tendon_equilibrium,
    fiber_force_along_tendon_from_tendon_force,
    force_velocity_inverse,
    force_velocity_multiplier,
    passive_force_length_multiplier,
    rigid_tendon_muscle,
    tendon_force_length_inverse,
    tendon_force_length_multiplier,
)
from nmm.physics.muscle_models import MUSCLE_MODELS, get_muscle_model

osim = pytest.importorskip("opensim")
osim.Logger.setLevelString("Error")

from nmm.opensim.elbow_twin import opensim_muscle  # noqa: E402  (after the skip: needs OpenSim)

RIGID = "degroote2016_rigid_tendon"
COMPLIANT = "degroote2016_compliant_tendon"

# arm26 BRA (MTU parameters from arm26.osim).
BRA = {"max_isometric_force": 987.26, "optimal_fiber_length": 0.0858, "tendon_slack_length": 0.0535}
PENNATED = 0.2094  # rad, arm26 TRIlong's pennation, used on BRA's geometry

# Tolerances. The implementation replicates OpenSim's arithmetic, so curves and
# rigid-tendon outputs agree to rounding (~1e-15); the asserted bounds leave margin.
CURVE_RTOL = 1e-12
RIGID_RTOL = 1e-12
# OpenSim's initial equilibrium bisects to 1e-10 in normalised tendon force.
EQUILIBRIUM_ATOL_NORM_FORCE = 1e-9


def _rel_err(x: np.ndarray, ref: np.ndarray) -> float:
    """Max |x - ref| / |ref|, with |ref| floored at 1e-9 of the array's scale."""
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    floor = 1e-9 * max(float(np.max(np.abs(ref))), 1e-300)
    return float(np.max(np.abs(x - ref) / np.maximum(np.abs(ref), floor)))


def _scaled_err(x: np.ndarray, ref: np.ndarray) -> float:
    """Max |x - ref| relative to the largest |ref| (for float32 round-off comparisons)."""
    x, ref = np.asarray(x, dtype=float), np.asarray(ref, dtype=float)
    return float(np.max(np.abs(x - ref)) / np.max(np.abs(ref)))


def _finalized_muscle(**props: object) -> object:
    m = osim.DeGrooteFregly2016Muscle()
    for name, value in props.items():
        getattr(m, f"set_{name}")(value)
    m.finalizeFromProperties()  # computes m_kT, fibre width etc. from the properties
    return m


def _slider_model(params: dict, muscle_model: str = RIGID) -> dict:
    """Ground -> SliderJoint -> body, one muscle of the registered ``muscle_model``
    (:func:`nmm.opensim.elbow_twin.opensim_muscle`) from the ground origin to the body.

    The muscle path is a straight line along the slider axis, so l_MT = q and
    v_MT = qdot for q > 0. Returns every created object (OpenSim pitfall: keep Python
    references to components).
    """
    model = osim.Model()
    model.setGravity(osim.Vec3(0))
    body = osim.Body("body", 1.0, osim.Vec3(0), osim.Inertia(1))
    model.addBody(body)
    joint = osim.SliderJoint("slider", model.getGround(), body)
    model.addJoint(joint)
    mus = opensim_muscle(muscle_model, params, name="mus")
    mus.addNewPathPoint("origin", model.getGround(), osim.Vec3(0))
    mus.addNewPathPoint("insertion", body, osim.Vec3(0))
    model.addForce(mus)
    state = model.initSystem()
    return {
        "model": model,
        "body": body,
        "joint": joint,
        "muscle": mus,
        "state": state,
        "coord": joint.updCoordinate(),
    }


def _params_from_dict(params: dict) -> MuscleParameters:
    return MuscleParameters(
        **{k: v for k, v in params.items() if k in MuscleParameters.__dataclass_fields__}
    )


# ---------------------------------------------------------------------------------------
# Defaults and curves
# ---------------------------------------------------------------------------------------


def test_opensim_defaults_match_module_defaults() -> None:
    m = osim.DeGrooteFregly2016Muscle()
    p = MuscleParameters(1.0, 1.0, 1.0)
    assert m.get_fiber_damping() == p.fiber_damping == 0.0
    assert m.get_max_contraction_velocity() == p.max_contraction_velocity == 10.0
    assert m.get_passive_fiber_strain_at_one_norm_force() == 0.6
    assert p.passive_fiber_strain_at_one_norm_force == 0.6
    assert m.get_tendon_strain_at_one_norm_force() == p.tendon_strain_at_one_norm_force
    assert m.get_active_force_width_scale() == p.active_force_width_scale == 1.0
    assert m.get_ignore_passive_fiber_force() is p.ignore_passive_fiber_force is False
    assert m.getMinNormalizedFiberLength() == MIN_NORM_FIBER_LENGTH
    assert m.getMaxNormalizedTendonForce() == MAX_NORM_TENDON_FORCE
    # OpenSim's default is a compliant tendon; this module's default path is rigid.
    assert m.get_ignore_tendon_compliance() is False


L_GRID = np.linspace(0.2, 1.8, 161)
V_GRID = np.linspace(-1.0, 1.0, 201)


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_active_force_length_matches_opensim(scale: float) -> None:
    m = _finalized_muscle(active_force_width_scale=scale)
    ref = np.array([m.calcActiveForceLengthMultiplier(x) for x in L_GRID])
    dref = np.array([m.calcActiveForceLengthMultiplierDerivative(x) for x in L_GRID])
    x = torch.tensor(L_GRID, requires_grad=True)
    y = active_force_length_multiplier(x, scale)
    (dy,) = torch.autograd.grad(y.sum(), x)
    assert _rel_err(y.detach().numpy(), ref) < CURVE_RTOL
    assert _rel_err(dy.numpy(), dref) < 1e-10


@pytest.mark.parametrize("strain", [0.6, 0.45])
def test_passive_force_length_matches_opensim(strain: float) -> None:
    m = _finalized_muscle(passive_fiber_strain_at_one_norm_force=strain)
    ref = np.array([m.calcPassiveForceMultiplier(x) for x in L_GRID])
    dref = np.array([m.calcPassiveForceMultiplierDerivative(x) for x in L_GRID])
    x = torch.tensor(L_GRID, requires_grad=True)
    y = passive_force_length_multiplier(x, strain)
    (dy,) = torch.autograd.grad(y.sum(), x)
    assert _rel_err(y.detach().numpy(), ref) < CURVE_RTOL
    assert _rel_err(dy.numpy(), dref) < 1e-10
    assert abs(y[0].item()) < 1e-15  # zero at the minimum fibre length (OpenSim offset)


def test_force_velocity_and_inverse_match_opensim() -> None:
    cls = osim.DeGrooteFregly2016Muscle
    ref = np.array([cls.calcForceVelocityMultiplier(v) for v in V_GRID])
    y = force_velocity_multiplier(torch.tensor(V_GRID)).numpy()
    assert _rel_err(y, ref) < CURVE_RTOL
    fv = np.linspace(0.0, 1.7, 121)
    inv_ref = np.array([cls.calcForceVelocityInverseCurve(f) for f in fv])
    inv = force_velocity_inverse(torch.tensor(fv)).numpy()
    assert _rel_err(inv, inv_ref) < CURVE_RTOL
    np.testing.assert_allclose(force_velocity_inverse(torch.tensor(y)).numpy(), V_GRID, atol=1e-12)


@pytest.mark.parametrize("strain", [0.049, 0.033])
def test_tendon_force_length_and_inverse_match_opensim(strain: float) -> None:
    m = _finalized_muscle(tendon_strain_at_one_norm_force=strain)
    lt = np.linspace(0.95, 1.0 + 1.5 * strain, 121)
    ref = np.array([m.calcTendonForceMultiplier(x) for x in lt])
    dref = np.array([m.calcTendonForceMultiplierDerivative(x) for x in lt])
    x = torch.tensor(lt, requires_grad=True)
    y = tendon_force_length_multiplier(x, strain)
    (dy,) = torch.autograd.grad(y.sum(), x)
    assert _rel_err(y.detach().numpy(), ref) < CURVE_RTOL
    assert _rel_err(dy.numpy(), dref) < 1e-10
    ft = np.linspace(0.0, 5.0, 101)
    inv_ref = np.array([m.calcTendonForceLengthInverseCurve(f) for f in ft])
    inv = tendon_force_length_inverse(torch.tensor(ft), strain).numpy()
    assert _rel_err(inv, inv_ref) < CURVE_RTOL


def test_curve_key_points() -> None:
    one = torch.ones((), dtype=torch.float64)
    assert active_force_length_multiplier(one).item() == pytest.approx(1.0, abs=1e-12)
    assert force_velocity_multiplier(0 * one).item() == pytest.approx(1.0, abs=1e-12)
    assert force_velocity_multiplier(-one).item() == pytest.approx(0.0, abs=1e-12)
    assert passive_force_length_multiplier(1.6 * one).item() == pytest.approx(1.0, abs=1e-12)
    assert tendon_force_length_multiplier(one).item() == pytest.approx(0.0, abs=1e-12)
    assert tendon_force_length_multiplier(1.049 * one).item() == pytest.approx(1.0, abs=1e-12)


# ---------------------------------------------------------------------------------------
# Rigid tendon, full muscle against an OpenSim model
# ---------------------------------------------------------------------------------------

RIGID_CASES = {
    "BRA": dict(BRA, pennation_angle_at_optimal=0.0),
    "BRA_pennated": dict(BRA, pennation_angle_at_optimal=PENNATED),
    "BRA_pennated_damped": dict(BRA, pennation_angle_at_optimal=PENNATED, fiber_damping=0.01),
    "nondefault": dict(
        BRA,
        pennation_angle_at_optimal=0.15,
        fiber_damping=0.05,
        max_contraction_velocity=8.0,
        active_force_width_scale=1.4,
        passive_fiber_strain_at_one_norm_force=0.45,
    ),
    "no_passive": dict(BRA, pennation_angle_at_optimal=PENNATED, ignore_passive_fiber_force=True),
}

# OpenSim getter -> MuscleState field
GETTERS = {
    "getFiberForce": "fiber_force",
    "getTendonForce": "tendon_force",
    "getActiveFiberForce": "active_fiber_force",
    "getPassiveFiberForce": "passive_fiber_force",
    "getFiberLength": "fiber_length",
    "getNormalizedFiberLength": "norm_fiber_length",
    "getFiberVelocity": "fiber_velocity",
    "getNormalizedFiberVelocity": "norm_fiber_velocity",
    "getActiveForceLengthMultiplier": "active_force_length_multiplier",
    "getPassiveForceMultiplier": "passive_force_multiplier",
    "getForceVelocityMultiplier": "force_velocity_multiplier",
    "getCosPennationAngle": "cos_pennation_angle",
    "getPennationAngle": "pennation_angle",
}


def _opensim_rigid(params: dict, a: np.ndarray, lmt: np.ndarray, vmt: np.ndarray) -> dict:
    sim = _slider_model(params, RIGID)
    model, mus, state, coord = sim["model"], sim["muscle"], sim["state"], sim["coord"]
    out = {k: [] for k in GETTERS}
    for ai, li, vi in zip(a, lmt, vmt, strict=True):
        coord.setValue(state, float(li))
        coord.setSpeedValue(state, float(vi))
        mus.setActivation(state, float(ai))
        model.realizeDynamics(state)
        assert mus.getLength(state) == pytest.approx(li, abs=1e-14)
        assert mus.getLengtheningSpeed(state) == pytest.approx(vi, abs=1e-14)
        for getter in GETTERS:
            out[getter].append(getattr(mus, getter)(state))
    return {k: np.array(v) for k, v in out.items()}


def _random_states(params: dict, n: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    l_opt, l_ts = params["optimal_fiber_length"], params["tendon_slack_length"]
    a = rng.uniform(0.01, 1.0, n)
    lmt = l_ts + l_opt * rng.uniform(0.45, 1.7, n)  # fibre length ~0.5-1.7 l_opt
    vmax = params.get("max_contraction_velocity", 10.0) * l_opt
    vmt = vmax * rng.uniform(-0.9, 0.9, n)
    return a, lmt, vmt


@pytest.mark.parametrize("case", list(RIGID_CASES))
def test_rigid_tendon_matches_opensim(case: str) -> None:
    params = RIGID_CASES[case]
    a, lmt, vmt = _random_states(params, 60, seed=len(case))
    ref = _opensim_rigid(params, a, lmt, vmt)
    st = rigid_tendon_muscle(
        torch.tensor(a), torch.tensor(lmt), torch.tensor(vmt), _params_from_dict(params)
    )
    errs = {g: _rel_err(getattr(st, f).numpy(), ref[g]) for g, f in GETTERS.items()}
    assert max(errs.values()) < RIGID_RTOL, errs


def test_rigid_tendon_batched_shapes_and_per_muscle_parameters() -> None:
    # (B, T, M) states, (M,) parameters, and (B, 1, M) per-subject parameters.
    torch.manual_seed(0)
    b, t, m = 3, 5, 2
    f0 = torch.tensor([987.26, 624.3], dtype=torch.float64)
    l_opt = torch.tensor([0.0858, 0.1138], dtype=torch.float64)
    l_ts = torch.tensor([0.0535, 0.0908], dtype=torch.float64)
    phi = torch.tensor([0.0, 0.1571], dtype=torch.float64)
    a = torch.rand(b, t, m, dtype=torch.float64)
    lmt = l_ts + l_opt * (0.6 + 0.8 * torch.rand(b, t, m, dtype=torch.float64))
    vmt = 0.5 * (torch.rand(b, t, m, dtype=torch.float64) - 0.5)
    st = rigid_tendon_muscle(a, lmt, vmt, MuscleParameters(f0, l_opt, l_ts, phi))
    assert st.tendon_force.shape == (b, t, m)
    for j in range(m):
        single = rigid_tendon_muscle(
            a[..., j],
            lmt[..., j],
            vmt[..., j],
            MuscleParameters(f0[j].item(), l_opt[j].item(), l_ts[j].item(), phi[j].item()),
        )
        torch.testing.assert_close(st.tendon_force[..., j], single.tendon_force, rtol=1e-14, atol=0)
    scale = torch.tensor([0.8, 1.0, 1.2], dtype=torch.float64).view(b, 1, 1)
    st_subj = rigid_tendon_muscle(a, lmt, vmt, MuscleParameters(f0 * scale, l_opt, l_ts, phi))
    torch.testing.assert_close(st_subj.tendon_force, st.tendon_force * scale, rtol=1e-13, atol=0)


def test_rigid_tendon_float32_matches_float64() -> None:
    params = _params_from_dict(RIGID_CASES["BRA_pennated_damped"])
    a, lmt, vmt = _random_states(RIGID_CASES["BRA_pennated_damped"], 200, seed=3)
    st64 = rigid_tendon_muscle(torch.tensor(a), torch.tensor(lmt), torch.tensor(vmt), params)
    st32 = rigid_tendon_muscle(
        torch.tensor(a, dtype=torch.float32),
        torch.tensor(lmt, dtype=torch.float32),
        torch.tensor(vmt, dtype=torch.float32),
        params,
    )
    assert st32.tendon_force.dtype == torch.float32
    for field in ("tendon_force", "norm_fiber_length", "norm_fiber_velocity", "active_fiber_force"):
        x32 = getattr(st32, field).double().numpy()
        x64 = getattr(st64, field).numpy()
        # float32 inputs round l_MT to ~1e-7 relative; l_MT - l_Ts amplifies it a little.
        assert _scaled_err(x32, x64) < 1e-5, field


def _grad_params(dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    def t(*v: float) -> torch.Tensor:
        return torch.tensor(v, dtype=dtype, requires_grad=True)

    return {
        "max_isometric_force": t(987.26, 624.3),
        "optimal_fiber_length": t(0.0858, 0.1138),
        "tendon_slack_length": t(0.0535, 0.0908),
        "pennation_angle_at_optimal": t(0.05, 0.2094),
        "max_contraction_velocity": t(10.0, 8.0),
        "fiber_damping": t(0.01, 0.02),
        "passive_fiber_strain_at_one_norm_force": t(0.6, 0.5),
        "tendon_strain_at_one_norm_force": t(0.049, 0.04),
        "active_force_width_scale": t(1.0, 1.2),
    }


def test_rigid_tendon_gradcheck() -> None:
    p = _grad_params()
    names = [k for k in p if k != "tendon_strain_at_one_norm_force"]  # unused when rigid
    a = torch.tensor([[0.3, 0.8], [0.6, 0.1]], dtype=torch.float64, requires_grad=True)
    lmt = torch.tensor([[0.14, 0.20], [0.12, 0.23]], dtype=torch.float64, requires_grad=True)
    vmt = torch.tensor([[0.1, -0.2], [-0.3, 0.05]], dtype=torch.float64, requires_grad=True)

    def fn(a, lmt, vmt, *vals):
        st = rigid_tendon_muscle(
            a, lmt, vmt, MuscleParameters(**dict(zip(names, vals, strict=True)))
        )
        return st.tendon_force, st.fiber_force, st.passive_fiber_force, st.norm_fiber_velocity

    assert torch.autograd.gradcheck(fn, (a, lmt, vmt, *(p[k] for k in names)))


# ---------------------------------------------------------------------------------------
# Compliant tendon equilibrium against OpenSim's equilibrateMuscles
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pennation", [0.0, PENNATED])
@pytest.mark.parametrize("moving", [False, True])
def test_compliant_equilibrium_matches_opensim(pennation: float, moving: bool) -> None:
    params = dict(BRA, pennation_angle_at_optimal=pennation)
    sim = _slider_model(params, COMPLIANT)
    model, mus, state, coord = sim["model"], sim["muscle"], sim["state"], sim["coord"]
    rng = np.random.default_rng(11 + int(moving))
    n = 15
    a = rng.uniform(0.02, 1.0, n)
    lmt = params["tendon_slack_length"] * 1.02 + params["optimal_fiber_length"] * rng.uniform(
        0.6, 1.5, n
    )
    vmt = rng.uniform(-0.3, 0.3, n) if moving else np.zeros(n)
    ft_ref, lm_ref = [], []
    for ai, li, vi in zip(a, lmt, vmt, strict=True):
        coord.setValue(state, float(li))
        coord.setSpeedValue(state, float(vi))
        mus.setActivation(state, float(ai))
        model.equilibrateMuscles(state)
        model.realizeDynamics(state)
        ft_ref.append(mus.getNormalizedTendonForce(state))
        lm_ref.append(mus.getFiberLength(state))
    st = compliant_tendon_equilibrium(
        torch.tensor(a), torch.tensor(lmt), torch.tensor(vmt), _params_from_dict(params)
    )
    np.testing.assert_allclose(
        st.norm_tendon_force.numpy(), ft_ref, rtol=0, atol=EQUILIBRIUM_ATOL_NORM_FORCE
    )
    np.testing.assert_allclose(st.fiber_length.numpy(), lm_ref, rtol=1e-9)
    # and it is an equilibrium: tendon force == fibre force along the tendon
    torch.testing.assert_close(st.tendon_force, st.fiber_force_along_tendon, rtol=0, atol=1e-9)
    tendon, fiber = fiber_force_along_tendon_from_tendon_force(
        st.norm_tendon_force,
        torch.tensor(a),
        torch.tensor(lmt),
        torch.tensor(vmt),
        _params_from_dict(params),
    )
    torch.testing.assert_close(tendon, fiber, rtol=0, atol=1e-9)


def test_compliant_equilibrium_approaches_rigid_for_stiff_tendon() -> None:
    a = torch.tensor([0.2, 0.7, 1.0], dtype=torch.float64)
    lmt = torch.tensor([0.13, 0.14, 0.15], dtype=torch.float64)
    base = dict(BRA, pennation_angle_at_optimal=PENNATED)
    rigid = rigid_tendon_muscle(
        a, lmt, torch.zeros(3, dtype=torch.float64), _params_from_dict(base)
    )
    stiff = compliant_tendon_equilibrium(
        a, lmt, 0.0, _params_from_dict(dict(base, tendon_strain_at_one_norm_force=1e-6))
    )
    torch.testing.assert_close(stiff.tendon_force, rigid.tendon_force, rtol=1e-4, atol=0)


def test_compliant_equilibrium_float32() -> None:
    a = torch.tensor([0.2, 0.7, 1.0])
    lmt = torch.tensor([0.13, 0.14, 0.15])
    params = _params_from_dict(dict(BRA, pennation_angle_at_optimal=PENNATED))
    st32 = compliant_tendon_equilibrium(a, lmt, 0.0, params)
    st64 = compliant_tendon_equilibrium(a.double(), lmt.double(), 0.0, params)
    assert st32.tendon_force.dtype == torch.float32
    assert _scaled_err(st32.tendon_force.double().numpy(), st64.tendon_force.numpy()) < 1e-5


def test_compliant_equilibrium_gradcheck() -> None:
    p = _grad_params()
    names = list(p)
    a = torch.tensor([0.4, 0.9], dtype=torch.float64, requires_grad=True)
    lmt = torch.tensor([0.14, 0.21], dtype=torch.float64, requires_grad=True)
    vmt = torch.tensor([0.05, -0.1], dtype=torch.float64, requires_grad=True)

    def fn(a, lmt, vmt, *vals):
        st = compliant_tendon_equilibrium(
            a, lmt, vmt, MuscleParameters(**dict(zip(names, vals, strict=True)))
        )
        return st.tendon_force, st.fiber_length

    assert torch.autograd.gradcheck(fn, (a, lmt, vmt, *(p[k] for k in names)))


def test_unbracketed_equilibrium_stays_finite() -> None:
    # Slack muscle: l_MT well below l_Ts + min fibre length -> no root in [0, 5].
    st = compliant_tendon_equilibrium(
        torch.tensor([0.5], dtype=torch.float64),
        torch.tensor([0.03], dtype=torch.float64),
        0.0,
        _params_from_dict(dict(BRA, pennation_angle_at_optimal=PENNATED)),
    )
    assert torch.isfinite(st.tendon_force).all()
    assert 0.0 <= st.norm_tendon_force.item() <= MAX_NORM_TENDON_FORCE
    assert math.isfinite(st.fiber_length.item())


# ---------------------------------------------------------------------------------------
# Every registered muscle model against its OpenSim muscle
# ---------------------------------------------------------------------------------------

#: (a, l_MT / (l_Ts + l_opt), v_MT / (v_max l_opt)): isometric about the optimum, stretched
#: (passive force), shortening, lengthening, nearly inactive.
CHOSEN_STATES = (
    (1.0, 1.0, 0.0),
    (0.5, 1.1, 0.0),
    (0.8, 0.9, -0.3),
    (0.3, 1.0, 0.4),
    (0.02, 0.95, 0.0),
)


def _opensim_tendon_force(
    muscle_model: str, params: dict, a: np.ndarray, lmt: np.ndarray, vmt: np.ndarray
) -> np.ndarray:
    """OpenSim's getTendonForce (N) of the model's muscle, equilibrated if the entry says so."""
    equilibrate = get_muscle_model(muscle_model).opensim.equilibrate
    sim = _slider_model(params, muscle_model)
    model, mus, state, coord = sim["model"], sim["muscle"], sim["state"], sim["coord"]
    out = []
    for ai, li, vi in zip(a, lmt, vmt, strict=True):
        coord.setValue(state, float(li))
        coord.setSpeedValue(state, float(vi))
        mus.setActivation(state, float(ai))
        if equilibrate:
            model.equilibrateMuscles(state)
        model.realizeDynamics(state)
        out.append(mus.getTendonForce(state))
    return np.array(out)


@pytest.mark.parametrize("name", sorted(MUSCLE_MODELS))
def test_registered_models_match_their_opensim_muscle(name: str) -> None:
    """The registry's torch force and its OpenSim twin (class, fixed properties, property
    mapping, equilibrium) give the same tendon force at chosen states."""
    params = dict(BRA, pennation_angle_at_optimal=PENNATED, tendon_strain_at_one_norm_force=0.049)
    a, lmt, vmt = (np.array(column) for column in zip(*CHOSEN_STATES, strict=True))
    lmt = lmt * (params["tendon_slack_length"] + params["optimal_fiber_length"])
    vmt = vmt * 10.0 * params["optimal_fiber_length"]  # OpenSim's default v_max: 10 l_opt / s
    ref = _opensim_tendon_force(name, params, a, lmt, vmt)
    force = get_muscle_model(name).force_function()
    ours = force(torch.tensor(a), torch.tensor(lmt), torch.tensor(vmt), _params_from_dict(params))
    f0 = params["max_isometric_force"]
    np.testing.assert_allclose(
        ours.tendon_force.numpy(), ref, rtol=0, atol=EQUILIBRIUM_ATOL_NORM_FORCE * f0
    )
    assert ref.min() > 0.01 * f0  # every state pulls: the comparison is not of zeros
