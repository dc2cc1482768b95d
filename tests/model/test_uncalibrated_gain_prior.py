"""The gain prior of muscles whose envelopes are not in fractions of an MVIC
(``physics.uncalibrated_gain_prior``), by hand on the personalised elbow's prior deviation."""

from __future__ import annotations

import pytest
import torch

from nmm.model.physics import PersonalisedElbow
from nmm.physics.parameters import PersonalisedParameters


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-5, abs=1e-9)


def test_a_released_gain_deviates_for_free_and_nothing_else_changes(tiny_cfg, elbow):
    """(p - p0) / (upper - lower) for every column as configured, 0 for the released gains of
    the uncalibrated subject; a new table (with_subjects) releases its own rows' gains."""
    table = PersonalisedParameters.from_config(
        tiny_cfg.physics, 2, elbow.muscle_parameters, elbow.muscle_names
    ).to(torch.float64)
    physics = PersonalisedElbow(elbow, table, dt=0.01)
    muscles = list(elbow.muscle_names)
    measured = [m not in ("BRA", "TRImed") for m in muscles]
    table.expect_uncalibrated_gains([measured, None])
    for row in (0, 1):
        table.set_values(row, {"emg_gain": 0.4, "max_isometric_force": 1.5})
    dev = physics.prior_deviation()
    gain = [i for i, (n, _) in enumerate(table.columns) if n == "emg_gain"]
    strength = [i for i, (n, _) in enumerate(table.columns) if n == "max_isometric_force"]
    by_hand = (0.4 - 1.0) / (2.0 - 0.2)  # conf/physics/arm26.yaml: initial 1, bounds [0.2, 2]
    for i, m in zip(gain, muscles, strict=True):
        expected_row0 = 0.0 if m not in ("BRA", "TRImed") else by_hand
        assert dev[0, i].item() == approx(expected_row0)
        assert dev[1, i].item() == approx(by_hand)
    assert dev[:, strength].flatten().tolist() == [approx((1.5 - 1.0) / 2.0)] * 12
    assert torch.isfinite(dev).all()
    fresh = physics.with_subjects(["A", "B"], None, [None, measured])
    assert torch.isinf(fresh.parameters_table.prior_width[1]).sum().item() == sum(measured)
    assert not torch.isinf(fresh.parameters_table.prior_width[0]).any()
