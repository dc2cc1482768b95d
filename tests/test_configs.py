"""Every config composes, and the components it names can be built."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nmm.config import CONF_DIR

GROUPS = [
    "data",
    "preprocess",
    "model",
    "physics",
    "trainer",
    "painsig",
    "experiment",
    "mse",
    "subject",
    "fold",
]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


# the app whose config holds each group (the rest are in the demo's, i.e. the pipeline's)
APP_OF_GROUP = {"painsig": "painsig_run"}


def compose_demo(overrides: list[str], config: str = "demo"):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=config, overrides=overrides, return_hydra_config=True)


def test_every_group_has_options():
    for group in GROUPS:
        assert options(group), f"conf/{group}/ is empty"


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes_and_resolves(group, option):
    overrides = [f"{group}={option}"]
    if option in ("folder",):
        overrides.append("data.path=/tmp/nowhere")
    if option == "csv":
        overrides += ["data.csv=/tmp/a.csv", "data.schema=/tmp/a.yaml"]
    cfg = compose_demo(overrides, APP_OF_GROUP.get(group, "demo"))
    OmegaConf.resolve(cfg)  # every interpolation resolves
    assert cfg.seed == 0


@pytest.mark.parametrize("option", options("preprocess"))
def test_preprocess_chains_instantiate(option):
    cfg = compose_demo([f"preprocess={option}"])
    for stream in ("emg", "kinematics"):
        chain = instantiate(cfg.preprocess[stream])
        assert all(callable(step) for step in chain.steps)


@pytest.mark.parametrize("option", ["cpu", "gpu", "ddp"])
def test_trainer_configs_target_lightning(option):
    cfg = compose_demo([f"trainer={option}"])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if option == "cpu":
        trainer = instantiate(
            cfg.trainer, logger=False, enable_checkpointing=False, default_root_dir="/tmp"
        )
        assert trainer.accelerator.__class__.__name__ == "CPUAccelerator"


def test_data_sources_build_real_cohorts(shared_data):
    # the elbow pipeline reads the pyomeca trial; the knee recordings feed the pain signature
    for option, config, n_subjects in (("pyomeca", "demo", 1), ("uci", "painsig_run", 22)):
        cfg = compose_demo([f"data={option}", f"paths.shared_data={shared_data}"], config)
        cohort = instantiate(cfg.data)
        assert len(cohort.subjects) == n_subjects
