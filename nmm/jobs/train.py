"""``nmm-train``: load the cohort, fit the NMM on every subject, save it, evaluate it against the
ground truth when the cohort has one, and write the run folder (``conf/train.yaml``). The
settings come from :mod:`nmm.jobs.nmm_setup`, the pieces from :mod:`nmm.model.train` and
:mod:`nmm.model.adapt`, the protocols from :mod:`nmm.jobs.protocols`."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from nmm.atomic import atomic_write_text
from nmm.data.schema import Cohort
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.nmm_setup import (
    budget,
    build_elbows,
    evaluation_settings,
    load_cohort,
    training_setup,
)
from nmm.jobs.protocols import LosoPlan, evaluate_protocols, start_loso
from nmm.jobs.run_dir import seed_everything, subject_checkpoints, write_config, write_metrics
from nmm.jobs.stream_model import write_stream_inputs
from nmm.jobs.sweep import global_rank
from nmm.jobs.trained import write_subject_models
from nmm.model.adapt import specialise
from nmm.model.evaluate import SubjectModel
from nmm.model.reconstruct import parameters_report
from nmm.model.train import (
    NMMBundle,
    TrainingSetup,
    bundle,
    calibration_report,
    fit,
    prepare_cohort,
    selected_subjects,
    set_threads,
)

__all__ = ["run_train"]

log = logging.getLogger(__name__)


def _loso_plan(cfg: DictConfig, setup: TrainingSetup, trials, elbow, truth_dir) -> LosoPlan:
    """The LOSO folds of ``cfg`` (``evaluate``, ``subjects``, ``budget``, ``threads``)."""
    evaluation = evaluation_settings(cfg)
    return LosoPlan(
        setup=setup,
        evaluation=evaluation,
        budgets={stage: budget(cfg, stage) for stage in ("fit", "adapt")},
        trials=trials,
        elbow=elbow,
        truth_dir=truth_dir,
        run_dir=Path(cfg.run_dir),
        held_out=LosoPlan.held_out_subjects(cfg.get("subjects"), evaluation, trials),
        threads=cfg.get("threads"),
    )


def _specialise(
    cfg: DictConfig, setup: TrainingSetup, joint: NMMBundle, trials, info: dict[str, Any]
) -> tuple[dict[str, SubjectModel], dict[str, Any]]:
    """Each subject's own network with ``specialise.enabled`` (written to
    ``<run_dir>/subjects/<subject>.ckpt``, an earlier fit's removed first), and the parameters
    report of every subject (``parameters.json``); the specialisation's time and budgets go
    into ``info["specialise"]``."""
    folder = Path(cfg.run_dir) / "subjects"
    params = parameters_report(joint, joint.module.physics, info["subjects"])
    for stale in sorted(folder.glob("*.ckpt")):
        # an earlier fit's networks: nmm-predict would take them for this fit's
        log.info("removing %s (specialised from an earlier fit in this run directory)", stale)
        stale.unlink()
    specialised: dict[str, SubjectModel] = {}
    if not bool((cfg.get("specialise") or {}).get("enabled", False)):
        return specialised, params
    t1 = time.perf_counter()
    limits = budget(cfg, "specialise")
    own = specialise(setup, joint, trials, limits, folder, save=subject_checkpoints(folder))
    for sid, (sb, sphys, _) in own.items():
        specialised[sid] = SubjectModel(sb, sphys, [sid])
        params[sid] = parameters_report(sb, sphys, [sid])[sid]
    info["specialise"] = {
        "wall_s": time.perf_counter() - t1,
        "subjects": {sid: sinfo["budget"] for sid, (_, _, sinfo) in own.items()},
    }
    return specialised, params


def _prepared(cfg: DictConfig, setup: TrainingSetup) -> tuple[Cohort, Path | None, Any, list]:
    """The cohort, its ground truth (None without one), each subject's torch elbow (its own
    model's listed in ``subject_models.json``) and the prepared trials (``datamodule.kinds``),
    the cohort's rates checked against the filters first."""
    t0 = time.perf_counter()
    cohort, truth_dir = load_cohort(cfg)
    check_cohort_rates(cfg, cohort)  # filters below Nyquist, before any preprocessing
    elbow = build_elbows(cfg, cohort)
    write_subject_models(elbow, Path(cfg.run_dir))
    trials = prepare_cohort(cohort, setup.settings, setup.components, elbow, kinds=setup.data.kinds)
    log.info(
        "%s: %d trials of %d subjects prepared (%.1f s)",
        cohort.name,
        len(trials),
        len({t.subject for t in trials}),
        time.perf_counter() - t0,
    )
    return cohort, truth_dir, elbow, trials


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """``nmm-train``: load, prepare, fit on every subject, save, evaluate; returns metrics.

    Writes into ``cfg.run_dir``: ``config.yaml``, ``checkpoints/`` (``last.ckpt`` and the best),
    ``model.ckpt`` (the best weights, with the subjects' parameters), with ``specialise.enabled``
    ``subjects/<subject>.ckpt`` (each subject's network, :func:`nmm.model.adapt.specialise`),
    ``parameters.json`` (the specialised networks' parameters where there are some),
    ``subject_models.json`` (the subjects with their own ``.osim``, if any), for a causal model
    ``stream_inputs.json`` (:func:`nmm.jobs.stream_model.write_stream_inputs`), CSV logs under
    ``logs/``, and ``metrics.json`` (see :mod:`nmm.model.evaluate`).
    """
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(int(cfg.seed))
    set_threads(cfg.get("threads"))
    write_config(cfg, run_dir)
    t0 = time.perf_counter()
    setup = training_setup(cfg)
    cohort, truth_dir, elbow, trials = _prepared(cfg, setup)
    if setup.settings.causal:  # what each subject's stream sends (nmm-stream)
        write_stream_inputs(cohort, setup.settings, setup.components, run_dir)
    chosen = selected_subjects(cfg.get("subjects"), trials)  # checked before any fold starts
    protocols = list(cfg.evaluate.get("protocols") or []) if cfg.get("evaluate") else []
    plan = _loso_plan(cfg, setup, trials, elbow, truth_dir)
    pending = None
    if "loso" in protocols and truth_dir is not None and global_rank() == 0:
        # folds start in worker processes now and train while the per-subject fit runs here
        pending = start_loso(plan)
    module, trainer, info = fit(
        setup,
        trials,
        elbow,
        run_dir,
        budget(cfg, "fit"),
        train_subjects=chosen,
        ckpt_path=cfg.get("ckpt_path"),
    )
    trainer.save_checkpoint(str(run_dir / "model.ckpt"))
    if trainer.global_rank != 0:  # DDP: rank 0 evaluates and writes (nmm.jobs.sweep)
        return {}
    metrics: dict[str, Any] = {
        "seed": seed,
        "causal": setup.settings.causal,  # model.causal: a stream's model (nmm.model.causal)
        "cohort": cohort.name,
        "n_trials": len(trials),
        "subjects": info["subjects"],
        "fit": info,
        "accelerator": type(trainer.accelerator).__name__,
        "threads": torch.get_num_threads(),
        "calibration": calibration_report(cohort, trials),
    }
    joint = bundle(setup.settings, module)
    specialised, params = _specialise(cfg, setup, joint, trials, info)
    atomic_write_text(run_dir / "parameters.json", json.dumps(params, indent=1) + "\n")
    metrics.update(
        evaluate_protocols(
            plan,
            joint,
            protocols,
            osim=str(cfg.physics.osim),
            loso_pending=pending,
            specialised=specialised,
        )
    )
    metrics["timing"] = {"total_s": time.perf_counter() - t0, "fit_s": info["fit_wall_s"]}
    write_metrics(metrics, run_dir)
    return metrics
