"""MVIC holds in the windows the NMM trains on (nmm.model.datamodule.mvic_hold)."""

from __future__ import annotations

import dataclasses

import numpy as np

from nmm.model.datamodule import WindowDataset, mvic_hold
from nmm.model.features import MVIC_HOLD_FRACTION, MVIC_KIND


def _as_mvic(trial, torque):
    return dataclasses.replace(trial, torque=torque, metadata={**trial.metadata, "kind": MVIC_KIND})


def test_the_hold_is_where_the_moment_is_near_its_peak(toy_trials):
    trial = toy_trials[0]
    n = trial.n_samples
    ramp = np.interp(np.arange(n), [0, n // 4, 3 * n // 4, n - 1], [0.0, 40.0, 40.0, 0.0])
    hold = mvic_hold(_as_mvic(trial, ramp))
    assert hold.dtype == bool and hold.shape == (n,)
    np.testing.assert_array_equal(hold, ramp >= MVIC_HOLD_FRACTION * 40.0)
    # an extension MVIC (negative moment) holds where |τ| is near its peak
    np.testing.assert_array_equal(mvic_hold(_as_mvic(trial, -ramp)), hold)
    assert not mvic_hold(trial).any()  # a movement trial has no hold


def test_windows_carry_the_hold(toy_trials, tiny_cfg):
    from nmm.jobs.nmm_setup import model_settings
    from nmm.model.train import feature_spec

    trial = toy_trials[0]
    n = trial.n_samples
    mvic = _as_mvic(trial, np.linspace(-1.0, 50.0, n))
    ds = WindowDataset(
        [trial, mvic],
        feature_spec(model_settings(tiny_cfg)),
        list(tiny_cfg.physics.muscles),
        {trial.subject: 0},
        window=n,
        stride=n,
    )
    assert not ds[0]["mvic_hold"].any()
    np.testing.assert_array_equal(ds[1]["mvic_hold"].numpy(), mvic_hold(mvic))
