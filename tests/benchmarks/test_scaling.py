"""The growth exponent of bench_scaling on analytic power laws."""

from __future__ import annotations

import pytest

from benchmarks.bench_scaling import growth_exponent


@pytest.mark.parametrize("b", [0.5, 1.0, 1.7])
def test_growth_exponent_recovers_a_power_law(b):
    sizes = [1, 2, 5, 10, 20]
    assert growth_exponent(sizes, [3.0 * n**b for n in sizes]) == pytest.approx(b, rel=1e-12)


def test_growth_exponent_needs_two_sizes():
    assert growth_exponent([5], [10.0]) is None
    assert growth_exponent([5, 5], [10.0, 11.0]) is None
