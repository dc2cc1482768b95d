"""The evaluation protocols of ``nmm-train`` (``evaluate.protocols``; :mod:`nmm.model.evaluate`
says what each scores): the per-subject protocol scored here, the LOSO folds run in worker
processes or in turn, and each protocol's predictions written into the run folder.

- :func:`start_loso` submits the LOSO folds (:func:`nmm.model.evaluate.loso_fold`) to
  ``evaluate.workers`` spawned processes, to train while the per-subject fit runs;
- :func:`evaluate_protocols` scores every protocol and writes ``predictions/`` and
  ``loso/predictions/``; returns ``{protocol: summary}`` for ``metrics.json``.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing as mp
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nmm.model.budget import TrainingBudget
from nmm.model.evaluate import EvaluationSettings, SubjectModel, brief, loso_fold, merge_folds
from nmm.model.features import PreparedTrial
from nmm.model.reconstruct import write_outputs
from nmm.model.train import NMMBundle, TrainingSetup, selected_subjects

__all__ = ["LosoPlan", "evaluate_protocols", "start_loso"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LosoPlan:
    """What every LOSO fold shares: the training setup, the evaluation settings, the budgets
    (``fit``, ``adapt``), the prepared trials, the elbow, the truth, the run folder, the
    subjects held out in turn and the torch threads of a worker process."""

    setup: TrainingSetup
    evaluation: EvaluationSettings
    budgets: Mapping[str, TrainingBudget]
    trials: Sequence[PreparedTrial]
    elbow: Any
    truth_dir: str | os.PathLike[str] | None
    run_dir: Path
    held_out: Sequence[str]
    threads: int | None = None

    @staticmethod
    def held_out_subjects(
        chosen: Sequence[str] | None,
        evaluation: EvaluationSettings,
        trials: Sequence[PreparedTrial],
    ) -> list[str]:
        """LOSO folds: the ``chosen`` subjects (``subjects``; None: all) within
        ``evaluate.loso_subjects``."""
        only = evaluation.loso_subjects
        return [s for s in selected_subjects(chosen, trials) if not only or s in set(only)]

    def fold_args(self, held_out: str) -> tuple[Any, ...]:
        """The arguments of :func:`nmm.model.evaluate.loso_fold` for one held-out subject."""
        return (
            self.setup,
            self.evaluation,
            self.budgets,
            list(self.trials),
            self.elbow,
            self.truth_dir,
            held_out,
            str(self.run_dir),
            self.threads,
        )


def start_loso(plan: LosoPlan) -> list[Any] | None:
    """Submit the LOSO folds to ``evaluate.workers`` worker processes (spawned, one torch thread
    each) and return their futures; None when ``workers`` <= 1 (folds then run in turn). The
    folds and the main process's per-subject fit share the cores: on 2 cores, 3 workers keep
    both busy to the end (conf/train.yaml)."""
    if plan.evaluation.workers <= 1:
        return None
    pool = cf.ProcessPoolExecutor(
        max_workers=plan.evaluation.workers, mp_context=mp.get_context("spawn")
    )
    futures = [pool.submit(loso_fold, *plan.fold_args(s)) for s in plan.held_out]
    pool.shutdown(wait=False)
    return futures


def _loso_results(plan: LosoPlan, pending: list[Any] | None) -> list[dict[str, Any]]:
    """Every LOSO fold's result: from ``pending`` futures (:func:`start_loso`), else run here."""
    if pending is not None:
        return [f.result() for f in pending]
    return [loso_fold(*plan.fold_args(s)) for s in plan.held_out]


def _per_subject(
    evaluation: EvaluationSettings,
    joint: NMMBundle,
    specialised: Mapping[str, SubjectModel] | None,
    trials: Sequence[PreparedTrial],
    truth_dir: str | os.PathLike[str] | None,
    run_dir: Path,
    osim: str,
) -> dict[str, Any]:
    """The per-subject protocol: each subject scored with its own network when ``specialised``,
    else with the joint fit; its predictions written to ``<run_dir>/predictions``."""
    t0 = time.perf_counter()
    models = (
        list(specialised.values())
        if specialised
        else [SubjectModel(joint, joint.module.physics, joint.module.subject_ids)]
    )
    summary, recs, truths = evaluation.score(models, trials, truth_dir)
    summary["eval_wall_s"] = time.perf_counter() - t0
    summary["specialised"] = bool(specialised)
    if evaluation.write_outputs:
        truth_map = {r.trial.key: t for r, t in zip(recs, truths, strict=True) if t is not None}
        for model in models:
            rows = {s: i for i, s in enumerate(model.subject_ids)}
            write_outputs(
                [r for r in recs if r.trial.subject in rows],
                run_dir / "predictions",
                physics=model.physics,
                subject_rows=rows,
                osim=osim,
                truth=truth_map,
                hidden=list(evaluation.hidden),
                max_figures=evaluation.max_figures // len(models) or 1,
            )
    log.info("per-subject: %s", brief(summary))
    return summary


def _loso(plan: LosoPlan, pending: list[Any] | None) -> dict[str, Any] | None:
    """The LOSO protocol's summary of its folds (None without folds), each held-out subject's
    reconstructions written to ``<run_dir>/loso/predictions``."""
    folds = _loso_results(plan, pending)
    if not folds:
        return None
    evaluation = plan.evaluation
    out = merge_folds(folds, evaluation.targets)
    log.info("LOSO: %s", brief(out))
    if evaluation.write_outputs:
        # each held-out subject reconstructed by the model that never saw it
        recs = [r for f in folds for r in f["recs"]]
        truths = [t for f in folds for t in f["truths"]]
        write_outputs(
            recs,
            plan.run_dir / "loso" / "predictions",
            truth={r.trial.key: t for r, t in zip(recs, truths, strict=True) if t is not None},
            hidden=list(evaluation.hidden),
            max_figures=evaluation.max_figures,
        )
    return out


def evaluate_protocols(
    plan: LosoPlan,
    joint: NMMBundle,
    protocols: Sequence[str],
    *,
    osim: str,
    loso_pending: list[Any] | None = None,
    specialised: Mapping[str, SubjectModel] | None = None,
) -> dict[str, Any]:
    """Run the protocols of ``evaluate.protocols`` (:mod:`nmm.model.evaluate`); returns
    ``{protocol: summary}``. ``joint`` is the model fitted on every subject (per-subject);
    ``specialised``: per subject, its network specialised from it
    (:func:`nmm.model.adapt.specialise`), which then scores the per-subject protocol;
    ``loso_pending``: folds already submitted by :func:`start_loso`; ``osim``: the model the
    personalised ``.osim`` files are written from."""
    out: dict[str, Any] = {}
    if "per_subject" in protocols:
        out["per_subject"] = _per_subject(
            plan.evaluation, joint, specialised, plan.trials, plan.truth_dir, plan.run_dir, osim
        )
    if "loso" in protocols:
        loso = _loso(plan, loso_pending)
        if loso is not None:
            out["loso"] = loso
    return out
