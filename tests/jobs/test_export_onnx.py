"""nmm-export-onnx (nmm.jobs.export_onnx): a trained causal run's graphs and sidecar, checked
against torch; a subject's export takes its own network; bad input is refused before any file."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from nmm.jobs.config_check import ConfigError
from nmm.jobs.export_onnx import SIDECAR, run_export_onnx
from nmm.jobs.sweep import run_job
from nmm.jobs.train import run_train
from nmm.jobs.trained import load_trained
from nmm.model.onnx_export import inference_session

from .conftest import train_fast


def _compose(name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.fixture(scope="module")
def run(tmp_path_factory, geometry_cache, arm26_osim) -> Path:
    """A tiny causal nmm-train run on the default cohort (two steps), each subject's network
    specialised (one step)."""
    run = tmp_path_factory.mktemp("train")
    fast = [o for o in train_fast(geometry_cache) if not o.startswith("fold=")]
    extra = ["model.causal=true", "budget.fit.max_steps=2", "evaluate.protocols=[]"]
    torch.set_num_threads(1)
    run_train(_compose("train", [*fast, *extra, "specialise.enabled=true", f"run_dir={run}"]))
    return run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_export_writes_graphs_and_a_sidecar_that_feeds_them(run, tmp_path):
    out = tmp_path / "onnx"
    overrides = [f"run={run}", f"out={out}", "physics_graphs=false", "check.latency_windows=20"]
    cfg = _compose("export_onnx", overrides)
    run_job(cfg, run_export_onnx, app="export_onnx")  # config checked, folder locked
    metrics = json.loads((out / "metrics.json").read_text())
    sidecar = json.loads((out / SIDECAR).read_text())
    _, b = load_trained(run)
    assert metrics["status"] == "completed" and metrics["causal"] is True
    assert sidecar["causal"] is True and sidecar["hop_samples"] == 2  # 20 ms at 100 Hz
    assert sidecar["opset"] == 17 == onnx.load(str(out / "model.onnx")).opset_import[0].version
    assert sidecar["rate_hz"] == 100.0 and sidecar["window_samples"] == b.window == 50
    assert sidecar["muscles"] == list(b.muscles) and sidecar["hidden"] == ["BRA", "TRImed"]
    assert [c["name"] for c in sidecar["features"]] == b.spec.names
    assert sidecar["preprocess"]["causal"] is True  # the chains a device must run
    mapped = {"biceps": ["BIClong", "BICshort"], "triceps": ["TRIlong", "TRIlat"]}
    assert sidecar["channel_map"] == mapped
    inputs = json.loads((run / "stream_inputs.json").read_text())
    assert sidecar["stream_inputs"] == {s: inputs[s] for s in b.module.subject_ids}
    assert set(inputs["S01"]["references"]) == set(inputs["S01"]["emg_channels"])
    assert sidecar["fingerprint"] == {
        "config.yaml": _sha(run / "config.yaml"),
        "model.ckpt": _sha(run / "model.ckpt"),
    }
    assert sidecar["physics"] == {} and metrics["subjects"] == []  # physics_graphs=false
    assert sidecar["encoder"]["sha256"] == _sha(out / sidecar["encoder"]["file"])
    session = inference_session(out / sidecar["encoder"]["file"])
    assert session.get_inputs()[0].shape == sidecar["encoder"]["inputs"]["features"]
    check = metrics["check"]
    assert check["windows"] > 100 and check["envelope_max_abs_diff"] <= 1e-5
    assert check["latency"]["encoder"]["n_windows"] == 20


def test_a_subjects_export_takes_its_own_network_and_elbow(run, tmp_path):
    out = tmp_path / "S02"
    overrides = [f"run={run}", f"out={out}", "subject_id=S02", "check.latency_windows=5"]
    metrics = run_export_onnx(_compose("export_onnx", overrides))
    sidecar = json.loads((out / SIDECAR).read_text())
    assert metrics["subjects"] == ["S02"] and list(sidecar["physics"]) == ["S02"]
    assert sidecar["fingerprint"]["subjects/S02.ckpt"] == _sha(run / "subjects" / "S02.ckpt")
    elbow = sidecar["physics"]["S02"]
    assert elbow["file"] == "physics/S02.onnx" and elbow["sha256"] == _sha(out / elbow["file"])
    torque = metrics["check"]["torque"]["S02"]  # on S02's windows only
    assert torque["peak_abs_nm"] > 5.0
    assert torque["max_abs_diff_nm"] <= 1e-5 * torque["peak_abs_nm"]
    assert metrics["check"]["latency"]["physics"]["n_windows"] == 5
    _, own = load_trained(run, run / "subjects" / "S02.ckpt")
    _, joint = load_trained(run)
    x = np.random.default_rng(0).normal(size=(2, own.window, own.spec.n_features))
    x = x.astype(np.float32)
    y = inference_session(out / "model.onnx").run(None, {"features": x})[0]
    with torch.no_grad():
        y_own, y_joint = (n.module.net(torch.from_numpy(x)).numpy() for n in (own, joint))
    assert np.abs(y - y_own).max() <= 1e-5
    assert np.abs(y - y_joint).max() > 1e-4  # specialised: not the joint network


def test_bad_input_is_refused_before_any_file(run, tmp_path):
    out = tmp_path / "onnx"
    cfg = _compose("export_onnx", [f"run={run}", f"out={out}", "subject_id=S09"])
    with pytest.raises(ValueError, match=rf"{re.escape(str(run))}: .*no subject 'S09'"):
        run_export_onnx(cfg)
    with pytest.raises(FileNotFoundError, match=r"config\.yaml"):
        run_export_onnx(_compose("export_onnx", [f"run={tmp_path}", f"out={out}"]))
    assert not out.exists()
    bad = _compose("export_onnx", [f"run={run}", f"out={out}", "check.latency_windows=-1"])
    with pytest.raises(ConfigError, match=r"check\.latency_windows"):
        run_job(bad, run_export_onnx, app="export_onnx")
    assert not out.exists()
