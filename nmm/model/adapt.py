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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch import seed_everything as seed_lightning

from nmm.model.budget import TrainingBudget
from nmm.model.features import PreparedTrial
from nmm.model.module import NMMModule
from nmm.model.personalise import personalise_with
from nmm.model.physics import PersonalisedElbow
from nmm.model.settings import PersonaliseSettings
from nmm.model.train import TrainingSetup, build_datamodule, bundle, train_to_budget

__all__ = ["adapt", "personalise_and_adapt", "specialise"]

log = logging.getLogger(__name__)

#: Keeps an adapted model: called with the subjects' ids and the trainer that adapted it (the
#: app writes its checkpoint, e.g. ``<run_dir>/subjects/<subject>.ckpt``).
SaveAdapted = Callable[[Sequence[str], Trainer], None]


def adapt(
    setup: TrainingSetup,
    trained: Any,
    physics: PersonalisedElbow,
    subject_ids: Sequence[str],
    trials: Sequence[PreparedTrial],
    limits: TrainingBudget,
    run_dir: str | Path,
    *,
    save: SaveAdapted | None = None,
) -> tuple[Any, PersonalisedElbow, dict[str, Any]]:
    """Fine-tune a copy of ``trained``'s network with the new subjects' parameter rows.

    Args:
        setup: the training setup of the trained model (optimizer, data module, trainer, seed).
        trained: the trained NMM (:class:`nmm.model.train.NMMBundle`), not modified.
        physics: the new subjects' personalised elbow (one row per id of ``subject_ids``), as
            :func:`~nmm.model.personalise.personalise` returns it; trained further in place.
        subject_ids: the rows of ``physics``.
        trials: the new subjects' prepared trials.
        limits: the training budget (steps, wall time, plateau rule; ``budget.adapt`` or
            ``budget.specialise``).
        run_dir: the trainer's root directory (nothing is logged there).
        save: keeps the adapted model (an NMM checkpoint of ``subject_ids``, readable by
            :func:`nmm.jobs.trained.load_trained`); None: not kept.

    Returns:
        ``(bundle, physics, info)``: a bundle with the adapted network, the physics, and the
        steps, wall time and the budget's summary (stop reason, loss history) under
        ``"budget"``.
    """
    old = trained.module
    module = NMMModule(
        copy.deepcopy(old.net),
        physics,
        old.loss,
        setup.components.optimizer,
        list(subject_ids),
        parameter_lr=old.parameter_lr,
        use_measured=old.use_measured,
        metadata=old.metadata,
    )
    seed_lightning(setup.seed, workers=True, verbose=False)  # dropout, window order
    dm = build_datamodule(setup, trials, list(subject_ids))

    module.train()  # the copied network comes in eval mode
    t0 = time.perf_counter()
    trainer, stopped = train_to_budget(
        setup.make_trainer,
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
    if save is not None:
        save(list(subject_ids), trainer)
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
    return bundle(setup.settings, module), module.physics, info


def personalise_and_adapt(
    setup: TrainingSetup,
    trained: Any,
    trials: Sequence[PreparedTrial],
    settings: PersonaliseSettings,
    seed: int,
    run_dir: str | Path,
    limits: TrainingBudget | None,
) -> tuple[Any, PersonalisedElbow, list[str], dict[str, Any]]:
    """New subjects' parameters with the network frozen
    (:func:`~nmm.model.personalise.personalise_with` ``settings``, ``seed``), then, when
    ``settings.adapt``, :func:`adapt` within ``limits`` (its info under ``"adapt"``).

    Returns ``(bundle, physics, subject_ids, info)``: the adapted bundle (``trained`` itself
    without adaptation), the new subjects' personalised elbow, their ids (its rows) and info.

    Raises:
        ValueError: ``adapt`` is on and ``limits`` is None.
    """
    physics, ids, info = personalise_with(trained, trials, settings, setup.settings.rate_hz, seed)
    if settings.adapt:
        if limits is None:
            raise ValueError("personalise.adapt is true but no adaptation budget was given")
        trained, physics, info["adapt"] = adapt(
            setup, trained, physics, ids, trials, limits, run_dir
        )
    return trained, physics, ids, info


def specialise(
    setup: TrainingSetup,
    trained: Any,
    trials: Sequence[PreparedTrial],
    limits: TrainingBudget,
    run_dir: str | Path,
    save: SaveAdapted | None = None,
) -> dict[str, tuple[Any, PersonalisedElbow, dict[str, Any]]]:
    """Each subject's own network, adapted from the joint fit ``trained`` (:func:`adapt`).

    For every subject of ``trained`` with trials in ``trials``, its parameter row and a copy of
    the network are trained on its trials (measured channels, kinematics, torque) within
    ``limits``, and kept with ``save`` (the app writes ``<run_dir>/subjects/<subject>.ckpt``).

    Returns:
        ``{subject: (bundle, physics, info)}``: its network, its one-row elbow, steps and time.
    """
    joint = trained.module.physics
    present = {t.subject for t in trials}
    out = {}
    for i, sid in enumerate(trained.module.subject_ids):
        if sid not in present:
            continue
        row = joint.with_subjects([sid])
        joint.parameters_table.copy_subject(i, row.parameters_table)
        mine = [t for t in trials if t.subject == sid]
        out[sid] = adapt(setup, trained, row, [sid], mine, limits, run_dir, save=save)
    return out
