"""Parameter recovery against the truth: learned and initial errors, by hand."""

from __future__ import annotations

import pytest
import torch

from nmm.model.evaluate import parameter_recovery
from nmm.model.physics import PersonalisedElbow
from nmm.physics.parameters import PersonalisedParameters


def test_recovery_compares_learned_and_initial_values_with_the_truth(tiny_cfg, elbow):
    table = PersonalisedParameters.from_config(
        tiny_cfg.physics, 2, elbow.muscle_parameters, elbow.muscle_names
    ).to(torch.float64)
    physics = PersonalisedElbow(elbow, table, dt=0.01)
    table.set_values(0, {"max_isometric_force": {"BRA": 1.2, "TRImed": 0.7}})
    table.set_values(1, {"max_isometric_force": {"BRA": 0.9}})
    truth = {
        "subjects": [
            {
                "subject_id": "S01",
                "factors": {
                    "BRA": {"max_isometric_force": 1.3},
                    "TRImed": {"max_isometric_force": 0.9},
                },
            },
            {"subject_id": "S02", "factors": {"BRA": {"max_isometric_force": 1.1}}},
            {"subject_id": "S09", "factors": {"BRA": {"max_isometric_force": 2.0}}},  # not fitted
        ]
    }
    rec = parameter_recovery(physics, ["S01", "S02"], truth)
    # initial factor 1: |1.2-1.3|, |0.7-0.9|, |0.9-1.1| learned vs 0.3, 0.1, 0.1 initial
    assert rec["abs_error_mean"]["max_isometric_force"] == pytest.approx(0.5 / 3, rel=1e-6)
    assert rec["abs_error_initial_mean"]["max_isometric_force"] == pytest.approx(0.5 / 3)
    assert rec["closer_than_initial"]["max_isometric_force"] == pytest.approx(1 / 3)
    bra = rec["per_muscle"]["max_isometric_force"]["BRA"]
    assert bra["abs_error"] == pytest.approx(0.15, rel=1e-6)
    assert bra["abs_error_initial"] == pytest.approx(0.2)
    assert {(v["subject"], v["muscle"]) for v in rec["values"]} == {
        ("S01", "BRA"),
        ("S01", "TRImed"),
        ("S02", "BRA"),
    }
    assert parameter_recovery(physics, ["S01"], None) is None
