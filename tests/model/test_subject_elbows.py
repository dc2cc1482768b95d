"""The per-subject elbow seam without OpenSim: :class:`SubjectElbows` and per-row nominal values.

Two analytic elbows (one flexor, one extensor; linear l_MT) stand for two subjects' models.
A table whose rows have different models multiplies each row's factors by its own model's
values, and :class:`~nmm.model.physics.PersonalisedElbow` computes each sequence of a mixed
batch with its subject's geometry, as that elbow alone computes it.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from nmm.model.physics import PersonalisedElbow, row_nominal
from nmm.physics.elbow import ArmParameters, ElbowModel
from nmm.physics.geometry import MuscleGeometry
from nmm.physics.muscle import MuscleParameters
from nmm.physics.parameters import PersonalisedParameters, parameter_specs
from nmm.physics.subject_elbows import SubjectElbows

MUSCLES = ("FLEX", "EXT")
ARM = ArmParameters(forearm_mass=1.5, forearm_com_distance=0.18, forearm_inertia=0.02)
PHYSICS = {
    "muscles": list(MUSCLES),
    "personalisation": {"max_isometric_force": [0.5, 2.5], "emg_gain": [0.2, 2.0]},
    "personalised": {
        "per_muscle": ["max_isometric_force", "emg_gain"],
        "global": [],
        "relative": ["max_isometric_force"],
        "initial": {"max_isometric_force": 1.0, "emg_gain": 1.0},
    },
}


def _elbow(flexor_arm_m: float, f0: tuple[float, float]) -> ElbowModel:
    """Flexor with r = +flexor_arm_m and extensor with r = -0.02 m (l_MT linear in θ)."""
    half = 1.15
    geometry = MuscleGeometry(
        muscle_names=MUSCLES,
        coordinate="elbow",
        domain=(0.0, 2.3),
        degree=1,
        coefficients=[[0.30, -flexor_arm_m * half], [0.25, 0.02 * half]],
    )
    params = MuscleParameters(
        max_isometric_force=torch.tensor(f0, dtype=torch.float64),
        optimal_fiber_length=torch.tensor([0.12, 0.10], dtype=torch.float64),
        tendon_slack_length=torch.tensor([0.18, 0.15], dtype=torch.float64),
    )
    return ElbowModel(geometry, params, ARM)


DEFAULT = _elbow(0.03, (600.0, 800.0))
SMALL = _elbow(0.025, (450.0, 700.0))


def test_subjects_without_a_model_get_the_default() -> None:
    elbows = SubjectElbows(DEFAULT, {"A": SMALL, "B": SMALL}, {"A": "/a.osim", "B": "/b.osim"})
    assert elbows["A"] is SMALL and elbows["C"] is DEFAULT
    assert elbows.model("A", "/arm26.osim") == "/a.osim"
    assert elbows.model("C", "/arm26.osim") == "/arm26.osim"
    assert elbows.distinct(["C", "A", "B", "C"]) == [DEFAULT, SMALL]
    assert SubjectElbows.of(DEFAULT)["anyone"] is DEFAULT
    assert SubjectElbows.of(elbows) is elbows
    other = SubjectElbows(DEFAULT, {"C": SMALL}, {"C": "/c.osim"})
    assert elbows.merged(other)["C"] is SMALL
    assert pickle.loads(pickle.dumps(elbows)).models == {"A": "/a.osim", "B": "/b.osim"}


def test_subject_elbows_refuse_inconsistent_entries() -> None:
    with pytest.raises(ValueError, match="with a model file"):
        SubjectElbows(DEFAULT, {"A": SMALL})
    three = MuscleGeometry(
        muscle_names=("FLEX", "EXT", "BRA"),
        coordinate="elbow",
        domain=(0.0, 2.3),
        degree=1,
        coefficients=[[0.3, -0.03], [0.25, 0.02], [0.2, -0.02]],
    )
    other = ElbowModel(
        three,
        MuscleParameters(
            max_isometric_force=torch.ones(3) * 500,
            optimal_fiber_length=torch.ones(3) * 0.1,
            tendon_slack_length=torch.ones(3) * 0.15,
        ),
        ARM,
    )
    with pytest.raises(ValueError, match="subject A: elbow muscles"):
        SubjectElbows(DEFAULT, {"A": other}, {"A": "/a.osim"})


def test_a_table_is_relative_to_each_rows_model() -> None:
    elbows = SubjectElbows(DEFAULT, {"A": SMALL}, {"A": "/a.osim"})
    ids = ["A", "C"]
    table = PersonalisedParameters(2, MUSCLES, parameter_specs(PHYSICS), row_nominal(elbows, ids))
    table.set_values(0, {"max_isometric_force": [2.0, 0.5]})
    table.set_values(1, {"max_isometric_force": [1.5, 1.0]})
    f0 = table.muscle_parameters().max_isometric_force.detach()
    torch.testing.assert_close(f0[0], torch.tensor([900.0, 350.0]), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(f0[1], torch.tensor([900.0, 800.0]), rtol=1e-5, atol=1e-3)
    chosen = table.muscle_parameters([1, 0]).max_isometric_force.detach()
    torch.testing.assert_close(chosen, f0[[1, 0]])
    exported = table.subject(0).osim_properties()
    assert exported["FLEX"]["max_isometric_force"] == pytest.approx(900.0, rel=1e-5)
    # one model for every row: its (M,) values, as before per-subject models
    shared = row_nominal(elbows, ["C", "D"])
    assert shared is DEFAULT.muscle_parameters


def test_a_mixed_batch_is_computed_with_each_subjects_geometry() -> None:
    elbows = SubjectElbows(DEFAULT, {"A": SMALL}, {"A": "/a.osim"})
    ids = ["C", "A"]
    table = PersonalisedParameters(2, MUSCLES, parameter_specs(PHYSICS), row_nominal(elbows, ids))
    table = table.double()
    physics = PersonalisedElbow(elbows, table, dt=0.01, subject_ids=ids)
    t = torch.linspace(0.0, 1.0, 40, dtype=torch.float64)
    angle = (1.0 + 0.4 * torch.sin(4 * t)).expand(3, -1)
    velocity = (1.6 * torch.cos(4 * t)).expand(3, -1)
    envelopes = torch.full((3, 40, 2), 0.3, dtype=torch.float64)
    rows = torch.tensor([1, 0, 1])
    out = physics(envelopes, rows, angle, velocity)
    for b, row in enumerate(rows.tolist()):
        mp = table.muscle_parameters([row], time_axis=True)
        activation = out.activation[b : b + 1]
        own = elbows[ids[row]].muscle_torque(angle[b : b + 1], velocity[b : b + 1], activation, mp)
        torch.testing.assert_close(out.torque[b], own.torque[0])
    assert not torch.allclose(out.torque[0], out.torque[1])
    # gradients reach every row's parameters through the grouped computation
    out.torque.sum().backward()
    assert bool((table.raw.grad[:, : len(MUSCLES)].abs() > 0).all())  # F0 of both rows
    fresh = physics.with_subjects(["A"])
    assert fresh.row_elbows == [SMALL]
