"""Training budgets in optimiser steps and wall time, with a plateau rule on the training loss.

A budget counted in epochs gives a small study few optimiser steps (one batch per epoch: 30
epochs are 30 steps) and a large one many. Here every fit (the joint fit, each subject's
specialisation, the adaptation to a held-out subject) runs until its training loss converges:

- the loss is averaged over blocks of ``check_every_steps`` optimiser steps;
- the loss has reached a plateau when the median of the last ``patience_checks`` blocks is
  not below the median of the ``patience_checks`` blocks before them by ``rel_tol`` of it
  (two windows at the same learning rates: minibatch noise is smoothed over
  ``patience_checks × check_every_steps`` steps, and with medians one lucky or unlucky block
  neither stops nor prolongs the fit);
- at a plateau, and not before ``min_steps``, the learning rates of every parameter group are
  multiplied by ``lr_decay`` (a step decay, as ``torch.optim.lr_scheduler.ReduceLROnPlateau``
  does) and the windows start again after it; the plateau after ``lr_decays`` decays stops the
  fit (``converged``).

``max_steps`` and ``max_time_s`` bound the fit whatever happens; the reason it stopped
(``converged``, ``max_steps``, ``max_time``, or ``max_epochs`` when a trainer override set one)
is recorded with the steps taken, the block-mean loss history and each loss term's last
block mean (:meth:`ConvergenceStop.summary`).
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

__all__ = ["STOP_REASONS", "ConvergenceStop", "TrainingBudget", "stage_budget"]

log = logging.getLogger(__name__)

STOP_REASONS = ("converged", "max_steps", "max_time", "max_epochs", "interrupted")


@dataclass(frozen=True)
class TrainingBudget:
    """How long one fit may run and when it has converged (see the module doc).

    Attributes:
        max_steps: optimiser steps at most (>= 1).
        min_steps: steps before a plateau may act (>= 0; above ``max_steps``: never).
        max_time_s: wall time at most, s (> 0; None: no limit).
        check_every_steps: steps per block of the loss average (>= 1).
        patience_checks: blocks per window of the plateau rule (>= 1).
        rel_tol: relative improvement of a window's median on the window before that counts
            (0 <= rel_tol < 1).
        lr_decay: factor on every learning rate at a plateau (0 < lr_decay < 1).
        lr_decays: decays before a plateau stops the fit (>= 0).
    """

    max_steps: int
    min_steps: int = 0
    max_time_s: float | None = None
    check_every_steps: int = 25
    patience_checks: int = 4
    rel_tol: float = 0.01
    lr_decay: float = 0.3
    lr_decays: int = 2

    def __post_init__(self) -> None:
        checks = [
            ("max_steps", self.max_steps >= 1, ">= 1"),
            ("min_steps", self.min_steps >= 0, ">= 0"),
            ("max_time_s", self.max_time_s is None or self.max_time_s > 0, "> 0 or null"),
            ("check_every_steps", self.check_every_steps >= 1, ">= 1"),
            ("patience_checks", self.patience_checks >= 1, ">= 1"),
            ("rel_tol", 0 <= self.rel_tol < 1, "in [0, 1)"),
            ("lr_decay", 0 < self.lr_decay < 1, "in (0, 1)"),
            ("lr_decays", self.lr_decays >= 0, ">= 0"),
        ]
        bad = [f"{k} = {getattr(self, k)!r} (must be {rule})" for k, ok, rule in checks if not ok]
        if bad:
            raise ValueError("training budget: " + "; ".join(bad))

    @classmethod
    def from_mapping(cls, node: Mapping[str, Any], *, name: str = "budget") -> TrainingBudget:
        """A budget from a config node (e.g. ``budget.fit`` merged over ``budget.plateau``).

        Raises:
            ValueError: an unknown key, a missing ``max_steps`` or a value out of range, named
                with ``name`` (the config key).
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(node) - known)
        if unknown:
            raise ValueError(f"{name}: unknown keys {unknown} (known: {sorted(known)})")
        if node.get("max_steps") is None:
            raise ValueError(f"{name}.max_steps: required (optimiser steps at most)")
        casts = {"max_time_s": float, "rel_tol": float, "lr_decay": float}  # the rest: int
        try:  # absent keys keep the dataclass defaults (one place for them)
            kwargs = {
                k: None if v is None and k == "max_time_s" else casts.get(k, int)(v)
                for k, v in node.items()
            }
            return cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}: {e}") from e

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ConvergenceStop(Callback):
    """Stops a Lightning fit on a plateau of its training loss, or at its step or time limit.

    The module's ``training_step`` returns ``{"loss": total, "terms": (K,) detached terms}``;
    ``term_names`` names the K terms. The callback enforces ``max_steps`` itself (the
    trainer's own ``max_steps`` is left unset: with it set, Lightning 2.6 resumed an
    end-of-epoch checkpoint a few steps short). The callback's state (block means, the
    start of the current stage, decays, elapsed time) is saved in checkpoints, so a resumed fit
    continues the same rule.
    """

    def __init__(self, budget: TrainingBudget, term_names: Sequence[str] = ()) -> None:
        self.budget = budget
        self.term_names = tuple(term_names)
        self.history: list[tuple[int, float]] = []  # (step, block-mean loss)
        self.stage_start = 0  # index in history of the first block at the current rates
        self.decays = 0
        self.reason: str | None = None
        self.elapsed_before_s = 0.0  # wall time of earlier runs of a resumed fit
        self.last_terms: dict[str, float] = {}
        self.steps = 0
        self._sum: torch.Tensor | None = None
        self._terms: torch.Tensor | None = None
        self._count = 0
        self._t0 = time.perf_counter()

    # ------------------------------------------------------------------ Lightning hooks

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._t0 = time.perf_counter()
        self.reason = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss, terms = _loss_and_terms(outputs)
        if loss is None:
            return
        self._sum = loss if self._sum is None else self._sum + loss
        if terms is not None:
            self._terms = terms if self._terms is None else self._terms + terms
        self._count += 1
        step = int(trainer.global_step)
        if self._count >= self.budget.check_every_steps:
            self._check(trainer, step)
        if self.reason is not None:
            return
        if step >= self.budget.max_steps:
            self._stop(trainer, "max_steps")
        elif self.elapsed_s >= (self.budget.max_time_s or math.inf):
            self._stop(trainer, "max_time")

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.steps = int(trainer.global_step)
        if self._count:  # the last, partial block
            self._close_block(self.steps)
        if self.reason is None:
            if trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs:
                self.reason = "max_epochs"
            else:
                self.reason = "interrupted"
        log.info(
            "training stopped (%s) after %d steps, %.1f s: loss %s",
            self.reason,
            trainer.global_step,
            self.elapsed_s,
            f"{self.history[0][1]:.4g} -> {self.history[-1][1]:.4g}" if self.history else "n/a",
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": list(self.history),
            "stage_start": self.stage_start,
            "decays": self.decays,
            "elapsed_s": self.elapsed_s,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = [(int(s), float(v)) for s, v in state_dict.get("history", [])]
        self.stage_start = int(state_dict.get("stage_start", 0))
        self.decays = int(state_dict.get("decays", 0))
        self.elapsed_before_s = float(state_dict.get("elapsed_s", 0.0))

    # ------------------------------------------------------------------ the rule

    @property
    def elapsed_s(self) -> float:
        return self.elapsed_before_s + (time.perf_counter() - self._t0)

    def _close_block(self, step: int) -> float:
        mean = float(self._sum) / self._count
        if self._terms is not None:
            values = (self._terms / self._count).tolist()
            self.last_terms = dict(zip(self.term_names, values, strict=False))
        self.history.append((step, mean))
        self._sum, self._terms, self._count = None, None, 0
        return mean

    def _check(self, trainer: Trainer, step: int) -> None:
        mean = self._close_block(step)
        if not math.isfinite(mean):
            raise FloatingPointError(f"training loss is {mean} at step {step}")
        if step < self.budget.min_steps or not self._plateau():
            return
        if self.decays >= self.budget.lr_decays:
            self._stop(trainer, "converged")
            return
        self.decays += 1
        self.stage_start = len(self.history)
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                group["lr"] *= self.budget.lr_decay
        log.info(
            "loss plateau at step %d (%.4g): learning rates x %g", step, mean, self.budget.lr_decay
        )

    def _plateau(self) -> bool:
        """The last window's median is not ``rel_tol`` below the window's before it."""
        p = self.budget.patience_checks
        blocks = [v for _, v in self.history[self.stage_start :]]
        if len(blocks) < 2 * p:
            return False
        recent, before = statistics.median(blocks[-p:]), statistics.median(blocks[-2 * p : -p])
        return recent > before - self.budget.rel_tol * abs(before)

    def _stop(self, trainer: Trainer, reason: str) -> None:
        self.reason = reason
        trainer.should_stop = True

    def summary(self) -> dict[str, Any]:
        """Steps, stop reason, loss history (``[[step, block mean], ...]``), first and last
        block means, their ratio, and the loss terms' last block means."""
        first = self.history[0][1] if self.history else None
        last = self.history[-1][1] if self.history else None
        return {
            "stop_reason": self.reason,
            "steps": self.steps,
            "wall_s": self.elapsed_s,
            "lr_decays": self.decays,
            "loss_first_block": first,
            "loss_last_block": last,
            "loss_ratio": (last / first) if first and last is not None else None,
            "final_terms": dict(self.last_terms),
            "loss_history": [[s, v] for s, v in self.history],
            "budget": self.budget.as_dict(),
        }


def _loss_and_terms(outputs: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    if isinstance(outputs, Mapping):
        loss = outputs.get("loss")
        terms = outputs.get("terms")
    else:
        loss, terms = outputs, None
    if loss is None:
        return None, None
    return loss.detach(), None if terms is None else terms.detach()


def stage_budget(node: Mapping[str, Any], stage: str) -> TrainingBudget:
    """The budget of one stage (``fit``, ``specialise``, ``adapt``) of a ``budget`` node: its
    own keys over the node's shared ``plateau`` keys (``conf/budget/default.yaml``).

    Raises:
        ValueError: no such stage, or a bad value (named ``budget.<stage>.<key>``).
    """
    if stage not in node or node[stage] is None:
        raise ValueError(
            f"budget.{stage}: missing (stages: {sorted(k for k in node if k != 'plateau')})"
        )
    merged = {**dict(node.get("plateau") or {}), **dict(node[stage])}
    return TrainingBudget.from_mapping(merged, name=f"budget.{stage}")
