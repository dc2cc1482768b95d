"""Segmentation on trials whose contractions are known by construction."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from nmm.data import DataValidationError, Signal, Trial
from painsig.segment import EmgOnsetSegmenter, KinematicSegmenter, segment_trials

RATE = 1000.0
ONSETS = (1.0, 3.0, 5.0)  # s: EMG onset of each flexion
EMD = 0.05  # s: movement starts this long after EMG onset
MOVE = 0.6  # s: duration of each minimum-jerk flexion
AMPLITUDE = 1.2  # rad


def min_jerk(tau):
    """Position of a minimum-jerk profile, tau in [0, 1] (Flash & Hogan 1985)."""
    tau = np.clip(tau, 0, 1)
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def make_trial(onsets=ONSETS, seconds=7.0, condition="pain"):
    t = np.arange(int(seconds * RATE)) / RATE
    angle = np.zeros_like(t) + 0.3
    env = np.full_like(t, 0.02)
    for k, t0 in enumerate(onsets):
        direction = 1 if k % 2 == 0 else -1
        start = t0 + EMD
        angle += direction * AMPLITUDE * min_jerk((t - start) / MOVE)
        env += 0.5 * ((t >= t0) & (t < start + MOVE))
    w = 2 * np.pi * t
    env += 0.002 * np.sin(37 * w)  # a little texture, well below the threshold
    # analytic velocity and acceleration of the same profile
    speed = np.gradient(angle, t)
    acc = np.gradient(speed, t)
    kin = Signal.uniform(
        np.column_stack([angle, speed, acc]),
        RATE,
        ["elbow_flexion", "elbow_flexion_speed", "elbow_flexion_acceleration"],
        ["rad", "rad/s", "rad/s^2"],
        kind="kinematics",
    )
    envelope = Signal.uniform(
        np.column_stack([env, 0.5 * env]), RATE, ["BIClong", "TRIlong"], "1", kind="envelope"
    )
    return Trial("S01", "t1", envelope=envelope, kinematics=kin, condition=condition)


def test_kinematic_segmenter_finds_each_flexion():
    epochs = KinematicSegmenter(direction=1, velocity_fraction=0.2, min_duration_s=0.1)(
        make_trial()
    )
    assert len(epochs) == 2  # onsets 1 and 5 s are flexions, 3 s is an extension
    for ep, t0 in zip(epochs, (1.0, 5.0), strict=True):
        mid = t0 + EMD + MOVE / 2
        assert ep.start_s < mid < ep.stop_s
        assert ep.start_s > t0 + EMD and ep.stop_s < t0 + EMD + MOVE
        assert ep.channels == ("BIClong", "TRIlong")
        assert ep.values.shape == (round((ep.stop_s - ep.start_s) * RATE) + 1, 2)
        assert (ep.subject, ep.trial_id, ep.condition) == ("S01", "t1", "pain")


def test_emg_onset_segmenter_starts_at_onset_and_ends_at_acceleration_offset():
    seg = EmgOnsetSegmenter(agonist="BIClong", k_sd=3.0, baseline_s=0.5, min_duration_s=0.1)
    epochs = seg(make_trial())
    assert len(epochs) == 3
    for ep, t0 in zip(epochs, ONSETS, strict=True):
        assert ep.start_s == pytest.approx(t0, abs=1.5 / RATE)
        # the acceleration phase of a minimum-jerk profile ends at mid-movement (peak velocity);
        # |acc| drops below 10 % of its peak shortly before it
        assert t0 + EMD + 0.4 * MOVE < ep.stop_s <= t0 + EMD + 0.5 * MOVE


def test_short_epochs_are_rejected_with_a_logged_reason(caplog):
    with caplog.at_level(logging.DEBUG, logger="painsig.segment"):
        epochs = KinematicSegmenter(min_duration_s=1.0)(make_trial())
    assert epochs == []
    assert "rejected" in caplog.text and "min_duration_s" in caplog.text


def test_segmentation_needs_derivatives():
    trial = make_trial()
    bare = trial.replace(kinematics=trial.kinematics.select(["elbow_flexion"]))
    with pytest.raises(DataValidationError, match="differentiate"):
        KinematicSegmenter()(bare)
    with pytest.raises(DataValidationError, match="agonist not in the envelope"):
        EmgOnsetSegmenter(agonist="BRA")(trial)


def test_segment_trials_concatenates_in_order():
    a, b = make_trial(condition="baseline"), make_trial(condition="pain")
    epochs = segment_trials([a, b], KinematicSegmenter(min_duration_s=0.1))
    assert [e.condition for e in epochs] == ["baseline"] * 2 + ["pain"] * 2
