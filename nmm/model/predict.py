"""A trained NMM read back from its run folder (:func:`load_trained`), for ``nmm-predict``
(:mod:`nmm.jobs.predict`) and for evaluation."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from nmm.model.train import (
    build_elbow,
    build_module,
    bundle,
)

__all__ = ["load_trained"]

log = logging.getLogger(__name__)


def load_trained(model_dir: str | Path, checkpoint: str | Path | None = None) -> tuple[Any, Any]:
    """The trained NMM of an ``nmm-train`` run directory: ``(train config, NMMBundle)``.

    Raises:
        FileNotFoundError: the run directory has no ``config.yaml`` or checkpoint.
        ValueError: the checkpoint holds anything but tensors and plain containers (it is
            read with ``weights_only=True``: no code in a file runs), or is not an NMM's.
    """
    model_dir = Path(model_dir)
    cfg_path = model_dir / "config.yaml"
    ckpt = Path(checkpoint) if checkpoint else model_dir / "model.ckpt"
    for p in (cfg_path, ckpt):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p}: not found; model_dir must be a run directory written by nmm-train"
            )
    train_cfg = OmegaConf.load(cfg_path)
    try:  # tensors and plain containers only: a checkpoint's pickle may not run code
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{ckpt}: refused, it holds objects other than tensors and plain containers "
            f"(checkpoints are loaded with weights_only=True; {str(exc).splitlines()[0]})"
        ) from exc
    meta = state.get("nmm", {})
    if "subject_ids" not in meta:
        raise ValueError(f"{ckpt}: not an NMM checkpoint (no 'nmm' metadata)")
    elbow = build_elbow(train_cfg)
    module = build_module(train_cfg, elbow, meta["subject_ids"])
    module.load_state_dict(state["state_dict"])
    module.eval()
    return train_cfg, bundle(train_cfg, module)
