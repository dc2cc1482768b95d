"""Shared fixtures: the shared recordings and models, found through one setting each."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """$NMM_SHARED_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("NMM_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()


def shared_models_dir() -> Path:
    """$NMM_SHARED_MODELS, else the `models` folder beside the shared data."""
    return Path(os.environ.get("NMM_SHARED_MODELS", shared_data_dir().parent / "models")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared recordings not found at {path} (set NMM_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def pyomeca_dir(shared_data: Path) -> Path:
    path = shared_data / "pyomeca-upper-limb"
    if not path.is_dir():
        pytest.skip(f"pyomeca recording not found at {path}")
    return path


@pytest.fixture(scope="session")
def uci_dir(shared_data: Path) -> Path:
    path = shared_data / "uci-lower-limb"
    if not path.is_dir():
        pytest.skip(f"UCI lower-limb recordings not found at {path}")
    return path


@pytest.fixture(scope="session")
def arm26_osim() -> Path:
    path = shared_models_dir() / "arm26.osim"
    if not path.is_file():
        pytest.skip(f"arm26.osim not found at {path} (set NMM_SHARED_MODELS)")
    return path
