"""The ONNX export of the NMM (nmm.model.onnx_export): onnxruntime gives torch's envelopes and
muscle torque on the default cohort's windows, a causal graph ignores later samples, the input
columns the sidecar states feed the graph, and the latency probe times every window."""

from __future__ import annotations

import copy

import numpy as np
import onnx
import pytest
import torch

from nmm.jobs.nmm_setup import load_cohort, prepared_trials
from nmm.jobs.train import run_train
from nmm.jobs.trained import load_trained
from nmm.model.features import input_features, window_starts
from nmm.model.onnx_export import (
    ENCODER_INPUTS,
    OPSET,
    PHYSICS_OUTPUTS,
    encoder_parity,
    export_encoder,
    export_physics,
    export_windows,
    feature_columns,
    inference_session,
    physics_parity,
    window_latency,
)

from .conftest import compose_train


@pytest.fixture(scope="module")
def trained(tmp_path_factory, geometry_cache, arm26_osim):
    """A tiny causal NMM fitted for two steps on the default cohort, its prepared trials and
    every window of them (the run's window and stride)."""
    run = tmp_path_factory.mktemp("causal_run")
    cfg = compose_train(
        [
            "model.causal=true",
            "trainer.max_epochs=1",
            "budget.fit.max_steps=2",
            "logger=none",
            "callbacks=none",
            "evaluate.protocols=[]",
            "specialise.enabled=false",
            f"run_dir={run}",
        ],
        geometry_cache,
    )
    run_train(cfg)
    train_cfg, b = load_trained(run)
    cohort, _ = load_cohort(train_cfg)
    trials = prepared_trials(train_cfg, cohort, b.module.physics.elbows, every_kind=True)
    return b, trials, export_windows(trials, b.spec, b.muscles, b.window, b.stride)


@pytest.fixture(scope="module")
def elbow_graph(trained, tmp_path_factory):
    """Row 1's personalised elbow exported: (graph file, row)."""
    b, _, _ = trained
    row = 1
    folder = tmp_path_factory.mktemp("elbow")
    return export_physics(b.module.physics, row, b.window, folder / "elbow.onnx"), row


def _net(b, causal: bool) -> torch.nn.Module:
    net = copy.deepcopy(b.module.net)
    net.causal = causal  # the same weights, attention masked or not
    return net


@pytest.mark.parametrize("causal", [True, False])
def test_the_encoder_graph_gives_torchs_envelopes_on_the_default_cohort(trained, tmp_path, causal):
    b, _, windows = trained
    assert b.module.net.causal and len(windows.features) > 100
    net = _net(b, causal)
    path = export_encoder(net, b.spec.n_features, b.window, tmp_path / "model.onnx")
    assert onnx.load(str(path)).opset_import[0].version == OPSET
    session = inference_session(path)
    (features,) = session.get_inputs()
    assert features.name == ENCODER_INPUTS[0]
    assert features.shape == ["batch", b.window, b.spec.n_features]  # batch dynamic
    # every window, in batches of 64 and the remainder
    assert encoder_parity(net, session, windows.features) <= 1e-5


def test_the_causal_graph_ignores_later_samples(trained, tmp_path):
    b, _, windows = trained
    k = b.window // 2
    x = windows.features[:1]
    later = x.copy()
    later[0, k:] += 1.0
    change = {}
    for causal in (True, False):
        path = export_encoder(_net(b, causal), b.spec.n_features, b.window, tmp_path / "m.onnx")
        session = inference_session(path)
        y, y_later = (session.run(None, {"features": v})[0] for v in (x, later))
        change[causal] = float(np.abs(y_later - y)[0, :k].max())
    assert change[True] == 0.0
    assert change[False] > 1e-4  # the offline encoder looks ahead


def test_the_elbow_graph_gives_torchs_muscle_torque(trained, elbow_graph):
    b, _, windows = trained
    path, row = elbow_graph
    subject = b.module.subject_ids[row]
    session = inference_session(path)
    assert [o.name for o in session.get_outputs()] == list(PHYSICS_OUTPUTS)
    own = windows.of_subject(subject)
    assert set(own.subjects) == {subject} and len(own.features) > 10
    diff, peak = physics_parity(b.module.net, b.module.physics, row, session, own)
    assert peak > 5.0  # N·m: the windows load the elbow
    assert diff <= 1e-5 * peak
    feeds = {"envelopes": own.envelopes[:4], "angle": own.angle[:4], "velocity": own.velocity[:4]}
    _, activation = session.run(None, feeds)
    assert activation.shape == (4, b.window, len(b.muscles))
    assert activation.min() >= 0.0 and activation.max() <= 1.0


def test_the_stated_columns_build_the_graphs_input(trained):
    """What the sidecar says of each column (kind, unit, scale) is enough to build the input:
    value in that unit × scale, envelopes by muscle name."""
    b, trials, _ = trained
    trial = trials[0]
    columns = feature_columns(b.spec)
    assert [c["name"] for c in columns] == b.spec.names
    by_name = {c["name"]: c for c in columns}
    assert by_name["velocity"] == {
        "name": "velocity",
        "kind": "velocity",
        "unit": "rad/s",
        "scale": 0.2,  # conf/model/pinn.yaml input_scales
    }
    raw = {"angle": trial.angle, "velocity": trial.velocity, "acceleration": trial.acceleration}
    raw["load"] = np.full(trial.n_samples, trial.load_kg)
    built = []
    for c in columns:
        if c["kind"] == "measured_envelopes":
            muscle = str(c["name"]).removeprefix("envelope_")
            built.append(trial.recorded_envelopes[:, b.muscles.index(muscle)])
        else:
            built.append(raw[c["kind"]] * c["scale"])
    np.testing.assert_allclose(
        np.column_stack(built), input_features(trial, b.spec, b.muscles), rtol=1e-6, atol=1e-7
    )


def test_the_windows_cover_every_trial_as_the_run_cuts_them(trained):
    b, trials, windows = trained
    long = [t for t in trials if t.n_samples >= b.window]
    counts = [len(window_starts(t.n_samples, b.window, b.stride)) for t in long]
    assert len(windows.features) == sum(counts) == len(windows.subjects)
    first = input_features(long[0], b.spec, b.muscles)
    np.testing.assert_array_equal(windows.features[0], first[: b.window])
    np.testing.assert_array_equal(windows.features[counts[0] - 1], first[-b.window :])
    with pytest.raises(ValueError, match="no trial has a window"):
        export_windows(trials, b.spec, b.muscles, 10**6, b.stride)


def test_window_latency_times_each_window_on_one_thread(trained, elbow_graph, tmp_path):
    b, _, windows = trained
    path = export_encoder(b.module.net, b.spec.n_features, b.window, tmp_path / "model.onnx")
    lat = window_latency(path, windows.features[:20], warmup=2)
    assert lat.n_windows == 20 and lat.threads == 1
    assert 0.0 < lat.p50_ms <= lat.p99_ms <= lat.max_ms
    assert set(lat.to_dict()) == {"n_windows", "threads", "p50_ms", "p99_ms", "max_ms", "mean_ms"}
    elbow, _ = elbow_graph
    feeds = {"envelopes": windows.envelopes, "angle": windows.angle, "velocity": windows.velocity}
    assert window_latency(elbow, {k: v[:3] for k, v in feeds.items()}, warmup=1).n_windows == 3
    with pytest.raises(ValueError, match="no window"):
        window_latency(path, windows.features[:0])
    with pytest.raises(ValueError, match="window"):
        export_encoder(b.module.net, b.spec.n_features, 0, tmp_path / "bad.onnx")
