"""Co-contraction indices (painsig.indices.cocontraction) on analytic envelopes whose integrals
are known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data import DataValidationError, Signal
from painsig.indices.cocontraction import falconer_winter, group_envelope, rudolph
from painsig.registry import FeatureError

TIME = np.linspace(0.0, 1.0, 100001)  # s


def box(t0: float, t1: float, level: float = 1.0) -> np.ndarray:
    inside = (TIME - t0 >= 0) & (TIME - t1 < 0)
    return np.where(inside, level, 0.0)


def test_falconer_winter_identical_disjoint_and_half_overlapping():
    a = 0.3 + 0.2 * np.sin(2 * np.pi * 3 * TIME) ** 2
    assert falconer_winter(a, a) == pytest.approx(100.0)
    assert falconer_winter(box(0.0, 0.4), box(0.6, 1.0)) == 0.0
    # common area 0.2 of a total 0.8: 2 · 0.2 / 0.8 = 50 %
    assert falconer_winter(box(0.0, 0.4), box(0.2, 0.6)) == pytest.approx(50.0, abs=0.01)


def test_falconer_winter_of_crossing_ramps():
    """a = t, b = 1 − t: ∫ min = 1/4, ∫ (a + b) = 1, CI = 50 %; b halved: ∫ min(t, (1 − t)/2)
    = 1/6 and ∫ (a + b) = 3/4, CI = 2 · (1/6) / (3/4) = 44.4 %."""
    assert falconer_winter(TIME, 1 - TIME) == pytest.approx(50.0, rel=1e-4)
    assert falconer_winter(TIME, (1 - TIME) / 2) == pytest.approx(400 / 9, rel=1e-4)


def test_rudolph_of_constant_and_disjoint_envelopes():
    c = np.full(1000, 0.4)
    assert rudolph(c, c) == pytest.approx(0.8)  # ratio 1 times 2c
    assert rudolph(c, c / 2) == pytest.approx(0.5 * 0.6)  # ratio 1/2 times 1.5c
    assert rudolph(box(0.0, 0.4), box(0.6, 1.0)) == 0.0
    assert rudolph(np.zeros(10), np.zeros(10)) == 0.0


def test_both_indices_refuse_bad_envelopes():
    for fn in (falconer_winter, rudolph):
        with pytest.raises(FeatureError, match="one length"):
            fn(np.ones(3), np.ones(4))
        with pytest.raises(FeatureError, match=">= 0"):
            fn(np.ones(3), -np.ones(3))
        with pytest.raises(FeatureError, match="finite"):
            fn(np.ones(3), np.array([1.0, np.nan, 1.0]))
    with pytest.raises(FeatureError, match="both envelopes are 0"):
        falconer_winter(np.zeros(5), np.zeros(5))


def test_group_envelope_averages_the_named_muscles():
    env = Signal.uniform(
        np.column_stack([np.ones(5), 3 * np.ones(5), 10 * np.ones(5)]),
        100.0,
        ["BIClong", "BRA", "TRIlong"],
        "1",
        source="s.sto",
    )
    np.testing.assert_allclose(group_envelope(env, ["BIClong", "BRA"]), 2.0)
    with pytest.raises(DataValidationError, match="not in the envelope") as err:
        group_envelope(env, ["BIClong", "TRImed"])
    assert (err.value.source, err.value.channel) == ("s.sto", "TRImed")
