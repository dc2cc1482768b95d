"""Training with Lightning: the loss falls, checkpoints resume, predictions are bounded, and the
nmm-train / nmm-predict jobs run end to end on a toy cohort (tiny model, seconds)."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything
from omegaconf import OmegaConf

from nmm.jobs.nmm_setup import budget, model_settings, training_setup
from nmm.jobs.run_dir import subject_checkpoints
from nmm.model.budget import TrainingBudget
from nmm.model.reconstruct import reconstruct
from nmm.model.train import bundle, fit

from .conftest import compose_train


class LossRecorder(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.parametrize(
    "muscle_model", ["degroote2016_rigid_tendon", "degroote2016_compliant_tendon"]
)
def test_tiny_model_trains_and_the_loss_falls(tiny_cfg, elbow, toy_trials, muscle_model):
    from nmm.model.train import build_datamodule, build_module

    rec = LossRecorder()
    seed_everything(0, verbose=False)
    ids = sorted({t.subject for t in toy_trials})
    module = build_module(
        training_setup(tiny_cfg), dataclasses.replace(elbow, muscle_model=muscle_model), ids
    )
    assert module.physics.elbows.default.muscle_model == muscle_model
    dm = build_datamodule(training_setup(tiny_cfg), toy_trials, ids)
    trainer = Trainer(
        max_epochs=10,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[rec],
        deterministic="warn",
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=dm)
    first, last = np.mean(rec.losses[:3]), np.mean(rec.losses[-3:])
    assert len(rec.losses) >= 10
    assert last < 0.7 * first, f"loss did not fall: {first:.3f} -> {last:.3f}"


def _state(module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_checkpoint_resumes_to_the_same_state(tiny_cfg, elbow, toy_trials, tmp_path):
    common = dict(loggers=False, enable_progress_bar=False)
    fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path / "a",
        budget(tiny_cfg, "fit"),
        max_epochs=4,
        **common,
    )
    first, trainer, _ = fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path / "b",
        budget(tiny_cfg, "fit"),
        max_epochs=2,
        **common,
    )
    last = tmp_path / "b" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    saved = torch.load(last, map_location="cpu", weights_only=False)
    assert saved["nmm"]["subject_ids"] == first.subject_ids
    assert saved["global_step"] == trainer.global_step  # saved after the last epoch
    _, trainer, _ = fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path / "b",
        budget(tiny_cfg, "fit"),
        max_epochs=4,
        ckpt_path=str(last),
        **common,
    )
    assert trainer.current_epoch == 4
    # last.ckpt of both runs: the resumed run continued exactly where the first stopped
    a = torch.load(tmp_path / "a" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    b = torch.load(last, weights_only=False)["state_dict"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_predictions_are_within_0_1(tiny_cfg, elbow, toy_trials, tmp_path):
    module, _, _ = fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path,
        budget(tiny_cfg, "fit"),
        callbacks=False,
        loggers=False,
        max_epochs=1,
        enable_progress_bar=False,
    )
    b = bundle(model_settings(tiny_cfg), module)
    trial = toy_trials[0]
    rec = reconstruct(module.net, module.physics, 0, trial, b.spec, b.window, b.stride)
    assert rec.envelopes.shape == (trial.n_samples, 6)
    assert rec.envelopes.min() >= 0.0 and rec.envelopes.max() <= 1.0
    assert np.isfinite(rec.torque).all()
    wild = torch.randn(2, b.window, b.spec.n_features) * 100
    with torch.no_grad():
        out = module(wild)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize("use_measured", [True, False])
def test_training_drives_the_physics_as_reconstruction_does(
    tiny_cfg, elbow, toy_trials, use_measured
):
    """With ``model.use_measured`` the training step's muscle torque is the torque that
    reconstruction computes (recorded envelopes for the measured muscles); without it, the
    network's for all muscles."""
    from torch.utils.data import default_collate

    from nmm.model.datamodule import WindowDataset
    from nmm.model.train import build_module

    cfg = compose_train([f"model.use_measured={str(use_measured).lower()}"])
    ids = sorted({t.subject for t in toy_trials})
    seed_everything(0, verbose=False)
    module = build_module(training_setup(cfg), elbow, ids).eval()
    assert module.use_measured is use_measured
    b = bundle(model_settings(cfg), module)
    trial = toy_trials[0]
    n = trial.n_samples  # one window over the whole trial: no blending of windows
    ds = WindowDataset([trial], b.spec, b.muscles, {s: i for i, s in enumerate(ids)}, n, n)
    with torch.no_grad():
        _, env, phys = module.compute(default_collate([ds[0]]))
    rec = reconstruct(module.net, module.physics, ids.index(trial.subject), trial, b.spec, n, n)
    measured = torch.from_numpy(trial.measured)
    # the untrained network's measured outputs differ from the recordings
    gap = (env[0][:, measured] - torch.from_numpy(trial.envelopes[:, trial.measured])).abs()
    assert float(gap.mean()) > 0.01
    same = np.allclose(phys.torque[0].numpy(), rec.torque, rtol=1e-4, atol=1e-4)
    assert same is use_measured


def test_train_and_predict_jobs_end_to_end(toy_dir, geometry_cache, tmp_path):
    from hydra import compose, initialize_config_dir

    from nmm.config import CONF_DIR
    from nmm.jobs.predict import run_predict
    from nmm.jobs.train import run_train

    run = tmp_path / "train"
    cfg = compose_train(
        [
            f"data.root={toy_dir}",
            f"run_dir={run}",
            "trainer.max_epochs=2",
            "evaluate.personalise.steps=3",
            "budget.adapt.max_steps=2",
            "evaluate.max_figures=1",
        ],
        geometry_cache,
    )
    metrics = run_train(cfg)
    for protocol in ("per_subject", "loso"):
        s = metrics[protocol]
        for key in (
            "hidden_pearson_r_mean",
            "hidden_rmse_mean",
            "torque_r2",
            "baseline_copy_synergist_rmse_mean",
        ):
            assert key in s
        assert set(s["per_muscle"]) == {"BRA", "TRImed"}
    assert len(metrics["loso"]["folds"]) == 2
    on_disk = json.loads((run / "metrics.json").read_text())
    for protocol in ("per_subject", "loso"):
        recovery = on_disk[protocol]["parameter_recovery"]
        assert set(recovery["abs_error_initial_mean"]) == set(recovery["abs_error_mean"])
        assert all(0.0 <= f <= 1.0 for f in recovery["closer_than_initial"].values())
    assert (run / "model.ckpt").is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert on_disk["per_subject"]["specialised"] is True
    assert sorted(p.name for p in (run / "subjects").glob("*.ckpt")) == ["T01.ckpt", "T02.ckpt"]
    with open(run / "logs" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    epoch_terms = [r for r in rows if r.get("train/torque")]
    assert [int(r["epoch"]) for r in epoch_terms] == [0, 1]  # each loss term's mean, per epoch
    assert all(float(r["train/loss"]) >= 0 for r in rows if r.get("train/loss"))
    assert list((run / "predictions" / "models").glob("*.osim"))

    def predict_config(out, *overrides):
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(
                config_name="predict",
                overrides=[
                    "data=folder",
                    f"data.path={toy_dir / 'dataset'}",
                    f"model_dir={run}",
                    f"run_dir={out}",
                    *overrides,
                ],
            )

    out = tmp_path / "predict"
    pm = run_predict(
        predict_config(
            out,
            "repersonalise=true",
            "personalise.steps=3",
            "budget.adapt.max_steps=2",
            f"truth_dir={toy_dir / 'ground_truth'}",
            "max_figures=1",
        )
    )
    assert pm["envelopes_bounded_0_1"]
    assert pm["personalisation"]["steps"] == 3
    assert pm["personalisation"]["adapt"]["steps"] == 2
    assert pm["personalisation"]["adapt"]["budget"]["stop_reason"] == "max_steps"
    assert all(f["personalise"]["adapt"]["steps"] == 2 for f in metrics["loso"]["folds"])
    stos = sorted(p.name for p in (out / "envelopes").rglob("*_envelopes.sto"))
    assert len(stos) == len(pm["trials"]) == 4
    assert len(list((out / "models").glob("*.osim"))) == 2
    assert list((out / "figures").glob("*.png"))
    from nmm.data.io.sto import read_sto

    table = read_sto(next((out / "envelopes").rglob("*_envelopes.sto")))
    assert list(table.columns) == ["BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed"]
    assert table.data.min() >= 0.0 and table.data.max() <= 1.0

    # the training subjects, not personalised again: each with its specialised network, so
    # nmm-predict reproduces the envelopes nmm-train wrote for the per-subject protocol
    again = tmp_path / "predict_known"
    km = run_predict(predict_config(again, "max_figures=0"))
    assert not any(t["personalised_here"] for t in km["trials"])
    written = sorted((run / "predictions" / "envelopes").rglob("*_envelopes.sto"))
    assert len(written) == 4
    for sto in written:
        mine = read_sto(again / "envelopes" / sto.parent.name / sto.name)
        np.testing.assert_allclose(mine.data, read_sto(sto).data, atol=1e-6)

    # fitted again in the same run directory without specialisation: the earlier fit's
    # networks are removed, so that nmm-predict cannot take them for this fit's
    cfg.specialise.enabled = False
    cfg.evaluate.protocols = ["per_subject"]
    assert run_train(cfg)["per_subject"]["specialised"] is False
    assert not list((run / "subjects").glob("*.ckpt"))


@pytest.mark.parametrize("protocol_list", ["[per_subject]"])
def test_configs_compose(protocol_list, geometry_cache):
    cfg = compose_train(
        [f"evaluate.protocols={protocol_list}", "model=pinn", "trainer=gpu"], geometry_cache
    )
    assert cfg.trainer.accelerator == "gpu" and cfg.model.net._target_.endswith("NMMEncoder")
    cfg = compose_train(["callbacks=none", "logger=none"], geometry_cache)
    assert not cfg.callbacks and not cfg.logger


def test_adapting_to_a_new_subject_lowers_its_loss_and_leaves_the_model_alone(
    tiny_cfg, elbow, toy_trials, tmp_path
):
    """LOSO with adaptation (nmm.model.adapt): the network trained on one subject, the other
    personalised with it frozen, then a copy adapted on that subject's measured data."""
    from torch.utils.data import default_collate

    from nmm.model.adapt import adapt
    from nmm.model.datamodule import WindowDataset
    from nmm.model.personalise import personalise

    ids = sorted({t.subject for t in toy_trials})
    common = dict(callbacks=False, loggers=False, enable_progress_bar=False)
    module, _, _ = fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path,
        budget(tiny_cfg, "fit"),
        train_subjects=ids[:1],
        max_epochs=2,
        **common,
    )
    b = bundle(model_settings(tiny_cfg), module)
    new = [t for t in toy_trials if t.subject == ids[1]]
    physics, new_ids, _ = personalise(b, new, steps=3)
    before = {k: v.clone() for k, v in module.net.state_dict().items()}

    def new_subject_loss(bun, phys) -> float:
        ds = WindowDataset(new, bun.spec, bun.muscles, {ids[1]: 0}, bun.window, bun.window)
        m = bun.module
        m.physics = phys
        with torch.no_grad():
            terms, _, _ = m.compute(default_collate([ds[i] for i in range(len(ds))]))
        return float(terms["total"])

    first = new_subject_loss(b, physics)
    eight = TrainingBudget(max_steps=8)
    adapted, physics2, info = adapt(
        training_setup(tiny_cfg), b, physics, new_ids, new, eight, tmp_path / "adapt"
    )
    assert info["steps"] == 8 and adapted.module.net is not module.net
    assert info["budget"]["stop_reason"] == "max_steps"
    for k, v in module.net.state_dict().items():
        assert torch.equal(v, before[k]), f"the trained network changed: {k}"
    assert new_subject_loss(adapted, physics2) < first
    with pytest.raises(ValueError, match="max_steps"):
        TrainingBudget(max_steps=0)


def test_specialising_each_subject_writes_a_checkpoint_that_reproduces_it(
    tiny_cfg, elbow, toy_trials, tmp_path
):
    """Per-subject fit (nmm.model.adapt.specialise): each subject gets its own network, started
    from the joint one with its own parameter row, saved so that nmm-predict reads it back."""
    from nmm.jobs.trained import load_trained
    from nmm.model.adapt import specialise

    ids = sorted({t.subject for t in toy_trials})
    common = dict(callbacks=False, loggers=False, enable_progress_bar=False)
    module, _, _ = fit(
        training_setup(tiny_cfg),
        toy_trials,
        elbow,
        tmp_path,
        budget(tiny_cfg, "fit"),
        max_epochs=2,
        **common,
    )
    b = bundle(model_settings(tiny_cfg), module)
    joint_rows = module.physics.parameters_table.raw.detach().clone()
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(tiny_cfg))
    own = specialise(
        training_setup(tiny_cfg),
        b,
        toy_trials,
        TrainingBudget(max_steps=3),
        tmp_path / "subjects",
        save=subject_checkpoints(tmp_path / "subjects"),
    )
    assert list(own) == ids
    assert torch.equal(module.physics.parameters_table.raw, joint_rows)  # joint fit untouched
    for i, sid in enumerate(ids):
        sb, sphys, info = own[sid]
        assert info["steps"] == 3 and sb.module.net is not module.net
        assert sphys.parameters_table.raw.shape == (1, joint_rows.shape[1])
        # it started from the subject's own row and moved from there
        assert not torch.equal(sphys.parameters_table.raw[0], joint_rows[i])
        _, loaded = load_trained(tmp_path, tmp_path / "subjects" / f"{sid}.ckpt")
        assert loaded.module.subject_ids == [sid]
        trial = next(t for t in toy_trials if t.subject == sid)
        args = (trial, b.spec, b.window, b.stride)
        a = reconstruct(sb.module.net, sphys, 0, *args, use_measured=b.use_measured)
        c = reconstruct(
            loaded.module.net, loaded.module.physics, 0, *args, use_measured=b.use_measured
        )
        np.testing.assert_allclose(a.envelopes, c.envelopes, atol=1e-6)


def test_body_mass_from_the_dataset_centres_each_subjects_strength(
    elbow, toy_trials, tmp_path, geometry_cache
):
    """prepare_cohort carries each subject's body mass; the fit and the personalisation of a
    new subject centre its strength on (m / 70 kg)^0.667 (physics.strength_from_body_mass)."""
    import dataclasses

    tiny_cfg = compose_train(
        ["physics.strength_from_body_mass={reference_kg: 70.0, exponent: 0.667}"],
        geometry_cache,
    )
    from nmm.model.features import body_masses
    from nmm.model.personalise import personalise

    ids = sorted({t.subject for t in toy_trials})
    assert body_masses(toy_trials, ids) == [70.0, 70.0]  # the toy cohort's subjects
    heavy = [
        dataclasses.replace(t, metadata={**t.metadata, "body_mass_kg": 90.0})
        for t in toy_trials
        if t.subject == ids[1]
    ]
    expected = (90.0 / 70.0) ** 0.667
    common = dict(callbacks=False, loggers=False, enable_progress_bar=False)
    module, _, _ = fit(
        training_setup(tiny_cfg),
        [t for t in toy_trials if t.subject == ids[0]] + heavy,
        elbow,
        tmp_path,
        budget(tiny_cfg, "fit"),
        max_epochs=1,
        **common,
    )
    table = module.physics.parameters_table
    strength = [i for i, (n, _) in enumerate(table.columns) if n == "max_isometric_force"]
    assert table.centre[0, strength].tolist() == pytest.approx([1.0] * 6, rel=1e-5)
    assert table.centre[1, strength].tolist() == pytest.approx([expected] * 6, rel=1e-4)
    physics, _, _ = personalise(bundle(model_settings(tiny_cfg), module), heavy, steps=1)
    assert physics.parameters_table.centre[0, strength].tolist() == pytest.approx(
        [expected] * 6, rel=1e-4
    )


class _Exploit:
    """Unpickling this creates a file: the code a crafted checkpoint could run."""

    def __init__(self, target) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_a_crafted_checkpoint_is_refused_and_runs_no_code(tiny_cfg, tmp_path):
    """nmm-predict reads model.ckpt with weights_only=True: a pickle that would create a file
    is refused with an error naming the checkpoint, and the file is never created."""
    from nmm.jobs.trained import load_trained

    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(tiny_cfg))
    planted = tmp_path / "planted_by_the_checkpoint"
    torch.save(
        {"state_dict": {}, "nmm": {"subject_ids": ["S01"]}, "x": _Exploit(planted)},
        tmp_path / "model.ckpt",
    )
    with pytest.raises(ValueError, match=r"model\.ckpt: refused"):
        load_trained(tmp_path)
    assert not planted.exists()
    # the same file read the unsafe way does run it: the test's exploit is real
    torch.load(tmp_path / "model.ckpt", weights_only=False)
    assert planted.exists()


def test_a_study_without_mvic_trials_is_told_its_levels_are_not_calibrated(elbow, tiny_cfg):
    """calibration_report: the embedded cohort's S01 with its MVIC trials has nothing to say;
    its three baseline trials alone are reported (and logged) as uncalibrated by a maximal
    effort, and without the MVIC reference as not in fractions of MVIC."""
    import dataclasses

    from nmm.data.schema import Cohort
    from nmm.jobs.nmm_setup import load_cohort, prepared_trials
    from nmm.model.train import calibration_report

    cohort, _ = load_cohort(tiny_cfg)
    s01 = [t for t in cohort if t.subject == "S01" and t.condition in ("baseline", "mvic")]
    full = Cohort([cohort.subjects["S01"]], s01)
    report = calibration_report(full, prepared_trials(tiny_cfg, full, elbow))
    assert report["mvic_trials"] == {"S01": 2} and report["note"] is None
    moves = [t for t in s01 if t.condition == "baseline"]
    bare = dataclasses.replace(cohort.subjects["S01"], mvic={})
    small = Cohort([bare], moves)
    report = calibration_report(small, prepared_trials(tiny_cfg, small, elbow))
    assert report["without_mvic_trials"] == ["S01"] == report["without_mvic_reference"]
    assert "no MVIC trial" in report["note"] and "no MVIC reference" in report["note"]


def test_resuming_from_a_crafted_checkpoint_runs_no_code(tiny_cfg, elbow, toy_trials, tmp_path):
    """nmm-train's ckpt_path is read with weights_only=True too."""
    import pickle

    planted = tmp_path / "planted_by_the_checkpoint"
    torch.save({"state_dict": {}, "x": _Exploit(planted)}, tmp_path / "last.ckpt")
    with pytest.raises(pickle.UnpicklingError):
        fit(
            training_setup(tiny_cfg),
            toy_trials,
            elbow,
            tmp_path / "run",
            budget(tiny_cfg, "fit"),
            ckpt_path=str(tmp_path / "last.ckpt"),
            loggers=False,
            enable_progress_bar=False,
        )
    assert not planted.exists()
