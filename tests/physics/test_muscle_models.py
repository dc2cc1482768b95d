"""The muscle-model registry (nmm.physics.muscle_models): lookups, errors, and a toy model that
the torch elbow picks up by name with no edit elsewhere.

Torch against OpenSim for every registered model: tests/physics/test_muscle.py (one muscle at
chosen states) and tests/opensim/test_elbow_twin.py (arm26's elbow)."""

from __future__ import annotations

import math

import pytest
import torch

from nmm.config import compose_config
from nmm.jobs.config_check import ConfigError, check_config
from nmm.opensim.geometry_sampling import PARAMETER_READERS, sample_elbow_geometry
from nmm.physics import muscle_models
from nmm.physics.elbow import ArmParameters, ElbowModel, muscle_torque
from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle import MuscleParameters, MuscleState, rigid_tendon_muscle
from nmm.physics.muscle_models import (
    CONFIG_KEY,
    DEFAULT_MUSCLE_MODEL,
    MUSCLE_MODELS,
    MuscleModel,
    OpenSimMuscle,
    ParameterSpec,
    UnknownMuscleModelError,
    get_muscle_model,
    register_muscle_model,
)

TOY = "toy_ideal_force_generator"
ARM = ArmParameters(forearm_mass=1.5, forearm_com_distance=0.18, forearm_inertia=0.02)
PARAMS = MuscleParameters(
    max_isometric_force=torch.tensor([600.0, 800.0], dtype=torch.float64),
    optimal_fiber_length=torch.tensor([0.12, 0.10], dtype=torch.float64),
    tendon_slack_length=torch.tensor([0.18, 0.15], dtype=torch.float64),
)


def ideal_force_generator(
    activation: torch.Tensor,
    mtu_length: torch.Tensor,
    mtu_velocity: torch.Tensor,
    params: MuscleParameters,
) -> MuscleState:
    """Toy muscle: tendon force F_T = a F0 (N), whatever the length and velocity."""
    force = activation * params.max_isometric_force
    zero = torch.zeros_like(force)
    return MuscleState(*([zero] * len(MuscleState._fields)))._replace(tendon_force=force)


def _toy_model() -> MuscleModel:
    return MuscleModel(
        name=TOY,
        force=f"{__name__}.ideal_force_generator",
        parameters=(ParameterSpec("max_isometric_force", "N", 0.0, from_osim=True),),
        opensim=OpenSimMuscle(muscle_class="PathActuator", model_operators=()),
        source="none: a test double",
    )


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, MuscleModel]:
    """A copy of the registry for one test, so what it registers goes away after it."""
    copy = dict(MUSCLE_MODELS)
    monkeypatch.setattr(muscle_models, "MUSCLE_MODELS", copy)
    return copy


@pytest.fixture(scope="module")
def geometry() -> MuscleGeometry:
    """Flexor r = +0.03 m, extensor r = -0.02 m (l_MT linear in θ)."""
    half = 1.15
    return MuscleGeometry(
        muscle_names=("FLEX", "EXT"),
        coordinate="elbow",
        domain=(0.0, 2.3),
        degree=1,
        coefficients=[[0.30, -0.03 * half], [0.25, 0.02 * half]],
    )


def test_built_in_models_are_complete() -> None:
    assert DEFAULT_MUSCLE_MODEL in MUSCLE_MODELS
    assert {"degroote2016_rigid_tendon", "degroote2016_compliant_tendon"} <= set(MUSCLE_MODELS)
    fields = set(MuscleParameters.__dataclass_fields__)
    for name, model in MUSCLE_MODELS.items():
        assert model.name == name
        assert callable(model.force_function())
        assert {p.name for p in model.parameters} <= fields, name
        # the geometry sampler can read what the model takes from the .osim
        assert set(model.osim_parameters) <= set(PARAMETER_READERS), name
        assert model.opensim.muscle_class and model.opensim.model_operators
    rigid = get_muscle_model("degroote2016_rigid_tendon")
    assert rigid.force_function() is rigid_tendon_muscle
    assert rigid.opensim.fixed_properties == {"ignore_tendon_compliance": True}
    assert get_muscle_model("degroote2016_compliant_tendon").opensim.equilibrate


def test_parameter_ranges() -> None:
    specs = {p.name: p for p in get_muscle_model(DEFAULT_MUSCLE_MODEL).parameters}
    pennation = specs["pennation_angle_at_optimal"]
    assert pennation.contains(0.0) and pennation.contains(1.5)
    assert not pennation.contains(-0.01) and not pennation.contains(math.pi / 2)
    assert pennation.range_text() == "[0, 1.5708) rad"
    assert not specs["max_isometric_force"].contains(0.0)
    assert specs["active_force_width_scale"].contains(1.0)
    assert not specs["tendon_strain_at_one_norm_force"].contains(float("nan"))


def test_unknown_name_names_the_key_and_the_choices() -> None:
    with pytest.raises(UnknownMuscleModelError) as err:
        get_muscle_model("hill_1938")
    assert isinstance(err.value, ValueError)
    assert err.value.key == CONFIG_KEY == "physics.muscle_model"
    message = str(err.value)
    assert message.startswith("physics.muscle_model: unknown muscle model 'hill_1938'")
    assert "degroote2016_rigid_tendon" in message and "degroote2016_compliant_tendon" in message


def test_registering_checks_the_entry(registry) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_muscle_model(MUSCLE_MODELS[DEFAULT_MUSCLE_MODEL])
    bad = _toy_model()
    bad = MuscleModel(
        bad.name,
        bad.force,
        bad.parameters,
        OpenSimMuscle("PathActuator", (), properties={"fiber_damping": "fiber_damping"}),
        bad.source,
    )
    with pytest.raises(ValueError, match="undeclared parameters"):
        register_muscle_model(bad)
    assert TOY not in registry


def test_a_registered_toy_model_drives_the_torch_elbow(registry, geometry) -> None:
    """One registration, no other edit: muscle_torque and ElbowModel use it by name."""
    register_muscle_model(_toy_model())
    assert TOY in registry and TOY not in MUSCLE_MODELS  # the fixture's copy, not the original
    theta = torch.tensor([[0.3, 1.0, 2.0]], dtype=torch.float64)
    theta_dot = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    act = torch.tensor([[[0.8, 0.1], [0.5, 0.6], [1.0, 0.0]]], dtype=torch.float64)
    out = muscle_torque(theta, theta_dot, act, geometry, PARAMS, muscle_model=TOY)
    # τ = Σ r_i a_i F0_i with r = (0.03, -0.02) m
    expected = 0.03 * 600.0 * act[..., 0] - 0.02 * 800.0 * act[..., 1]
    torch.testing.assert_close(out.torque, expected, rtol=1e-12, atol=1e-12)
    model = ElbowModel(geometry, PARAMS, ARM, muscle_model=TOY)
    torch.testing.assert_close(model.muscle_torque(theta, theta_dot, act).torque, expected)
    rigid = muscle_torque(theta, theta_dot, act, geometry, PARAMS)
    assert not torch.allclose(rigid.torque, expected)  # a different model indeed


def test_elbow_model_checks_the_parameter_ranges(registry, geometry) -> None:
    register_muscle_model(_toy_model())
    weak = MuscleParameters(**{**PARAMS.__dict__, "max_isometric_force": torch.tensor([1.0, 0.0])})
    with pytest.raises(ValueError, match=r"max_isometric_force must lie in \(0, inf\) N"):
        ElbowModel(geometry, weak, ARM, muscle_model=TOY)
    tilted = MuscleParameters(**{**PARAMS.__dict__, "pennation_angle_at_optimal": 2.0})
    ElbowModel(geometry, tilted, ARM, muscle_model=TOY)  # the toy has no pennation
    with pytest.raises(ValueError, match="pennation_angle_at_optimal must lie in"):
        ElbowModel(geometry, tilted, ARM)


def test_a_force_path_that_does_not_import(registry, geometry) -> None:
    toy = _toy_model()
    register_muscle_model(MuscleModel("broken", "nmm.physics.muscle.no_such", (), toy.opensim, ""))
    with pytest.raises(ImportError, match=r"nmm\.physics\.muscle\.no_such"):
        muscle_torque(
            torch.zeros(1),
            torch.zeros(1),
            torch.zeros(1, 2),
            geometry,
            PARAMS,
            muscle_model="broken",
        )


def test_the_geometry_sampler_reads_what_the_model_declares(registry, arm26_osim, tmp_path):
    pytest.importorskip("opensim")
    register_muscle_model(_toy_model())
    toy = sample_elbow_geometry(arm26_osim, muscles=["BRA"], angles=[0.5], muscle_model=TOY)
    assert list(toy.muscle_parameters) == ["max_isometric_force"]
    full = sample_elbow_geometry(arm26_osim, muscles=["BRA"], angles=[0.5])
    assert tuple(full.muscle_parameters) == MUSCLE_MODELS[DEFAULT_MUSCLE_MODEL].osim_parameters
    assert (
        full.muscle_parameters["max_isometric_force"]
        == toy.muscle_parameters["max_isometric_force"]
    )
    # checked before the file is opened
    with pytest.raises(UnknownMuscleModelError, match="'hill_1938'"):
        sample_elbow_geometry(tmp_path / "missing.osim", muscle_model="hill_1938")
    damped = ParameterSpec("fiber_damping", "1", 0.0, low_closed=True, from_osim=True)
    register_muscle_model(MuscleModel("damped", TOY, (damped,), _toy_model().opensim, ""))
    with pytest.raises(ValueError, match=r"reads \['fiber_damping'\] from the \.osim"):
        sample_elbow_geometry(tmp_path / "missing.osim", muscle_model="damped")


@pytest.mark.parametrize("app", ["train", "validate"])
def test_the_config_check_refuses_an_unknown_muscle_model(app: str) -> None:
    """nmm-train and nmm-validate refuse the name before any work (nmm.jobs.config_check)."""
    check_config(compose_config(app), app)
    with pytest.raises(ConfigError, match=r"'physics\.muscle_model': 'hill_1938' is not a regi"):
        check_config(compose_config(app, [f"{CONFIG_KEY}=hill_1938"]), app)
