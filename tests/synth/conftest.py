"""Helpers of the synthetic-cohort tests: compose `conf/synth.yaml` with overrides, and convert
its `synth` node at the boundary as the apps do (plain mapping, settings)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from nmm.config import CONF_DIR
from nmm.synth.settings import SynthSettings


def synth_config(osim: Path | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """The full `synth` app config with `synth=tiny` (figures off) and the given overrides."""
    extra = [f"synth.osim={osim}"] if osim is not None else []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="synth", overrides=["synth=tiny", *extra, *overrides])


def plain_synth(cfg: DictConfig) -> dict[str, Any]:
    """The `synth` node of an app config as a plain mapping (interpolations resolved)."""
    return OmegaConf.to_container(cfg.synth, resolve=True)


def synth_settings(osim: Path | None = None, overrides: Sequence[str] = ()) -> SynthSettings:
    """:class:`SynthSettings` of :func:`synth_config`."""
    return SynthSettings.from_mapping(plain_synth(synth_config(osim, overrides)))
