"""What every run directory holds: the resolved config, metrics.json, and the seed."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_path, atomic_write_json, atomic_write_text


def seed_everything(seed: int) -> int:
    """Seed Python, NumPy and torch; returns the seed for recording."""
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import torch  # imported here so the data layer does not pay torch's import time

    torch.manual_seed(seed)
    return seed


def write_config(cfg: DictConfig, run_dir: str | os.PathLike[str]) -> Path:
    """The fully resolved config as `config.yaml` in the run directory."""
    return atomic_write_text(Path(run_dir) / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))


def write_metrics(metrics: dict[str, Any], run_dir: str | os.PathLike[str]) -> Path:
    """`metrics.json` in the run directory, written atomically."""
    return atomic_write_json(Path(run_dir) / "metrics.json", metrics)


def subject_checkpoints(folder: str | os.PathLike[str]) -> Callable[[Sequence[str], Any], None]:
    """A writer of adapted models (:data:`nmm.model.adapt.SaveAdapted`): the model of one
    subject as ``<folder>/<subject>.ckpt``, written atomically by its Lightning trainer."""

    def save(subject_ids: Sequence[str], trainer: Any) -> None:
        (subject,) = subject_ids
        with atomic_path(Path(folder) / f"{subject}.ckpt") as tmp:
            trainer.save_checkpoint(str(tmp))

    return save
