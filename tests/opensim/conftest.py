"""Fixtures shared by the OpenSim tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nmm.config import CONF_DIR


@pytest.fixture(scope="module")
def physics(arm26_osim: Path) -> dict:
    """``conf/physics/arm26.yaml`` as a plain mapping, its ``osim`` the repository's arm26."""
    node = OmegaConf.load(Path(CONF_DIR) / "physics" / "arm26.yaml")
    node.osim = str(arm26_osim)
    return OmegaConf.to_container(node, resolve=False)
