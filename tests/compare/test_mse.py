"""The SynX stage's objects from the config (nmm.compare.mse): the settings of the ``mse``
group with the NMM's parameter prior, and the NMM's personalised elbow, one row per subject."""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from nmm.compare.mse import synx_physics, synx_settings
from nmm.synergy.fit import fit_synx
from tests.synergy.test_fit import W_TRUE, _commands, _trial


@pytest.fixture(scope="module")
def trials():
    """Two subjects, one trial each, envelopes from exact synergies (torque left at 0)."""
    return [_trial(s, k, 0.0, _commands(200, 2.0, 0.3 * k) @ W_TRUE) for k, s in enumerate("AB")]


def test_settings_are_the_mse_group_with_the_models_prior(synx_cfg):
    s = synx_settings(synx_cfg)
    mse = OmegaConf.to_container(synx_cfg.mse, resolve=True)
    assert (s.n_synergies, s.method, s.steps) == (mse["n_synergies"], mse["method"], mse["steps"])
    assert (s.replicates, s.tol) == (mse["nmf"]["replicates"], mse["nmf"]["tol"])
    # conf/mse/synx.yaml interpolates the NMM's prior (model.loss_allowable_error.parameters)
    prior = OmegaConf.to_container(synx_cfg.model.loss_allowable_error.parameters)
    assert s.allowable["parameters"] == prior


def test_physics_has_one_row_per_subject_at_the_data_rate(synx_cfg, elbow, trials):
    physics = synx_physics(synx_cfg, elbow, trials)
    assert physics.n_subjects == 2
    assert physics.muscle_names == tuple(elbow.muscle_names)
    assert math.isclose(physics.dt, 1.0 / float(synx_cfg.preprocess.resample_hz))


def test_body_masses_centre_the_strength_prior_when_asked(synx_cfg, elbow, trials):
    heavy = [_trial(t.subject, i, 0.0, t.envelopes) for i, t in enumerate(trials)]
    for t, mass in zip(heavy, (70.0, 140.0), strict=True):
        t.metadata["body_mass_kg"] = mass
    cfg = synx_cfg.copy()
    cfg.physics.strength_from_body_mass = {"reference_kg": 70.0, "exponent": 0.5}
    table = synx_physics(cfg, elbow, heavy).parameters_table
    force = [i for i, (name, _) in enumerate(table.columns) if name == "max_isometric_force"]
    centre = table.centre[:, force].double().numpy()
    # (m / 70 kg) ** 0.5: 1 for the reference body, √2 for twice its mass, every muscle
    np.testing.assert_allclose(centre[0], 1.0, rtol=1e-5)
    np.testing.assert_allclose(centre[1], math.sqrt(2.0), rtol=1e-5)


def test_a_short_fit_runs_on_the_built_objects(synx_cfg, elbow, trials):
    cfg = synx_cfg.copy()
    cfg.mse.steps = 2
    cfg.mse.nmf.replicates = 1
    res = fit_synx(synx_settings(cfg), trials, synx_physics(cfg, elbow, trials))
    assert res.subject_ids == ["A", "B"] and res.info["steps"] == 2
