"""Adapting a trained NMM to new subjects: the network fine-tuned on their data, no hidden truth.

:func:`~nmm.model.personalise.personalise` fits a new subject's parameters with the network
frozen; the hidden muscles' envelopes are then the network's as learned on other subjects, and
a subject who shares the moment among the flexors differently (recruitment differs between
people, e.g. BRA's share of the flexion moment) keeps the other subjects' share. Adaptation
continues from there: a copy of the network and the personalised parameter rows are trained
together, within a training budget (optimiser steps, wall time, convergence of the loss;
:mod:`nmm.model.budget`), with the same physics-informed loss on the new subjects'
*measured channels, kinematics and torque only*, exactly the information the per-subject fit
uses, starting from the network trained on the others (test-time adaptation), with the
configured optimizer. The original bundle is left unchanged.

:func:`specialise` applies the same adaptation to each subject of a joint fit in turn: the
per-subject protocol of Kumar et al. (2025) fits one network per subject, and here each
subject's network starts from the one fitted on every subject (``specialise.enabled`` in
``conf/train.yaml``, budget ``budget.specialise``).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch import seed_everything as seed_lightning
from omegaconf import DictConfig

from nmm.atomic import atomic_path
from nmm.model.budget import TrainingBudget
from nmm.model.features import PreparedTrial
from nmm.model.module import NMMModule
from nmm.model.personalise import personalise_from_config
from nmm.model.physics import PersonalisedElbow
from nmm.model.train import build_datamodule, train_to_budget
from nmm.model.train import bundle as make_bundle

__all__ = ["adapt", "personalise_and_adapt", "specialise"]

log = logging.getLogger(__name__)


def adapt(
    cfg: DictConfig,
    bundle: Any,
    physics: PersonalisedElbow,
    subject_ids: Sequence[str],
    trials: Sequence[PreparedTrial],
    limits: TrainingBudget,
    run_dir: str | Path,
    *,
    checkpoint: str | Path | None = None,
) -> tuple[Any, PersonalisedElbow, dict[str, Any]]:
    """Fine-tune a copy of ``bundle``'s network with the new subjects' parameter rows.

    Args:
        cfg: the training config (optimizer, loss, data module and trainer settings).
        bundle: the trained NMM (:class:`nmm.model.train.NMMBundle`), not modified.
        physics: the new subjects' personalised elbow (one row per id of ``subject_ids``), as
            :func:`~nmm.model.personalise.personalise` returns it; trained further in place.
        subject_ids: the rows of ``physics``.
        trials: the new subjects' prepared trials.
        limits: the training budget (steps, wall time, plateau rule; ``budget.adapt`` or
            ``budget.specialise``).
        run_dir: the trainer's root directory (nothing is logged there).
        checkpoint: where to write the adapted model (an NMM checkpoint of ``subject_ids``,
            readable by :func:`nmm.model.predict.load_trained`), atomically; None: not written.

    Returns:
        ``(bundle, physics, info)``: a bundle with the adapted network, the physics, and the
        steps, wall time and the budget's summary (stop reason, loss history) under
        ``"budget"``.
    """

    old = bundle.module
    module = NMMModule(
        copy.deepcopy(old.net),
        physics,
        old.loss,
        instantiate(cfg.model.optimizer),
        list(subject_ids),
        parameter_lr=old.parameter_lr,
        use_measured=old.use_measured,
        metadata=old.metadata,
    )
    seed_lightning(int(cfg.seed), workers=True, verbose=False)  # dropout, window order
    dm = build_datamodule(cfg, trials, list(subject_ids))

    module.train()  # the copied network comes in eval mode
    t0 = time.perf_counter()
    trainer, stopped = train_to_budget(
        cfg,
        module,
        dm,
        limits,
        run_dir,
        callbacks=False,
        loggers=False,
        max_epochs=-1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    module.eval()
    if checkpoint is not None:
        with atomic_path(checkpoint) as tmp:
            trainer.save_checkpoint(str(tmp))
    info = {
        "steps": int(trainer.global_step),
        "wall_s": time.perf_counter() - t0,
        "budget": stopped,
    }
    log.info(
        "adapted the network to %s: %d steps (%s, %.1f s)",
        ", ".join(subject_ids),
        info["steps"],
        stopped["stop_reason"],
        info["wall_s"],
    )
    return make_bundle(cfg, module), module.physics, info


def personalise_and_adapt(
    cfg: DictConfig,
    bundle: Any,
    trials: Sequence[PreparedTrial],
    settings: Any,
    seed: int,
    default_steps: int,
    run_dir: str | Path,
    limits: TrainingBudget | None,
) -> tuple[Any, PersonalisedElbow, list[str], dict[str, Any]]:
    """New subjects' parameters with the network frozen
    (:func:`~nmm.model.personalise.personalise_from_config`), then, when ``settings`` has
    ``adapt: true``, :func:`adapt` within ``limits`` (its info under ``"adapt"``).

    Returns ``(bundle, physics, subject_ids, info)``: the adapted bundle (``bundle`` itself
    without adaptation), the new subjects' personalised elbow, their ids (its rows) and info.

    Raises:
        ValueError: ``adapt`` is on and ``limits`` is None.
    """

    physics, ids, info = personalise_from_config(
        bundle, trials, settings, cfg.preprocess.resample_hz, seed, default_steps
    )
    if bool((settings or {}).get("adapt", False)):
        if limits is None:
            raise ValueError("personalise.adapt is true but no adaptation budget was given")
        bundle, physics, info["adapt"] = adapt(cfg, bundle, physics, ids, trials, limits, run_dir)
    return bundle, physics, ids, info


def specialise(
    cfg: DictConfig,
    bundle: Any,
    trials: Sequence[PreparedTrial],
    limits: TrainingBudget,
    out_dir: str | Path,
) -> dict[str, tuple[Any, PersonalisedElbow, dict[str, Any]]]:
    """Each subject's own network, adapted from the joint fit ``bundle`` (:func:`adapt`).

    For every subject of ``bundle`` with trials in ``trials``, its parameter row and a copy of
    the network are trained on its trials (measured channels, kinematics, torque) within
    ``limits`` and written to ``out_dir/<subject>.ckpt``.

    Returns:
        ``{subject: (bundle, physics, info)}``: its network, its one-row elbow, steps and time.
    """
    joint = bundle.module.physics
    present = {t.subject for t in trials}
    out = {}
    for i, sid in enumerate(bundle.module.subject_ids):
        if sid not in present:
            continue
        row = joint.with_subjects(1)
        joint.parameters_table.copy_subject(i, row.parameters_table)
        mine = [t for t in trials if t.subject == sid]
        out[sid] = adapt(
            cfg, bundle, row, [sid], mine, limits, out_dir, checkpoint=Path(out_dir) / f"{sid}.ckpt"
        )
    return out
