"""The indices of one session (painsig.session) on contractions of known content: the mean's
t interval, co-contraction of identical and disjoint groups with and without the reconstructed
muscles, MVIC amplitude, the sign of the fatigue slopes and their heaviest-load form,
leave-one-subject-out scoring, and the pain probability pooled on the log-odds scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import signal, stats

from nmm.data.schema import Signal
from painsig.session import (
    LOGIT_EPSILON,
    SessionContractions,
    SessionSettings,
    loso_pain_probability,
    session_indices,
)
from painsig.settings import PainsigSettings

FS_EMG = 2000.0
FS_ENV = 100.0
SETTINGS = SessionSettings(timing_muscles=())


def _envelope(columns: dict[str, np.ndarray]) -> Signal:
    n = len(next(iter(columns.values())))
    return Signal(
        np.arange(n) / FS_ENV,
        np.column_stack(list(columns.values())),
        tuple(columns),
        ("1",) * len(columns),
        FS_ENV,
        "envelope",
    )


def _emg(k: int, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """K contractions of noise low-passed at a cutoff falling 200 -> 80 Hz (a spectrum that
    compresses, as with fatigue)."""
    out = []
    for cutoff in np.linspace(200.0, 80.0, k):
        b, a = signal.butter(4, cutoff, fs=FS_EMG)
        out.append(signal.lfilter(b, a, rng.normal(size=n)))
    return out


def _session(envelopes, probability, rng) -> SessionContractions:
    return SessionContractions(
        "S01", "1", _emg(len(envelopes), 2000, rng), FS_EMG, envelopes, probability, {}
    )


def _by_name(indices):
    return {i.name: i for i in indices}


def test_the_pain_index_is_the_mean_with_students_t_interval():
    rng = np.random.default_rng(1)
    p = rng.uniform(0.2, 0.9, 8)
    flat = np.full(50, 0.3)
    env = [_envelope({m: flat for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})] * 8
    pain = _by_name(session_indices(_session(env, p, rng), SETTINGS))["pain_probability"]
    low, high = stats.t.interval(0.95, 7, loc=p.mean(), scale=stats.sem(p))
    assert pain.estimate == pytest.approx(p.mean())
    assert (pain.low, pain.high) == pytest.approx((low, high))
    np.testing.assert_array_equal(pain.values, p)


def test_cocontraction_of_identical_groups_is_100_and_the_deep_muscles_join_when_present():
    rng = np.random.default_rng(2)
    up = np.linspace(0.0, 1.0, 50)
    measured = {"BIClong": up, "BICshort": up, "TRIlong": up, "TRIlat": up}
    env = [_envelope(measured)] * 4
    indices = _by_name(session_indices(_session(env, np.full(4, 0.5), rng), SETTINGS))
    assert indices["cocontraction_measured"].estimate == pytest.approx(100.0)
    assert "cocontraction_with_reconstructed" not in indices
    # the deep flexor active alone: flexors (up, up, up), extensors (up, up, 0) -> mean 2/3 up
    deep = [_envelope({**measured, "BRA": up, "TRImed": np.zeros(50)})] * 4
    with_deep = _by_name(session_indices(_session(deep, np.full(4, 0.5), rng), SETTINGS))
    # Falconer & Winter: 2 * sum(min) / sum(a + b) = 2 * (2/3) / (1 + 2/3) * 100 = 80 %
    assert with_deep["cocontraction_with_reconstructed"].estimate == pytest.approx(80.0)
    assert with_deep["cocontraction_measured"].estimate == pytest.approx(100.0)


def test_amplitude_is_the_mean_envelope_over_mvic():
    rng = np.random.default_rng(3)
    levels = [0.1, 0.2, 0.3, 0.4]
    env = [
        _envelope({m: np.full(40, v) for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})
        for v in levels
    ]
    amp = _by_name(session_indices(_session(env, np.full(4, 0.5), rng), SETTINGS))
    np.testing.assert_allclose(amp["amplitude_BIClong"].values, levels)


def test_a_compressing_spectrum_gives_falling_mdf_and_rising_finsm5():
    rng = np.random.default_rng(4)
    flat = np.full(50, 0.3)
    env = [_envelope({m: flat for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})] * 10
    fatigue = _by_name(session_indices(_session(env, np.full(10, 0.5), rng), SETTINGS))
    assert fatigue["mdf_slope"].high < 0
    assert fatigue["mnf_slope"].high < 0
    assert fatigue["finsm5_slope"].low > 0


def test_each_subject_is_scored_by_a_model_that_never_saw_them():
    # the others: pain has a high feature; S03 alone the reverse. Trained on S03 the model
    # would score its pain contractions high; trained without it, low.
    rows = []
    for subject in ("S01", "S02", "S03"):
        for k in range(20):
            pain = k % 2 == 1
            others = (1.0 if pain else 0.0) + 0.01 * k
            # S03: far outside the others' range, on the reversed side
            x = (-1.0 if pain else 2.0) if subject == "S03" else others
            rows.append(
                {"subject": subject, "condition": "pain" if pain else "baseline", "x_rms": x}
            )
    table = pd.DataFrame(rows)
    settings = PainsigSettings(classifier={"n_estimators": 20, "n_jobs": 1})
    p = loso_pain_probability(table, settings)
    s03 = table["subject"] == "S03"
    pain = table["condition"] == "pain"
    assert p[s03 & pain].max() < 0.5 < p[s03 & ~pain].min()
    assert p[~s03 & pain].min() > 0.5 > p[~s03 & ~pain].max()


def test_log_odds_pooling_is_the_expit_of_the_mean_logit_with_its_t_interval():
    rng = np.random.default_rng(5)
    p = np.array([0.999, 0.9, 0.6, 0.2, 0.95, 0.7])
    flat = np.full(50, 0.3)
    env = [_envelope({m: flat for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})] * 6
    pooled = SessionSettings(timing_muscles=(), pain_pooling="log_odds")
    pain = _by_name(session_indices(_session(env, p, rng), pooled))["pain_probability"]
    z = np.log(p / (1.0 - p))
    low, high = stats.t.interval(0.95, 5, loc=z.mean(), scale=stats.sem(z))
    mean = 1.0 / (1.0 + np.exp(-z.mean()))
    assert pain.estimate == pytest.approx(mean)
    assert (pain.low, pain.high) == pytest.approx((1 / (1 + np.exp(-low)), 1 / (1 + np.exp(-high))))
    assert pain.stderr == pytest.approx(mean * (1 - mean) * stats.sem(z))
    np.testing.assert_array_equal(pain.values, p)


def test_a_saturated_probability_has_a_finite_log_odds_and_an_unknown_pooling_is_refused():
    rng = np.random.default_rng(6)
    flat = np.full(50, 0.3)
    env = [_envelope({m: flat for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})] * 3
    pooled = SessionSettings.from_mapping({"timing_muscles": [], "pain_pooling": "log_odds"})
    p = np.array([1.0, 1.0, 0.0])
    pain = _by_name(session_indices(_session(env, p, rng), pooled))["pain_probability"]
    # logits clipped at +-log((1 - eps) / eps): two at +L, one at -L, mean L / 3
    bound = np.log((1 - LOGIT_EPSILON) / LOGIT_EPSILON)
    assert pain.estimate == pytest.approx(1 / (1 + np.exp(-bound / 3)))
    with pytest.raises(ValueError, match="pain_pooling 'median'"):
        SessionSettings(pain_pooling="median")


def test_the_heaviest_loads_contractions_alone_give_the_fatigue_slopes():
    # four light contractions with a low spectrum (cutoff 40 Hz) first, then eight heavy ones
    # whose spectrum compresses (200 -> 120 Hz): over all twelve the load's step reads as a
    # rising MDF; over the heavy ones, at their places in the session, it falls
    rng = np.random.default_rng(7)
    emg = []
    for cutoff in [40.0] * 4 + list(np.linspace(200.0, 120.0, 8)):
        b, a = signal.butter(4, cutoff, fs=FS_EMG)
        emg.append(signal.lfilter(b, a, rng.normal(size=2000)))
    flat = np.full(50, 0.3)
    env = [_envelope({m: flat for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")})] * 12
    loads = np.array([0.0] * 4 + [2.0] * 8)
    c = SessionContractions("S01", "1", emg, FS_EMG, env, np.full(12, 0.5), {}, loads)
    every = _by_name(session_indices(c, SETTINGS))["mdf_slope"]
    heavy_settings = SessionSettings(timing_muscles=(), fatigue_contractions="heaviest_load")
    heavy = _by_name(session_indices(c, heavy_settings))
    assert every.estimate > 0
    assert heavy["mdf_slope"].high < 0 and heavy["mnf_slope"].high < 0
    assert np.isnan(heavy["mdf_slope"].values[:4]).all()
    np.testing.assert_array_equal(heavy["mdf_slope"].values[4:], every.values[4:])
    # the slope is per contraction of the session: the heavy ones at places 4 .. 11
    expected = stats.linregress(np.arange(4, 12), every.values[4:]).slope
    assert heavy["mdf_slope"].estimate == pytest.approx(expected)
    # without loads (None) or with one load, every contraction counts
    unknown = SessionContractions("S01", "1", emg, FS_EMG, env, np.full(12, 0.5), {})
    assert _by_name(session_indices(unknown, heavy_settings))["mdf_slope"].estimate == (
        pytest.approx(every.estimate)
    )
    with pytest.raises(ValueError, match="fatigue_contractions 'last'"):
        SessionSettings(fatigue_contractions="last")
