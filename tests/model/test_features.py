"""From trials to model arrays: channel maps, missing channels, normalisation, windows."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data.schema import Cohort, Load, Signal, Subject, Trial
from nmm.jobs.nmm_setup import model_settings, prepared_trials
from nmm.model.features import (
    ChannelMap,
    MissingChannelError,
    input_features,
    prepare_trial,
    uncalibrated_muscles,
    window_starts,
)
from nmm.model.train import feature_spec

MUSCLES = ("BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed")
HIDDEN = ("BRA", "TRImed")
RATE = 100.0


def _kin(n: int) -> Signal:
    t = np.arange(n) / RATE
    q = 1.0 + 0.5 * np.sin(2 * np.pi * t)
    return Signal.uniform(
        np.column_stack([q, np.gradient(q, t), np.gradient(np.gradient(q, t), t)]),
        RATE,
        ["elbow_flexion", "elbow_flexion_speed", "elbow_flexion_acceleration"],
        ["rad", "rad/s", "rad/s^2"],
        kind="kinematics",
    )


def _trial(channels, n=150, muscle_set="elbow", units="1", torque=True) -> Trial:
    env = Signal.uniform(np.full((n, len(channels)), 0.2), RATE, channels, units, kind="envelope")
    tq = Signal.uniform(np.zeros((n, 1)), RATE, ["elbow_flexion_moment"], "N·m", kind="torque")
    return Trial(
        subject="P01",
        trial_id="t1",
        muscle_set=muscle_set,
        envelope=env,
        kinematics=_kin(n),
        torque=tq if torque else None,
        load=Load(2.0, 0.3),
    )


CMAP = ChannelMap.from_config(
    MUSCLES, HIDDEN, {"biceps": ["BIClong", "BICshort"], "triceps": ["TRIlong", "TRIlat"]}
)


def test_a_trial_missing_an_input_muscle_is_a_clear_error():
    trial = _trial(["BIClong", "BICshort", "TRIlong"])
    with pytest.raises(
        MissingChannelError,
        match=r"TRIlat.*channels \['BIClong', 'BICshort', "
        r"'TRIlong'\].*channel_map",
    ):
        prepare_trial(trial, CMAP, RATE)


def test_a_missing_channel_fails_the_cohort_preparation(tiny_cfg, elbow):
    cohort = Cohort([Subject("P01")], [_trial(["BIClong", "TRIlong", "TRIlat"])])
    with pytest.raises(MissingChannelError, match="BICshort"):
        prepared_trials(tiny_cfg, cohort, elbow)


def test_surface_channels_map_onto_the_model_muscles():
    trial = _trial(["biceps", "triceps"], muscle_set="upper_limb_surface")
    p = prepare_trial(trial, CMAP, RATE)
    assert p.measured.tolist() == [True, True, False, True, True, False]
    assert np.allclose(p.envelopes[:, 0], 0.2) and np.allclose(p.envelopes[:, 2], 0.0)
    assert p.metadata["channel_map"]["BIClong"] == ["biceps"]


def test_envelopes_without_mvic_are_divided_by_their_peak():
    trial = _trial(["BIClong", "BICshort", "TRIlong", "TRIlat"], units="mV")
    p = prepare_trial(trial, CMAP, RATE)
    assert p.metadata["envelope_normalisation"] == "peak"
    assert np.allclose(p.envelopes[:, p.measured].max(axis=0), 1.0)


def test_no_torque_uses_the_given_inverse_dynamics():
    trial = _trial(["BIClong", "BICshort", "TRIlong", "TRIlat"], torque=False)
    with pytest.raises(MissingChannelError, match="torque"):
        prepare_trial(trial, CMAP, RATE)
    p = prepare_trial(trial, CMAP, RATE, inverse_dynamics=lambda q, qd, qdd, m, lever: 3.0 + 0 * q)
    assert p.torque_source == "inverse_dynamics" and np.allclose(p.torque, 3.0)


def test_features_follow_the_spec(tiny_cfg):
    spec = feature_spec(model_settings(tiny_cfg))
    p = prepare_trial(_trial(["BIClong", "BICshort", "TRIlong", "TRIlat"]), CMAP, RATE)
    x = input_features(p, spec, MUSCLES)
    assert x.shape == (p.n_samples, spec.n_features) and spec.n_features == 8
    assert spec.names[-4:] == [
        "envelope_BIClong",
        "envelope_BICshort",
        "envelope_TRIlong",
        "envelope_TRIlat",
    ]
    assert np.allclose(x[:, 3], 2.0 * tiny_cfg.model.input_scales.load)


@pytest.mark.parametrize(("n", "window", "stride"), [(100, 30, 10), (95, 30, 20), (20, 30, 10)])
def test_windows_cover_every_sample(n, window, stride):
    starts = window_starts(n, window, stride)
    covered = np.zeros(n, bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all() and starts[0] == 0


def test_a_subject_without_mvic_is_normalised_by_its_peak_over_all_its_trials(tiny_cfg, elbow):
    """The peak dynamic method: with no MVIC reference, one reference per channel (the subject's
    peak over its trials) for every trial, so the envelopes keep their relation across loads:
    they equal the MVIC-normalised ones times MVIC / peak, the same factor in every trial."""
    import dataclasses

    from nmm.data.schema import Cohort
    from nmm.jobs.nmm_setup import load_cohort

    cohort, _ = load_cohort(tiny_cfg)
    s01 = cohort.subjects["S01"]
    moves = [t for t in cohort if t.subject == "S01" and t.condition == "baseline"]
    with_mvic = prepared_trials(tiny_cfg, Cohort([s01], moves), elbow)
    bare = Cohort([dataclasses.replace(s01, mvic={})], moves)
    peak = prepared_trials(tiny_cfg, bare, elbow)
    assert {p.metadata["envelope_normalisation"] for p in peak} == {"subject_peak"}
    measured = with_mvic[0].measured
    ratios = [
        q.envelopes[:, measured] / p.envelopes[:, measured]
        for p, q in zip(peak, with_mvic, strict=True)
    ]
    factor = np.nanmedian(ratios[0], axis=0)
    for r in ratios:  # one factor per channel, the same in every trial
        np.testing.assert_allclose(np.nanmedian(r, axis=0), factor, rtol=1e-6)
    top = np.max([p.envelopes[:, measured].max(axis=0) for p in peak], axis=0)
    np.testing.assert_allclose(top, 1.0, atol=0.02)  # resampling moves the peak a little
    assert min(p.envelopes[:, measured].max() for p in peak) < 0.9  # not each trial's own peak
    # the gains of those muscles are uncalibrated (their prior: physics.uncalibrated_gain_prior)
    both = peak + [dataclasses.replace(q, subject="S02") for q in with_mvic]
    masks = uncalibrated_muscles(both, ["S01", "S02"])
    np.testing.assert_array_equal(masks[0], measured)
    assert masks[1] is None
