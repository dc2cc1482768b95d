"""bench_allowable's statistics against closed forms and the loss's own terms, and one run on a
toy cohort whose truth is known (seconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from benchmarks.bench_allowable import (
    main,
    second_difference,
    synergy_log_ratio,
    windowed_torque_term,
)
from nmm.model.loss import PhysicsInformedLoss
from tests.model.conftest import compose_train

RATE = 100.0


def test_second_difference_of_a_sinusoid_is_its_closed_form():
    # x_{t+1} + x_{t-1} = 2 cos(w) x_t for x = A sin(w t): the second difference is
    # -2 (1 - cos w) x_t, w = 2 pi f / rate; a 1 Hz swing of 0.5 at 100 Hz peaks at 0.00197
    # (conf/model/pinn.yaml's "a 1 Hz swing of 0.5 has 0.002"), a 6 Hz one at 0.0702.
    for f, peak in ((1.0, 0.00197), (6.0, 0.0702)):
        t = np.arange(400) / RATE
        x = 0.5 * np.sin(2 * math.pi * f * t)
        w = 2 * math.pi * f / RATE
        d2 = second_difference(x)
        np.testing.assert_allclose(d2, -2 * (1 - math.cos(w)) * x[1:-1], rtol=0, atol=1e-13)
        assert np.abs(d2).max() == pytest.approx(peak, rel=2e-3)


def test_a_constant_ratio_has_its_log_ratio_and_no_shape_change():
    s = np.full(50, 0.2)
    u = np.column_stack([s * 0.9, s * 1.1, s * 1.5])  # synergists' mean 0.2, hidden 1.5 x 0.2
    d = synergy_log_ratio(u, 2, [0, 1], 0.05)
    np.testing.assert_allclose(d, math.log((0.3 + 0.05) / (0.2 + 0.05)), rtol=1e-12)
    assert np.all(np.diff(d) == 0.0)
    np.testing.assert_allclose(synergy_log_ratio(u, 2, [0, 1], None), 0.1, rtol=1e-12)


def test_the_log_ratio_is_the_losss_synergy_deviation():
    # The loss with a quadratic penalty and allowable errors of 1 gives mean(d²) and
    # mean((Δd)²) over its hidden muscles: the same d as the benchmark's.
    g = np.random.default_rng(0)
    u = g.uniform(0.0, 0.6, (1, 80, 4))
    loss = PhysicsInformedLoss(
        {"emg": 1.0, "torque_nm": 1.0, "synergy": 1.0, "synergy_shape": 1.0},
        hidden=[3],
        synergists={3: [0, 1]},
        synergy_log_floor=0.05,
        synergy_space="excitation",
    )
    x = torch.tensor(u)
    terms = loss(
        x,
        x,
        torch.ones(1, 4, dtype=torch.bool),
        torch.ones(1, 80, dtype=torch.bool),
        torch.zeros(1, 80),
        torch.zeros(1, 80),
        excitation=x,
    )
    d = synergy_log_ratio(u[0], 3, [0, 1], 0.05)
    assert float(terms["synergy"]) == pytest.approx(np.mean(d**2), rel=1e-12)
    assert float(terms["synergy_shape"]) == pytest.approx(np.mean(np.diff(d) ** 2), rel=1e-12)


def test_the_windowed_torque_term_divides_by_each_windows_allowable_error():
    # constant error 0.3 N·m and moment 5 N·m: sigma = 0.2 + 0.04 x 5 = 0.4 in every window
    n, window, stride = 250, 100, 25
    total, count = windowed_torque_term(
        np.full(n, 0.3), np.full(n, -5.0), window, stride, 0.2, 0.04
    )
    assert count == window * 7  # starts 0, 25, ..., 150 (flush with the end)
    assert total / count == pytest.approx((0.3 / 0.4) ** 2, rel=1e-12)
    # a burn-in leaves out each window's first samples; sigma still from the whole window
    ramp = np.linspace(-1.0, 1.0, n)
    total, count = windowed_torque_term(ramp, np.full(n, -5.0), window, stride, 0.2, 0.04, 10)
    starts = range(0, n - window + 1, stride)
    assert count == 90 * 7
    expected = sum(np.sum(ramp[s + 10 : s + window] ** 2) for s in starts) / 0.4**2
    assert total == pytest.approx(expected, rel=1e-12)


@pytest.fixture(scope="module")
def toy_cohort(tmp_path_factory, arm26_osim):
    """The toy cohort (nmm.model.toy: its recorded torque is the torch elbow's own, driven by
    the true activations with the true factors) written with its truth, its geometry cache."""
    from nmm.jobs.nmm_setup import build_elbow
    from nmm.model.toy import make_toy_cohort, write_toy_cohort
    from nmm.physics.parameters import PersonalisedParameters

    cache = tmp_path_factory.mktemp("geometry")
    cfg = compose_train(geometry_cache=cache)
    elbow = build_elbow(cfg)
    table = PersonalisedParameters.from_config(
        cfg.physics, 2, elbow.muscle_parameters, elbow.muscle_names
    ).to(torch.float32)
    cohort, truth = make_toy_cohort(elbow, table, n_subjects=2, loads_kg=(0.0, 2.0), duration_s=2.0)
    folder = write_toy_cohort(tmp_path_factory.mktemp("toy"), cohort, truth)
    return folder, truth, cache, cfg.paths.shared_models


def test_a_toy_cohort_runs_end_to_end(toy_cohort, tmp_path):
    folder, truth, cache, models = toy_cohort
    out = tmp_path / "allowable.json"
    argv = ["--cohort", str(folder), "--out", str(out)]
    assert main([*argv, f"geometry_cache={cache}", f"paths.shared_models={models}"]) == 0
    result = json.loads(out.read_text())
    assert result["command"].startswith("python benchmarks/bench_allowable.py --cohort")
    r = result["variants"][folder.name]
    assert r["n_trials"] == 4
    # the recorded torque is the torch elbow's own: the floor is float32 rounding
    assert r["torque"]["overall"]["relative_error"] < 1e-4
    assert r["torque"]["holds"] and result["verdicts"][folder.name]["torque"]["all"]["holds"]
    # the synergy statistic is the RMS of the log ratio of the true excitations (no MVIC hold)
    muscles = truth["muscles"]
    d = np.concatenate(
        [
            np.log(tr["excitation"][:, muscles.index("BRA")] + 0.05)
            - np.log(tr["excitation"][:, [0, 1]].mean(axis=1) + 0.05)
            for tr in truth["trials"]
        ]
    )
    bra = r["synergy"]["by_signal"]["excitation"]["BRA"]
    assert bra["rms"] == pytest.approx(np.sqrt(np.mean(d**2)), rel=1e-5)
    assert bra["ratio"] == pytest.approx(bra["rms"] / 0.3)
    # no MVIC trials: said, not guessed
    for item in ("mvic", "synergy_mvic"):
        assert r[item]["computable"] is False
        assert result["verdicts"][folder.name][item] == "not computable"
