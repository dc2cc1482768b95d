"""The torch elbow against OpenSim 4.6 itself on arm26: muscles, torque, inverse dynamics.

Muscle outputs at random states (angle, speed, activations) are compared with the rigid-tendon
``DeGrooteFregly2016Muscle`` twin of arm26; inverse-dynamics torques on analytic motions
(sinusoid, minimum jerk, with exact q, q̇, q̈) with ``InverseDynamicsSolver``. Bounds are the
brief's 0.5 % RMS; the achieved agreement is printed with ``-s`` and recorded in the report.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nmm.opensim.geometry_sampling import OsimModelError
from nmm.opensim.torch_elbow import muscle_geometry_from_osim
from nmm.physics.elbow import ArmParameters, inverse_dynamics_torque, muscle_torque
from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle_models import MUSCLE_MODELS, UnknownMuscleModelError

osim = pytest.importorskip("opensim", reason="OpenSim 4.6 (pip 'opensim') is not installed")

from nmm.opensim.elbow_twin import (  # noqa: E402  (after the skip: needs OpenSim)
    arm_parameters_from_osim,
    build_inverse_dynamics_twin,
    load_muscle_twin,
    opensim_inverse_dynamics,
    opensim_muscle_torque,
)

MUSCLES = ("TRIlong", "TRIlat", "TRImed", "BIClong", "BICshort", "BRA")
COMPLIANT = "degroote2016_compliant_tendon"
ELBOW_MAX = 2.26892803  # rad, arm26 r_elbow_flex range 0-130°
REL_TOL = 0.005  # brief: 0.5 % RMS
N_STATES = 400
PASSIVE = {  # conf/physics/arm26.yaml joint block
    "joint_damping": 0.1,
    "lower_limit": 0.0,
    "upper_limit": ELBOW_MAX,
    "limit_stiffness": 300.0,
    "limit_damping": 1.0,
    "limit_transition": math.radians(5.0),
}


def rel_rms(x: np.ndarray, ref: np.ndarray, axis: int | None = None) -> np.ndarray:
    return np.sqrt(np.mean((x - ref) ** 2, axis=axis)) / np.sqrt(np.mean(ref**2, axis=axis))


@pytest.fixture(scope="module")
def geometry(arm26_osim: Path, tmp_path_factory: pytest.TempPathFactory) -> MuscleGeometry:
    return muscle_geometry_from_osim(
        arm26_osim, muscles=MUSCLES, cache_dir=tmp_path_factory.mktemp("geometry")
    )


@pytest.fixture(scope="module")
def states() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2026)
    q = rng.uniform(0.0, ELBOW_MAX, N_STATES)
    u = rng.uniform(-4.0, 4.0, N_STATES)  # rad/s: normalised fibre speeds within [-1, 1]
    a = rng.uniform(0.0, 1.0, (N_STATES, len(MUSCLES)))
    return q, u, a


@pytest.fixture(scope="module")
def reference(arm26_osim: Path, states):
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES)
    return opensim_muscle_torque(twin, *states, details=True)


# ------------------------------------------------------------------------------------------
# Muscles and muscle torque
# ------------------------------------------------------------------------------------------


def test_muscle_outputs_match_opensim(geometry: MuscleGeometry, states, reference) -> None:
    q, u, a = states
    out = muscle_torque(
        torch.tensor(q), torch.tensor(u), torch.tensor(a), geometry, geometry.to_muscle_parameters()
    )
    errors = {
        "mtu_length": rel_rms(out.mtu_lengths.numpy(), reference.mtu_length, 0),
        "moment_arm": rel_rms(out.moment_arms.numpy(), reference.moment_arm, 0),
        "fiber_length": rel_rms(out.muscle.fiber_length.numpy(), reference.fiber_length, 0),
        "fiber_force": rel_rms(out.muscle.fiber_force.numpy(), reference.fiber_force, 0),
        "tendon_force": rel_rms(out.muscle.tendon_force.numpy(), reference.tendon_force, 0),
        "active_fiber_force": rel_rms(
            out.muscle.active_fiber_force.numpy(), reference.active_fiber_force, 0
        ),
    }
    torque_err = rel_rms(out.torque.numpy(), reference.torque)
    print(f"\ntorque rel RMS {torque_err:.2e}")
    for key, err in errors.items():
        print(f"{key:>18}: " + " ".join(f"{m} {e:.1e}" for m, e in zip(MUSCLES, err, strict=True)))
        assert np.all(err < REL_TOL), f"{key}: {dict(zip(MUSCLES, err, strict=True))}"
    assert torque_err < REL_TOL
    # Torque covers both signs: both muscle groups matter in the comparison.
    assert reference.torque.min() < -10 and reference.torque.max() > 10


def test_muscle_torque_float32(geometry: MuscleGeometry, states, reference) -> None:
    q, u, a = states
    out = muscle_torque(
        torch.tensor(q, dtype=torch.float32).reshape(8, -1),
        torch.tensor(u, dtype=torch.float32).reshape(8, -1),
        torch.tensor(a, dtype=torch.float32).reshape(8, -1, len(MUSCLES)),
        geometry,
        geometry.to_muscle_parameters(torch.float32),
    )
    assert out.torque.dtype == torch.float32 and out.torque.shape == (8, N_STATES // 8)
    assert rel_rms(out.torque.reshape(-1).double().numpy(), reference.torque) < REL_TOL


def test_compliant_muscles_match_opensim_equilibrium(
    arm26_osim: Path, geometry: MuscleGeometry, states, reference
) -> None:
    """Compliant tendons: the torch equilibrium against OpenSim's ``equilibrateMuscles`` state by
    state (arm26's tendon strains read from the file), and unlike the rigid-tendon twin."""
    q, u, a = (x[:200] for x in states)
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES, muscle_model=COMPLIANT)
    ref = opensim_muscle_torque(twin, q, u, a, details=True)
    out = muscle_torque(
        torch.tensor(q),
        torch.tensor(u),
        torch.tensor(a),
        geometry,
        geometry.to_muscle_parameters(),
        muscle_model=COMPLIANT,
    )
    force_err = rel_rms(out.muscle.tendon_force.numpy(), ref.tendon_force, 0)
    fiber_err = rel_rms(out.muscle.fiber_length.numpy(), ref.fiber_length, 0)
    tol = 1e-4  # measured: at most 7e-5 (TRImed's force), both solve the same equilibrium
    assert np.all(force_err < tol), dict(zip(MUSCLES, force_err, strict=True))
    assert np.all(fiber_err < tol), dict(zip(MUSCLES, fiber_err, strict=True))
    # the torque adds the fitted moment arms' error, as for the rigid twin (1.8e-4 measured)
    assert rel_rms(out.torque.numpy(), ref.torque) < 5 * tol
    # the tendons stretch: a different model from the rigid one (BIClong's long tendon most)
    assert rel_rms(ref.torque, reference.torque[:200]) > 10 * REL_TOL
    with pytest.raises(UnknownMuscleModelError, match=r"physics\.muscle_model: .*'elastic'"):
        load_muscle_twin(arm26_osim, muscles=MUSCLES, muscle_model="elastic")


@pytest.mark.parametrize("name", sorted(MUSCLE_MODELS))
def test_every_registered_model_matches_its_twin(
    arm26_osim: Path, geometry: MuscleGeometry, states, name: str
) -> None:
    """Each registry entry: the torch elbow and the twin built from the same entry agree."""
    q, u, a = (x[:50] for x in states)
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES, muscle_model=name)
    assert twin.muscle_model.name == name
    ref = opensim_muscle_torque(twin, q, u, a)
    ours = muscle_torque(
        torch.tensor(q),
        torch.tensor(u),
        torch.tensor(a),
        geometry,
        geometry.to_muscle_parameters(),
        muscle_model=name,
    ).torque.numpy()
    assert rel_rms(ours, ref) < REL_TOL


def test_generalized_force_equals_tension_times_moment_arm(arm26_osim: Path, states, reference):
    """OpenSim's applied generalized force = Σ tendon force × computeMomentArm."""
    q, u, a = states
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES)
    gen = opensim_muscle_torque(twin, q[:100], u[:100], a[:100], method="generalized_force")
    np.testing.assert_allclose(gen, reference.torque[:100], rtol=1e-9, atol=1e-9)


def test_shoulder_elevation_changes_biarticular_muscles(arm26_osim: Path, tmp_path: Path) -> None:
    """Held at another shoulder angle, geometry and twin agree again (BIClong/TRIlong cross it)."""
    held = {"r_shoulder_elev": 0.6}
    geometry = muscle_geometry_from_osim(
        arm26_osim, muscles=MUSCLES, locked=held, cache_dir=tmp_path
    )
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES, locked=held)
    rng = np.random.default_rng(3)
    q, u, a = rng.uniform(0, ELBOW_MAX, 100), rng.uniform(-3, 3, 100), rng.uniform(0, 1, (100, 6))
    ref = opensim_muscle_torque(twin, q, u, a)
    ours = muscle_torque(
        torch.tensor(q), torch.tensor(u), torch.tensor(a), geometry, geometry.to_muscle_parameters()
    ).torque.numpy()
    assert rel_rms(ours, ref) < REL_TOL


# ------------------------------------------------------------------------------------------
# Inverse dynamics
# ------------------------------------------------------------------------------------------


def sinusoid(n: int = 300) -> tuple[np.ndarray, ...]:
    """θ = 1.1 + 1.25 sin(ω t): reaches past both limits of the range (-8.6° to 135°)."""
    t = np.linspace(0.0, 2.5, n)
    w = 2 * math.pi * 0.8
    return t, 1.1 + 1.25 * np.sin(w * t), 1.25 * w * np.cos(w * t), -1.25 * w * w * np.sin(w * t)


def minimum_jerk(n: int = 300) -> tuple[np.ndarray, ...]:
    """0.1 -> 2.1 rad in 0.8 s, minimum jerk (Flash & Hogan 1985)."""
    duration, q0, q1 = 0.8, 0.1, 2.1
    t = np.linspace(0.0, duration, n)
    s = t / duration
    d = q1 - q0
    q = q0 + d * (10 * s**3 - 15 * s**4 + 6 * s**5)
    qd = d / duration * (30 * s**2 - 60 * s**3 + 30 * s**4)
    qdd = d / duration**2 * (60 * s - 180 * s**2 + 120 * s**3)
    return t, q, qd, qdd


@pytest.mark.parametrize("motion", [sinusoid, minimum_jerk])
@pytest.mark.parametrize(("load_mass", "shoulder"), [(0.0, 0.0), (2.0, 0.0), (4.0, math.pi / 2)])
def test_inverse_dynamics_matches_opensim(
    arm26_osim: Path, motion, load_mass: float, shoulder: float
) -> None:
    held = {"r_shoulder_elev": shoulder}
    arm = arm_parameters_from_osim(arm26_osim, locked=held).replace(**PASSIVE)
    t, q, qd, qdd = motion()
    lever = 0.30
    ref = opensim_inverse_dynamics(
        arm26_osim, t, q, qd, qdd, load_mass, lever, arm=arm, locked=held
    )
    ours = inverse_dynamics_torque(
        torch.tensor(q), torch.tensor(qd), torch.tensor(qdd), arm, load_mass, lever
    ).numpy()
    err = rel_rms(ours, ref)
    print(f"\n{motion.__name__} {load_mass} kg shoulder {shoulder:.2f}: ID rel RMS {err:.1e}")
    assert err < REL_TOL
    # float32 as well
    ours32 = inverse_dynamics_torque(
        torch.tensor(q, dtype=torch.float32),
        torch.tensor(qd, dtype=torch.float32),
        torch.tensor(qdd, dtype=torch.float32),
        arm,
        load_mass,
        lever,
    )
    assert rel_rms(ours32.double().numpy(), ref) < REL_TOL


def test_inverse_dynamics_terms_separately(arm26_osim: Path) -> None:
    """Passive elements, the limit torque and the load each match (not only their sum)."""
    arm = arm_parameters_from_osim(arm26_osim).replace(**PASSIVE)
    t, q, qd, qdd = sinusoid()
    rigid = opensim_inverse_dynamics(arm26_osim, t, q, qd, qdd, arm=arm, include_passive=False)
    full = opensim_inverse_dynamics(arm26_osim, t, q, qd, qdd, arm=arm)
    loaded = opensim_inverse_dynamics(arm26_osim, t, q, qd, qdd, 4.0, 0.3, arm=arm)
    qt, qdt, qddt = torch.tensor(q), torch.tensor(qd), torch.tensor(qdd)
    ours_rigid = inverse_dynamics_torque(qt, qdt, qddt, arm, include_passive=False).numpy()
    ours_full = inverse_dynamics_torque(qt, qdt, qddt, arm).numpy()
    ours_loaded = inverse_dynamics_torque(qt, qdt, qddt, arm, 4.0, 0.3).numpy()
    passive = full - rigid
    assert np.abs(passive).max() > 5.0  # the limit torque is exercised
    assert rel_rms(ours_full - ours_rigid, passive) < REL_TOL
    assert rel_rms(ours_loaded - ours_full, loaded - full) < REL_TOL
    assert rel_rms(ours_rigid, rigid) < REL_TOL


def test_arm_parameters_from_osim(arm26_osim: Path) -> None:
    arm = arm_parameters_from_osim(arm26_osim)
    assert arm.forearm_mass == pytest.approx(1.534315)
    # The COM lies 0.181479 m from the elbow; the axis is tilted, so slightly less from it.
    assert 0.180 < arm.forearm_com_distance < 0.181479
    assert arm.forearm_inertia == pytest.approx(0.020062, rel=0.01)
    assert arm.gravity == pytest.approx(9.8066)
    assert 0.99 < arm.gravity_plane_factor < 1.0
    assert abs(arm.gravity_angle_offset) < 0.01
    assert (arm.lower_limit, arm.upper_limit) == pytest.approx((0.0, ELBOW_MAX))


def test_planar_config_parameters_within_tolerance(arm26_osim: Path) -> None:
    """conf/physics/arm26.yaml's planar idealisation is within 0.5 % of OpenSim's ID."""
    planar = ArmParameters(
        forearm_mass=1.534315, forearm_com_distance=0.181479, forearm_inertia=0.020062
    )
    t, q, qd, qdd = minimum_jerk()
    ref = opensim_inverse_dynamics(arm26_osim, t, q, qd, qdd, 2.0, 0.3)
    ours = inverse_dynamics_torque(
        torch.tensor(q), torch.tensor(qd), torch.tensor(qdd), planar, 2.0, 0.3
    ).numpy()
    assert rel_rms(ours, ref) < REL_TOL


def test_load_is_welded_on_the_lever_arm(arm26_osim: Path) -> None:
    twin = build_inverse_dynamics_twin(arm26_osim, 2.0, 0.3)
    # Distance of the load from the flexion axis (through the origin of the forearm frame;
    # arm26's r_elbow axis in arm26.osim).
    axis = np.array([0.0494, 0.0366, 0.998108])
    axis /= np.linalg.norm(axis)
    loc = twin.load_location
    assert np.linalg.norm(loc - (loc @ axis) * axis) == pytest.approx(0.3, rel=1e-4)
    assert loc[1] < -0.29  # distal, along the forearm's -y
    assert twin.model.getBodySet().contains("nmm_hand_load")


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


def test_osim_without_elbow_coordinate(arm26_osim: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "arm26_renamed.osim"
    renamed.write_text(arm26_osim.read_text().replace("r_elbow_flex", "r_elbow_bend"))
    with pytest.raises(
        OsimModelError,
        match=r"arm26_renamed\.osim.*no coordinate named "
        r"'r_elbow_flex'.*r_elbow_bend",
    ) as err:
        load_muscle_twin(renamed)
    assert isinstance(err.value, ValueError)
    with pytest.raises(OsimModelError, match="no coordinate named 'r_elbow_flex'"):
        opensim_inverse_dynamics(renamed, [0.0], [0.1], [0.0], [0.0])
    with pytest.raises(OsimModelError, match="no coordinate named 'r_elbow_flex'"):
        arm_parameters_from_osim(renamed)


def test_unknown_muscle_and_bad_files(
    arm26_osim: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(OsimModelError, match=r"no muscle named 'BRD'.*TRIlong"):
        load_muscle_twin(arm26_osim, muscles=["BIClong", "BRD"])
    with pytest.raises(OsimModelError, match="no such file"):
        load_muscle_twin(tmp_path / "missing.osim")
    junk = tmp_path / "junk.osim"
    junk.write_text("not xml")
    with pytest.raises(OsimModelError, match=r"junk\.osim: OpenSim cannot load"):
        build_inverse_dynamics_twin(junk)
    # a held coordinate the model lacks (a welded joint) is skipped, and said so
    with caplog.at_level(logging.INFO, logger="nmm.opensim.geometry_sampling"):
        twin = load_muscle_twin(arm26_osim, muscles=MUSCLES, locked={"r_wrist": 0.0})
    assert "no coordinate 'r_wrist'" in caplog.text and twin.muscle_names == tuple(MUSCLES)


def test_bad_arrays(arm26_osim: Path) -> None:
    twin = load_muscle_twin(arm26_osim, muscles=MUSCLES)
    with pytest.raises(ValueError, match=r"activations must have shape \(T, M\) = \(3, 6\)"):
        opensim_muscle_torque(twin, [0.1, 0.2, 0.3], [0, 0, 0], np.zeros((3, 5)))
    with pytest.raises(ValueError, match="load_mass"):
        build_inverse_dynamics_twin(arm26_osim, -1.0, 0.3)
