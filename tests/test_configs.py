"""Every config composes, and the components it names can be built."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nmm.config import CONF_DIR

GROUPS = ["data", "preprocess", "model", "physics", "trainer", "painsig", "experiment"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def compose_demo(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="demo", overrides=overrides, return_hydra_config=True)


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
    cfg = compose_demo(overrides)
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
    for option, n_subjects in (("pyomeca", 1), ("uci", 22)):
        cfg = compose_demo([f"data={option}", f"paths.shared_data={shared_data}"])
        cohort = instantiate(cfg.data)
        assert len(cohort.subjects) == n_subjects


def test_demo_runs_end_to_end(tmp_path, shared_data):
    run_dir = tmp_path / "demo"
    fast_painsig = (
        "demo.painsig_overrides=['experiment=uci_painsig','painsig.evaluation.n_permutations=2',"
        "'painsig.evaluation.n_boot=50','painsig.classifier.n_estimators=20']"
    )
    command = [
        sys.executable,
        "-m",
        "scripts.demo",
        f"run_dir={run_dir}",
        f"paths.shared_data={shared_data}",
        fast_painsig,
    ]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=300, cwd=Path(CONF_DIR).parent
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["seed"] == 0
    assert metrics["data"]["dataset_roundtrip_exact"] is True
    trial = metrics["data"]["trials"][0]
    assert trial["kinematics_rate_hz"] == 100.0
    assert (run_dir / "config.yaml").is_file()
    assert all(Path(f).is_file() for f in metrics["data"]["figures"])
    pain = metrics["painsig_uci"]
    assert pain["cv"] == "logo" and pain["n_subjects"] == 22
    assert pain["n_permutations"] == 2
    assert pain["balanced_accuracy_ci"][0] <= pain["balanced_accuracy"]
    assert (run_dir / "painsig_uci" / "figures" / "shap_beeswarm.png").is_file()
