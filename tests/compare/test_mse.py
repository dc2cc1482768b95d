"""The SynX stage's objects from the config (nmm.compare.mse): the settings of the ``mse``
group with the NMM's parameter prior, and the NMM's personalised elbow, one row per subject."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nmm.compare.mse import synx_physics, synx_settings
from nmm.jobs.nmm_setup import build_elbows
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


def test_synx_fits_each_subject_on_its_own_model(synx_cfg, trials, arm26_osim, tmp_path):
    """SynX shares the NMM's per-subject elbows: subject B's own scaled model gives its row's
    nominal values and the geometry of its reconstructed torque."""
    pytest.importorskip("opensim", reason="OpenSim 4.6 (pip 'opensim') is not installed")
    from tests.opensim.scaled_models import scaled_arm26

    own = scaled_arm26(arm26_osim, tmp_path / "B.osim", 1.15, f0_factor=1.2)
    elbows = build_elbows(synx_cfg, {"A": None, "B": str(own)})
    cfg = synx_cfg.copy()
    cfg.mse.steps = 2
    cfg.mse.nmf.replicates = 1
    res = fit_synx(synx_settings(cfg), trials, synx_physics(cfg, elbows, trials))
    sha = {s: res.physics.elbows[s].geometry.source["sha256"] for s in "AB"}
    assert sha == {s: elbows[s].geometry.source["sha256"] for s in "AB"} and sha["A"] != sha["B"]
    table = res.physics.parameters_table
    with torch.no_grad():
        factors = table.values()["max_isometric_force"]
        f0 = table.muscle_parameters().max_isometric_force
    nominal_b = torch.as_tensor(elbows["B"].muscle_parameters.max_isometric_force).to(f0)
    torch.testing.assert_close(f0[1], factors[1] * nominal_b)
    rec = next(r for r in res.reconstructions if r.trial.subject == "B")
    th = torch.as_tensor(rec.trial.angle, dtype=f0.dtype)[None]
    thd = torch.as_tensor(rec.trial.velocity, dtype=f0.dtype)[None]
    act = torch.as_tensor(rec.activation, dtype=f0.dtype)[None]
    with torch.no_grad():
        mp = table.muscle_parameters([1], time_axis=True)
        mine = elbows["B"].muscle_torque(th, thd, act, mp).torque[0].double().numpy()
        other = elbows.default.muscle_torque(th, thd, act, mp).torque[0].double().numpy()
    np.testing.assert_allclose(rec.torque, mine, rtol=1e-4, atol=1e-4)
    assert not np.allclose(rec.torque, other, rtol=1e-3, atol=1e-3)
