"""Helpers of the synthetic-cohort tests: compose `conf/synth.yaml` with overrides."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from nmm.config import CONF_DIR


def synth_config(osim: Path | None = None, overrides: Sequence[str] = ()) -> DictConfig:
    """The full `synth` app config with `synth=tiny` (figures off) and the given overrides."""
    extra = [f"synth.osim={osim}"] if osim is not None else []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="synth", overrides=["synth=tiny", *extra, *overrides])
