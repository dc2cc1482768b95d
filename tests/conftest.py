"""Shared fixtures: the shared recordings and models, found through one setting each."""

from __future__ import annotations

from pathlib import Path

import pytest

from nmm.data.sources import shared_data_root, shared_models_root
from tests.causal_run import causal_run  # noqa: F401 - one session fixture for every folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return existing(shared_data_root(), "shared recordings")


def existing(path: Path, what: str, setting: str = "NMM_SHARED_DATA") -> Path:
    """`path` if it exists, else skip the test saying what is missing and which setting finds it."""
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (set {setting})")
    return path


@pytest.fixture(scope="session")
def pyomeca_dir(shared_data: Path) -> Path:
    return existing(shared_data / "pyomeca-upper-limb", "pyomeca recording")


@pytest.fixture(scope="session")
def uci_dir(shared_data: Path) -> Path:
    return existing(shared_data / "uci-lower-limb", "UCI lower-limb recordings")


@pytest.fixture(scope="session")
def arm26_osim() -> Path:
    return existing(shared_models_root() / "arm26.osim", "arm26.osim", "NMM_SHARED_MODELS")
