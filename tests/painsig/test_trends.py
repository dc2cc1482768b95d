"""Trends across sessions (painsig.trends): the Theil–Sen slope and its interval, the change
from the first session, the baseline band and its flag, against known truths."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from painsig.session import SessionSettings
from painsig.trends import TrendError, index_trend, session_numbers


def test_the_slope_interval_covers_a_known_slope_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    x = np.arange(1, 11, dtype=float)
    covered = []
    for _ in range(400):
        y = 2.0 - 0.3 * x + rng.normal(0, 0.5, x.size)
        t = index_trend(x, y, np.full(x.size, 0.1), k=3)
        covered.append(t.low <= -0.3 <= t.high)
    assert 0.90 <= np.mean(covered) <= 0.99


def test_theil_sen_ignores_one_aberrant_session():
    x = np.arange(1, 8, dtype=float)
    y = 1.5 * x
    y[3] = 100.0  # one session gone wrong
    t = index_trend(x, y, np.ones(x.size))
    assert t.slope == pytest.approx(1.5)
    assert t.n_sessions == 7


def test_the_change_is_welchs_z_on_the_two_estimates():
    t = index_trend([1, 2, 3], [0.8, 0.6, 0.5], [0.03, 0.05, 0.04], k=2)
    z = (0.5 - 0.8) / math.hypot(0.03, 0.04)
    assert t.change.difference == pytest.approx(-0.3)
    assert t.change.z == pytest.approx(z)
    assert t.change.p_value == pytest.approx(2 * stats.norm.cdf(-abs(z)))


def test_the_latest_session_outside_the_baseline_band_is_flagged():
    base = [1.0, 1.2, 0.8, 1.0]  # mean 1.0, SD 0.1633 (ddof 1)
    sd = float(np.std(base, ddof=1))
    inside = index_trend([1, 2, 3, 4, 5], [*base, 1.3], np.ones(5), k=4, n_sd=2.0)
    outside = index_trend([1, 2, 3, 4, 5], [*base, 1.4], np.ones(5), k=4, n_sd=2.0)
    assert inside.band.low == pytest.approx(1.0 - 2 * sd)
    assert inside.band.high == pytest.approx(1.0 + 2 * sd)
    assert inside.band.outside is False
    assert outside.band.outside is True
    below = index_trend([1, 2, 3, 4, 5], [*base, 0.6], np.ones(5), k=4, n_sd=2.0)
    assert below.band.outside is True


def test_no_flag_when_the_latest_session_is_a_baseline_session():
    t = index_trend([1, 2], [1.0, 5.0], [0.1, 0.1], k=2)
    assert t.band.outside is None


def test_sessions_without_a_value_are_left_out():
    t = index_trend([1, 2, 3, 4], [1.0, np.nan, 3.0, 4.0], np.ones(4), k=2)
    assert t.n_sessions == 3


@pytest.mark.parametrize(
    ("x", "y", "k", "match"),
    [
        ([1], [1.0], 2, "2 or more sessions"),
        ([1, 2, 3], [1.0, np.nan, np.nan], 2, "2 or more sessions"),
        ([1, 2, 3], [1.0, 2.0, 3.0], 1, "baseline sessions k = 1"),
        ([1, 2, 3], [1.0, 2.0, 3.0], 4, "baseline sessions k = 4"),
        ([2, 1, 3], [1.0, 2.0, 3.0], 2, "must increase"),
    ],
)
def test_bad_sessions_raise_a_trend_error(x, y, k, match):
    with pytest.raises(TrendError, match=match):
        index_trend(x, y, np.ones(len(y)), k=k)


def test_session_numbers_are_the_integer_labels_or_their_order():
    assert session_numbers(["1", "2", "10"]).tolist() == [1, 2, 10]
    assert session_numbers(["pre", "week2", "week6"]).tolist() == [1, 2, 3]


def test_session_settings_refuse_an_unknown_key():
    with pytest.raises(ValueError, match="agonsit"):
        SessionSettings.from_mapping({"agonsit": "BIClong"})
    s = SessionSettings.from_mapping({"flexors": ["BIClong"], "detector": {"k_sd": 2.0}})
    assert s.flexors == ("BIClong",)
    assert s.detector.k_sd == 2.0
