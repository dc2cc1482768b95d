"""Fixtures of the synergy-extrapolation tests: the real config, the torch elbow of arm26 and
settings from ``conf/mse/synx.yaml`` with some options changed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from nmm.config import CONF_DIR
from nmm.synergy.settings import SynXSettings
from tests.model.conftest import compose_train


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread, as the jobs run (``threads: 1``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def synx_cfg(arm26_osim, tmp_path_factory):
    """``conf/train.yaml`` with the ``mse`` group added (what nmm-compare composes)."""
    return compose_train(["+mse=synx"], geometry_cache=tmp_path_factory.mktemp("geometry"))


@pytest.fixture(scope="session")
def elbow(synx_cfg):
    from nmm.jobs.nmm_setup import build_elbow

    return build_elbow(synx_cfg)


def synx_options(changes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``conf/mse/synx.yaml`` on its own (its parameter prior, an interpolation into the
    model's, falls back to 0.25) merged with ``changes``, as plain containers."""
    node = OmegaConf.merge(
        OmegaConf.load(Path(CONF_DIR) / "mse" / "synx.yaml"), OmegaConf.create(dict(changes or {}))
    )
    return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def settings() -> Callable[..., SynXSettings]:
    """``settings(changes)``: :class:`SynXSettings` of ``conf/mse/synx.yaml`` with ``changes``."""

    def make(changes: Mapping[str, Any] | None = None) -> SynXSettings:
        return SynXSettings.from_mapping(synx_options(changes))

    return make
