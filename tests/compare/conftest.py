"""Fixtures of the comparison tests: those of the synergy-extrapolation tests (the composed
config with the ``mse`` group, the torch elbow of arm26, one torch thread)."""

from tests.synergy.conftest import _one_thread, elbow, synx_cfg

__all__ = ["_one_thread", "elbow", "synx_cfg"]
