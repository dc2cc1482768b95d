"""fit_synx: a case with a known answer, bounded excitations, scoring, options and bad input.

The known answer (issue 6): measured envelopes generated exactly from k = 2 synergies, unmeasured
muscles that are known combinations of them, and a torque target produced by the same torch
physics from the true envelopes, so the optimum of the fit is the truth.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nmm.jobs.nmm_setup import model_settings
from nmm.metrics import pearson_r, rmse
from nmm.model.evaluate import cell_scores
from nmm.model.features import PreparedTrial
from nmm.model.physics import PersonalisedElbow
from nmm.synergy.commands import group_trials
from nmm.synergy.factorise import FactorisationError
from nmm.synergy.fit import fit_synx
from nmm.synergy.settings import SynXSettings
from tests.synergy.conftest import synx_options

RATE = 100.0
MEASURED = np.array([True, True, False, True, True, False])  # BRA, TRImed hidden
# synergy weights over [BIClong, BICshort, BRA, TRIlong, TRIlat, TRImed]: a flexor and an
# extensor synergy; BRA = 0.9 x flexor, TRImed = 0.8 x extensor
W_TRUE = np.array([[0.8, 0.6, 0.9, 0.05, 0.05, 0.0], [0.05, 0.05, 0.0, 0.7, 0.9, 0.8]])


def _commands(n: int, period: float, phase: float) -> np.ndarray:
    w = 2 * math.pi / period
    s = np.sin(w * np.arange(n) / RATE + phase)
    return 0.6 * np.column_stack([np.clip(s, 0, None) ** 2, np.clip(-s, 0, None) ** 2])


def _trial(subject: str, k: int, load: float, envelopes: np.ndarray, torque=None) -> PreparedTrial:
    n = envelopes.shape[0]
    t = np.arange(n) / RATE
    w = 2 * math.pi / 2.0
    angle = math.radians(20) + math.radians(45) * (1 - np.cos(w * t))
    velocity = math.radians(45) * w * np.sin(w * t)
    return PreparedTrial(
        subject=subject,
        trial_id=f"t{k}",
        session="1",
        condition="baseline",
        time=t,
        angle=angle,
        velocity=velocity,
        acceleration=math.radians(45) * w**2 * np.cos(w * t),
        torque=np.zeros(n) if torque is None else torque,
        torque_source="recorded",
        envelopes=np.where(MEASURED, envelopes, 0.0),
        measured=MEASURED.copy(),
        load_kg=load,
        lever_arm_m=0.3,
        rate=RATE,
        metadata={"kind": "movement"},
    )


def _torque(physics, row: int, trial: PreparedTrial, envelopes: np.ndarray) -> np.ndarray:
    import torch

    ref = physics.parameters_table.raw
    with torch.no_grad():
        out = physics(
            torch.as_tensor(envelopes, dtype=ref.dtype)[None],
            [row],
            torch.as_tensor(trial.angle, dtype=ref.dtype)[None],
            torch.as_tensor(trial.velocity, dtype=ref.dtype)[None],
        )
    return out.torque[0].double().numpy()


@pytest.fixture(scope="module")
def known(synx_cfg, elbow):
    """Two trials of one subject from exact synergies, torque from the torch physics."""
    physics = PersonalisedElbow.from_settings(model_settings(synx_cfg), elbow, ["K01"])
    trials, truths = [], []
    for k, (period, phase, load) in enumerate([(2.0, 0.3, 0.0), (1.6, 1.1, 2.0)]):
        truth = _commands(300, period, phase) @ W_TRUE
        tr = _trial("K01", k, load, truth)
        tr.torque = _torque(physics, 0, tr, truth)
        trials.append(tr)
        truths.append(truth)
    return physics, trials, truths


FAST = {"steps": 100, "nmf": {"replicates": 5, "max_iter": 2000, "tol": 1e-8}}


def test_known_synergies_and_hidden_combinations_are_recovered(known, settings):
    physics, trials, truths = known
    # pure SynX with weights per subject (the truth's); the activation penalty is made weak so
    # the optimum is the truth itself (0.5 would pull the hidden activations down by a few %)
    pure = FAST | {
        "weight_scope": "subject",
        "residual_scope": "subject",
        "activation_groups": [],
        "allowable_error": {"extrapolated_activation": 10.0},
    }
    res = fit_synx(settings(pure), trials, physics)
    assert res.info["vaf"]["K01"] > 0.9999  # the measured data are exactly rank 2
    hidden = [2, 5]
    for rec, truth in zip(res.reconstructions, truths, strict=True):
        for j in hidden:
            err = rmse(rec.envelopes[:, j], truth[:, j])
            assert err < 0.02 * truth[:, j].max(), (rec.muscles[j], err)
            assert pearson_r(rec.envelopes[:, j], truth[:, j]) > 0.999
        # measured muscles keep their EMG (residuals cost 0.01 per unit of activation)
        np.testing.assert_allclose(rec.envelopes[:, MEASURED], truth[:, MEASURED], atol=5e-3)
        assert rmse(rec.torque, rec.trial.torque) < 0.05
    cost = res.info["terms_last"]
    assert cost["moment"] < 1e-3 and res.info["loss_history"][-1] < res.info["loss_history"][0]
    # the given physics is not changed; the fitted copy is returned
    assert res.physics is not physics


def test_excitations_stay_in_unit_range(known, settings):
    physics, trials, _ = known
    # a target three times what the muscles gave: unbounded weights would exceed 1
    strong = [
        _trial(t.subject, i, t.load_kg, t.envelopes, 3.0 * t.torque) for i, t in enumerate(trials)
    ]
    for method in ("nmf", "pca"):
        options = {"steps": 60, "method": method, "nmf": {"replicates": 3}}
        res = fit_synx(settings(options), strong, physics)
        for rec in res.reconstructions:
            assert rec.envelopes.min() >= 0.0 and rec.envelopes.max() <= 1.0
            assert rec.excitation.min() >= 0.0 and rec.excitation.max() <= 1.0 + 1e-6
        assert max(r.envelopes[:, 2].max() for r in res.reconstructions) > 0.9  # bound reached


def test_reconstructions_are_scored_like_the_nmm(known, settings):
    physics, trials, truths = known
    res = fit_synx(settings({"steps": 5, "nmf": {"replicates": 2}}), trials, physics)
    rows = cell_scores(res.reconstructions, truths, ["BRA", "TRImed"])
    assert {r["muscle"] for r in rows} == {"BRA", "TRImed"}
    assert all(np.isfinite(r["rmse"]) and np.isfinite(r["torque_r2"]) for r in rows)
    assert len(res.reconstructions) == len(trials)
    assert [r.trial.n_samples for r in res.reconstructions] == [t.n_samples for t in trials]


def test_settings_take_every_option_of_the_config_and_no_other():
    full = synx_options()
    s = SynXSettings.from_mapping(full)
    assert (s.n_synergies, s.replicates, s.weight_scope) == (
        full["n_synergies"],
        full["nmf"]["replicates"],
        full["weight_scope"],
    )
    assert s.allowable == full["allowable_error"]
    with pytest.raises(ValueError, match=r"mse: missing option\(s\) \['steps'\]"):
        SynXSettings.from_mapping({k: v for k, v in full.items() if k != "steps"})
    with pytest.raises(ValueError, match=r"mse.nmf: unknown option\(s\) \['restarts'\]"):
        SynXSettings.from_mapping(full | {"nmf": full["nmf"] | {"restarts": 3}})
    with pytest.raises(ValueError, match=r"mse.allowable_error: missing option\(s\) \['bounds'\]"):
        allowable = {k: v for k, v in full["allowable_error"].items() if k != "bounds"}
        SynXSettings.from_mapping(full | {"allowable_error": allowable})
    with pytest.raises(ValueError, match="steps must be >= 0"):
        SynXSettings(**{**s.__dict__, "steps": -1})  # checked on construction too


def test_groups_of_trials():
    env = np.zeros((10, 6))
    trials = [
        _trial("A", 0, 0.0, env),
        _trial("A", 1, 0.0, env),
        _trial("A", 2, 2.0, env),
        _trial("B", 0, 0.0, env),
    ]
    assert group_trials(trials, "trial")[0] == [0, 1, 2, 3]
    assert group_trials(trials, "task")[0] == [0, 0, 1, 2]
    assert group_trials(trials, "subject")[0] == [0, 0, 0, 1]


def test_bad_input_is_a_clear_error(known, settings):
    physics, trials, _ = known
    with pytest.raises(FactorisationError, match="5 synergies asked for 4 measured"):
        fit_synx(settings({"n_synergies": 5}), trials, physics)
    none = [_trial("K01", 0, 0.0, trials[0].envelopes)]
    none[0].measured = np.zeros(6, dtype=bool)
    with pytest.raises(ValueError, match="no measured channel"):
        fit_synx(settings(), none, physics)
    bad = [_trial("K01", 0, 0.0, trials[0].envelopes.copy(), trials[0].torque)]
    bad[0].envelopes[5, 0] = np.nan
    with pytest.raises(ValueError, match=r"trial K01/t0: envelopes has non-finite"):
        fit_synx(settings(), bad, physics)
    with pytest.raises(ValueError, match="method must be 'nmf' or 'pca'"):
        settings({"method": "ica"})
    with pytest.raises(ValueError, match="weight_scope must be one of"):
        settings({"weight_scope": "session"})
    with pytest.raises(ValueError, match="unknown option"):
        settings({"n_synergy": 2})
    with pytest.raises(ValueError, match=r"activation_groups: unknown muscle\(s\) \['BRD'\]"):
        fit_synx(settings({"activation_groups": [["BRA", "BRD"]]}), trials, physics)
    two = [*trials, _trial("K02", 9, 0.0, trials[0].envelopes, trials[0].torque)]
    with pytest.raises(ValueError, match="1 parameter rows for 2 subjects"):
        fit_synx(settings(), two, physics)


def test_hidden_muscles_are_scored_on_the_chosen_signal(known, settings):
    """cell_scores scores the hidden muscles' excitation (gain × ê) or their envelope ê: with
    the truth set to one of them, that one scores RMSE 0 and the other does not."""
    physics, trials, _ = known
    res = fit_synx(settings({"steps": 5, "nmf": {"replicates": 2}}), trials, physics)
    recs = res.reconstructions
    hidden = ["BRA", "TRImed"]
    assert not np.allclose(recs[0].excitation[:, 2], recs[0].envelopes[:, 2])
    for signal in ("excitation", "envelopes"):
        truths = [getattr(r, signal) for r in recs]
        own = cell_scores(recs, truths, hidden, signal=signal)
        other = cell_scores(
            recs, truths, hidden, signal=({"excitation", "envelopes"} - {signal}).pop()
        )
        assert all(r["rmse"] == pytest.approx(0.0, abs=1e-12) for r in own)
        assert all(r["rmse"] > 1e-4 for r in other if r["muscle"] == "BRA")
    with pytest.raises(ValueError, match="unknown hidden signal"):
        cell_scores(recs, truths, hidden, signal="activation")
