"""Fixtures of the synergy-extrapolation tests: the real config and the torch elbow of arm26."""

from __future__ import annotations

import pytest
import torch

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
    from nmm.model.train import build_elbow

    return build_elbow(synx_cfg)
