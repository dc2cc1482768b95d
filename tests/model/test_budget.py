"""The training budget (nmm.model.budget): the plateau rule on analytic loss sequences, its
limits and validation, and a one-subject, three-trial study trained to convergence with the
defaults (the default model and budget on the embedded default cohort)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nmm.model.budget import ConvergenceStop, TrainingBudget, stage_budget


class _Trainer(SimpleNamespace):
    """What ConvergenceStop reads of a Lightning Trainer: steps, epochs, optimisers, stop flag."""


def _run(budget: TrainingBudget, losses, *, lr: float = 1.0) -> tuple[ConvergenceStop, _Trainer]:
    """Feed ``losses`` (one per optimiser step) through the callback as Lightning would."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    trainer = _Trainer(
        global_step=0, should_stop=False, optimizers=[opt], max_epochs=-1, current_epoch=0
    )
    stop = ConvergenceStop(budget, ("a", "b"))
    stop.on_train_start(trainer, None)
    for value in losses:
        trainer.global_step += 1
        out = {"loss": torch.tensor(float(value)), "terms": torch.tensor([value, 0.0])}
        stop.on_train_batch_end(trainer, None, out, None, 0)
        if trainer.should_stop:
            break
    stop.on_train_end(trainer, None)
    return stop, trainer


def test_a_flat_loss_decays_the_rates_at_each_plateau_then_stops_as_converged():
    # blocks of 10 steps, windows of 2 blocks: two windows are there at step 40, a plateau
    # (x 0.5); two more windows at the new rate at 80 (x 0.5); the third plateau, at 120, stops
    b = TrainingBudget(max_steps=1000, check_every_steps=10, patience_checks=2, lr_decay=0.5)
    stop, trainer = _run(b, [2.0] * 1000)
    s = stop.summary()
    assert s["stop_reason"] == "converged" and s["steps"] == 120 and s["lr_decays"] == 2
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.25)
    assert [h[0] for h in s["loss_history"]] == list(range(10, 121, 10))
    assert s["final_terms"] == {"a": 2.0, "b": 0.0}


def test_no_plateau_acts_before_min_steps():
    b = TrainingBudget(max_steps=1000, min_steps=100, check_every_steps=10, patience_checks=2)
    stop, _ = _run(b, [2.0] * 1000)
    # plateaus at 100 (the first check at or past min_steps), 140, and the stop at 180
    assert stop.summary()["steps"] == 180 and stop.reason == "converged"


def test_a_loss_that_keeps_falling_runs_to_the_step_cap():
    b = TrainingBudget(max_steps=300, check_every_steps=10, patience_checks=2)
    stop, _ = _run(b, [math.exp(-0.01 * k) for k in range(1000)])
    s = stop.summary()
    assert s["stop_reason"] == "max_steps" and s["steps"] == 300 and s["lr_decays"] == 0
    assert s["loss_ratio"] == pytest.approx(math.exp(-0.01 * 290), rel=0.05)


def test_improvement_within_rel_tol_counts_as_a_plateau():
    # 0.2 % better per block: a window of four blocks (patience) is 0.8 % below the window
    # before it, under rel_tol = 1 %: a plateau; with rel_tol 0.1 % it is an improvement
    falling = [0.998 ** (k // 10) for k in range(400)]
    slow, _ = _run(TrainingBudget(max_steps=400, check_every_steps=10, rel_tol=0.01), falling)
    assert slow.reason == "converged" and slow.steps < 400
    fine, _ = _run(TrainingBudget(max_steps=400, check_every_steps=10, rel_tol=0.001), falling)
    assert fine.reason == "max_steps"


def test_one_lucky_block_does_not_stop_a_loss_that_still_falls():
    # a loss falling 2 % per block with one block far below the trend: window means still fall
    falling = [0.98 ** (k // 10) for k in range(300)]
    falling[95:100] = [0.1] * 5
    stop, _ = _run(TrainingBudget(max_steps=300, check_every_steps=10, patience_checks=3), falling)
    assert stop.reason == "max_steps" and stop.decays == 0


def test_the_wall_time_limit_stops_the_fit():
    b = TrainingBudget(max_steps=10**6, max_time_s=1e-9)
    stop, _ = _run(b, [1.0] * 100)
    assert stop.reason == "max_time" and stop.steps == 1


def test_a_nan_loss_is_an_error_naming_the_step():
    b = TrainingBudget(max_steps=100, check_every_steps=5)
    with pytest.raises(FloatingPointError, match="step 5"):
        _run(b, [1.0, 1.0, float("nan"), 1.0, 1.0, 1.0])


def test_the_rule_resumes_from_its_saved_state():
    b = TrainingBudget(max_steps=1000, check_every_steps=10, patience_checks=2, lr_decay=0.5)
    first, _ = _run(b, [2.0] * 50)  # one decay at step 40, one block after it
    again = ConvergenceStop(b)
    again.load_state_dict(first.state_dict())
    assert again.decays == 1 and again.stage_start == 4 and again.history == first.history
    assert again.elapsed_before_s == pytest.approx(first.elapsed_s, abs=1.0)


@pytest.mark.parametrize(
    "node, key",
    [
        ({"max_steps": 0}, "max_steps"),
        ({"max_steps": 10, "rel_tol": 1.5}, "rel_tol"),
        ({"max_steps": 10, "lr_decay": 1.0}, "lr_decay"),
        ({"max_steps": 10, "max_time_s": -1}, "max_time_s"),
        ({"max_steps": 10, "patience": 3}, "unknown keys"),
        ({"min_steps": 10}, "max_steps"),
        ({"max_steps": "many"}, "budget.fit"),
    ],
)
def test_bad_budget_values_are_refused_naming_the_key(node, key):
    with pytest.raises(ValueError, match=key):
        stage_budget({"plateau": {}, "fit": node}, "fit")


def test_the_default_budget_composes_for_every_stage():
    from hydra import compose, initialize_config_dir

    from nmm.config import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for app in ("train", "predict"):
            cfg = compose(config_name=app)
            stages = ("fit", "specialise", "adapt") if app == "train" else ("adapt",)
            for stage in stages:
                b = stage_budget(cfg.budget, stage)
                assert b.max_steps >= b.min_steps >= 1 and b.max_time_s > 0
    with pytest.raises(ValueError, match=r"budget\.refit"):
        stage_budget(cfg.budget, "refit")


def _first_cycle(trial):
    """``trial`` up to the end of its first flexion-extension cycle: every stream cut at the
    lowest angle between the first and the second flexion (the rest at the lower target)."""
    angle, time = trial.angle, trial.kinematics.time
    half = 0.5 * (angle.max() + angle.min())
    rise = np.flatnonzero(angle > half)[0]
    fall = rise + np.flatnonzero(angle[rise:] < half)[0]
    again = fall + np.flatnonzero(angle[fall:] > half)[0]
    stop = time[fall + np.argmin(angle[fall:again])]
    return trial.replace(**{k: s.between(0.0, stop) for k, s in trial.streams().items()})


def test_one_subject_with_three_trials_trains_to_convergence_at_the_defaults(arm26_osim, tmp_path):
    """Three short trials (one subject, 0/2/4 kg, one flexion-extension cycle of 1.9-2.7 s
    each) of the embedded default cohort: the default model and budget train until the loss
    converges (not the step cap), and the loss falls by at least 10x from its first block
    (19.5 -> 0.74 in 1250 steps when the trials were cut to one cycle). Checkpoint callbacks
    are off: they do not change the fit, and with one batch per epoch they would write a
    checkpoint at every step."""
    from nmm.data.schema import Cohort
    from nmm.jobs.nmm_setup import budget, build_elbow, load_cohort, prepared_trials, training_setup
    from nmm.model.train import fit

    from .conftest import compose_train

    cfg = compose_train(
        [
            "model=pinn",
            "budget.specialise.max_steps=1",
            "budget.adapt.max_steps=1",
            "datamodule.batch_size=32",
        ],
        tmp_path / "geometry",
    )
    cohort, _ = load_cohort(cfg)
    baseline = [t for t in cohort if t.subject == "S01" and t.condition == "baseline"]
    three = [_first_cycle(t) for t in baseline]
    assert len(three) == 3 and {t.load.mass_kg for t in three} == {0.0, 2.0, 4.0}
    for t in three:  # a whole cycle: from the lower target to the upper one and back
        assert 1.5 < t.kinematics.duration < 3.0 and np.ptp(np.degrees(t.angle)) > 80.0
        assert abs(t.angle[-1] - t.angle[0]) < np.radians(10.0)
    small = Cohort([cohort.subjects["S01"]], three, name="one_subject")
    elbow = build_elbow(cfg)
    trials = prepared_trials(cfg, small, elbow)
    _, _, info = fit(
        training_setup(cfg),
        trials,
        elbow,
        tmp_path / "run",
        budget(cfg, "fit"),
        callbacks=False,
        loggers=False,
    )
    b = info["budget"]
    assert b["stop_reason"] == "converged", b["stop_reason"]
    assert b["steps"] < b["budget"]["max_steps"] and b["steps"] >= b["budget"]["min_steps"]
    assert b["lr_decays"] == b["budget"]["lr_decays"]
    assert b["loss_ratio"] < 0.1, b["loss_history"]
    assert set(b["final_terms"]) >= {"emg", "torque", "synergy", "parameters"}
