"""A tiny causal NMM trained on one subject of the default cohort (``nmm-train model=tiny
model.causal=true subject=S01``, seconds): a session fixture, registered once by
``tests/conftest.py``, that the estimator's, the engine's and the app's tests share."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from tests.jobs.conftest import train_fast

#: The subject the causal run is fitted on.
CAUSAL_SUBJECT = "S01"


def loaded_movement(cohort):
    """The first movement trial with a load in the hand of ``cohort``."""
    return next(t for t in cohort if t.metadata.get("kind") == "movement" and t.load.mass_kg)


@pytest.fixture(scope="session")
def causal_run(tmp_path_factory, arm26_osim) -> Path:
    """The run folder of a tiny causal ``nmm-train`` on S01 (one epoch, per-subject protocol,
    no outputs written but the model's)."""
    from nmm.jobs.train import run_train

    run = tmp_path_factory.mktemp("causal_run")
    overrides = [
        *train_fast(tmp_path_factory.mktemp("geometry")),
        "model.causal=true",
        f"subject={CAUSAL_SUBJECT}",
        f"run_dir={run}",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_train(cfg)
    finally:
        torch.set_num_threads(before)
    return run
