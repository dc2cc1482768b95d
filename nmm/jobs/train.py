"""``nmm-train``: load the cohort, fit the NMM on every subject, save it, evaluate it against the
ground truth when the cohort has one, and write the run folder (``conf/train.yaml``). The pieces
are :mod:`nmm.model.train`'s; the protocols :mod:`nmm.model.evaluate`'s."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from nmm.atomic import atomic_write_text
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.sweep import global_rank
from nmm.model.adapt import specialise
from nmm.model.evaluate import SubjectModel, evaluate_protocols, start_loso
from nmm.model.reconstruct import parameters_report
from nmm.model.train import (
    budget,
    build_elbow,
    bundle,
    calibration_report,
    fit,
    load_cohort,
    prepare_cohort,
    selected_subjects,
    set_threads,
)

__all__ = ["run_train"]

log = logging.getLogger(__name__)


def run_train(cfg: DictConfig) -> dict[str, Any]:
    """``nmm-train``: load, prepare, fit on every subject, save, evaluate; returns metrics.

    Writes into ``cfg.run_dir``: ``config.yaml``, ``checkpoints/`` (``last.ckpt`` and the best),
    ``model.ckpt`` (the best weights, with the subjects' parameters), with ``specialise.enabled``
    ``subjects/<subject>.ckpt`` (each subject's network, :func:`nmm.model.adapt.specialise`),
    ``parameters.json`` (the specialised networks' parameters where there are some),
    CSV logs under ``logs/``, and ``metrics.json`` (see :mod:`nmm.model.evaluate`).
    """
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(int(cfg.seed))
    set_threads(cfg.get("threads"))
    write_config(cfg, run_dir)
    t0 = time.perf_counter()
    cohort, truth_dir = load_cohort(cfg)
    check_cohort_rates(cfg, cohort)  # filters below Nyquist, before any preprocessing
    elbow = build_elbow(cfg)
    trials = prepare_cohort(cohort, cfg, elbow)
    log.info(
        "%s: %d trials of %d subjects prepared (%.1f s)",
        cohort.name,
        len(trials),
        len({t.subject for t in trials}),
        time.perf_counter() - t0,
    )
    chosen = selected_subjects(cfg, trials)  # checked before any fold starts
    protocols = list(cfg.evaluate.get("protocols") or []) if cfg.get("evaluate") else []
    pending = None
    if "loso" in protocols and truth_dir is not None and global_rank() == 0:
        # folds start in worker processes now and train while the per-subject fit runs here
        pending = start_loso(cfg, trials, elbow, truth_dir, run_dir)
    module, trainer, info = fit(
        cfg,
        trials,
        elbow,
        run_dir,
        train_subjects=chosen,
        ckpt_path=cfg.get("ckpt_path"),
    )
    trainer.save_checkpoint(str(run_dir / "model.ckpt"))
    if trainer.global_rank != 0:  # DDP: rank 0 evaluates and writes (nmm.jobs.sweep)
        return {}
    metrics: dict[str, Any] = {
        "seed": seed,
        "cohort": cohort.name,
        "n_trials": len(trials),
        "subjects": info["subjects"],
        "fit": info,
        "accelerator": type(trainer.accelerator).__name__,
        "threads": torch.get_num_threads(),
        "calibration": calibration_report(cohort, trials),
    }
    b = bundle(cfg, module)
    params = parameters_report(b, module.physics, info["subjects"])
    specialised: dict[str, SubjectModel] = {}
    enabled = bool((cfg.get("specialise") or {}).get("enabled", False))
    for stale in sorted((run_dir / "subjects").glob("*.ckpt")):
        # an earlier fit's networks: nmm-predict would take them for this fit's
        log.info("removing %s (specialised from an earlier fit in this run directory)", stale)
        stale.unlink()
    if enabled:
        t1 = time.perf_counter()
        own = specialise(cfg, b, trials, budget(cfg, "specialise"), run_dir / "subjects")
        for sid, (sb, sphys, _) in own.items():
            specialised[sid] = SubjectModel(sb, sphys, [sid])
            params[sid] = parameters_report(sb, sphys, [sid])[sid]
        info["specialise"] = {
            "wall_s": time.perf_counter() - t1,
            "subjects": {sid: sinfo["budget"] for sid, (_, _, sinfo) in own.items()},
        }
    atomic_write_text(run_dir / "parameters.json", json.dumps(params, indent=1) + "\n")
    metrics.update(
        evaluate_protocols(
            cfg,
            b,
            trials,
            truth_dir,
            elbow,
            protocols,
            run_dir=run_dir,
            loso_pending=pending,
            specialised=specialised,
        )
    )
    metrics["timing"] = {"total_s": time.perf_counter() - t0, "fit_s": info["fit_wall_s"]}
    write_metrics(metrics, run_dir)
    return metrics
