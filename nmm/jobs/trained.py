"""A trained NMM read back from its ``nmm-train`` run folder (:func:`load_trained`), for
``nmm-predict`` (:mod:`nmm.jobs.predict`) and the tests."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nmm.jobs.nmm_setup import build_elbow, training_setup
from nmm.model.checkpoint import read_checkpoint
from nmm.model.train import NMMBundle, build_module, bundle

__all__ = ["load_trained"]


def load_trained(
    model_dir: str | Path, checkpoint: str | Path | None = None
) -> tuple[DictConfig, NMMBundle]:
    """The trained NMM of an ``nmm-train`` run directory: ``(train config, NMMBundle)``, the
    model built from the run's ``config.yaml`` with the weights of ``checkpoint`` (default
    ``model.ckpt``).

    Raises:
        FileNotFoundError: the run directory has no ``config.yaml`` or checkpoint.
        ValueError: the checkpoint holds anything but tensors and plain containers, or is not
            an NMM's (:func:`nmm.model.checkpoint.read_checkpoint`).
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
    subject_ids, state = read_checkpoint(ckpt)
    setup = training_setup(train_cfg)
    module = build_module(setup, build_elbow(train_cfg), subject_ids)
    module.load_state_dict(state)
    module.eval()
    return train_cfg, bundle(setup.settings, module)
