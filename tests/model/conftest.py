"""Fixtures of the NMM tests: the tiny configs, the torch elbow and a toy cohort (seconds)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from nmm.data.sources import shared_models_root

# Lightning's tips and its LeafSpec deprecation under torch 2.13 (shared/STACK.md)
warnings.filterwarnings("ignore", message=".*LeafSpec.*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread, as nmm-train runs (``threads: 1``; the activation loop of small ops
    is many times slower with two threads on a busy 2-core machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def compose_train(overrides: list[str] | None = None, geometry_cache: Path | None = None):
    """``conf/train.yaml`` with the tiny model, no progress bar and a test geometry cache."""
    base = [
        "model=tiny",
        f"paths.shared_models={shared_models_root()}",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "logger=csv",
        "datamodule.batch_size=8",
        "budget.specialise.max_steps=2",
        "budget.adapt.max_steps=2",
    ]
    if geometry_cache is not None:
        base.append(f"geometry_cache={geometry_cache}")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=base + list(overrides or []))


@pytest.fixture(scope="session")
def geometry_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("geometry")


@pytest.fixture(scope="session")
def tiny_cfg(arm26_osim, geometry_cache):
    return compose_train(geometry_cache=geometry_cache)


@pytest.fixture(scope="session")
def elbow(tiny_cfg):
    from nmm.jobs.nmm_setup import build_elbow

    return build_elbow(tiny_cfg)


@pytest.fixture(scope="session")
def toy(tiny_cfg, elbow):
    """(cohort, truth) of 2 subjects x loads 0 and 2 kg, one 2.5 s trial each."""
    from nmm.model.toy import make_toy_cohort
    from nmm.physics.parameters import PersonalisedParameters

    table = PersonalisedParameters.from_config(
        tiny_cfg.physics, 2, elbow.muscle_parameters, elbow.muscle_names
    ).to(torch.float32)
    return make_toy_cohort(elbow, table, n_subjects=2, loads_kg=(0.0, 2.0), duration_s=2.5)


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory, toy) -> Path:
    """The toy cohort written as dataset/ + ground_truth/ (synthetic-cohort layout)."""
    from nmm.model.toy import write_toy_cohort

    return write_toy_cohort(tmp_path_factory.mktemp("toy"), *toy)


@pytest.fixture(scope="session")
def toy_trials(tiny_cfg, elbow, toy):
    from nmm.jobs.nmm_setup import prepared_trials

    return prepared_trials(tiny_cfg, toy[0], elbow)
