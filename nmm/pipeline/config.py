"""The sub-configs the pipeline composes for its stages (read by the pipeline and by the config
check, which must not import the pipeline's stages)."""

from __future__ import annotations

from omegaconf import DictConfig, open_dict

from nmm.config import compose_config

__all__ = ["painsig_config"]


def painsig_config(cfg: DictConfig) -> DictConfig:
    """The pain-signature config of the pipeline: ``pipeline.painsig.config`` composed with its
    ``overrides``, reading the same data as the NMM (its ``data`` option)."""
    node = cfg.pipeline.painsig
    overrides = [*node.get("overrides", []), f"seed={cfg.seed}"]
    pain = compose_config(str(node.config), overrides)
    with open_dict(pain):
        pain.paths = cfg.paths
        pain.data = cfg.data
    return pain
