"""The NMM in causal mode: the encoder's causal mask, the causal reconstruction (windows ending at
each stream update) and the physics run block by block, each against a direct computation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from nmm.jobs.nmm_setup import model_settings, training_setup
from nmm.model.causal import StreamingPhysics, causal_envelopes, update_blocks
from nmm.model.encoder import NMMEncoder
from nmm.model.features import input_features
from nmm.model.reconstruct import reconstruct
from nmm.model.train import build_module, bundle, feature_spec

from .conftest import compose_train


def _net(causal: bool) -> NMMEncoder:
    torch.manual_seed(0)
    return NMMEncoder(5, 6, d_model=16, n_heads=2, n_layers=2, dim_feedforward=32, causal=causal)


def test_a_causal_encoder_ignores_later_samples_and_a_window_from_0_gives_its_prefixes():
    net = _net(True).eval()
    x = torch.randn(2, 60, 5)
    changed = x.clone()
    changed[:, 40:] += torch.randn(2, 20, 5)
    with torch.no_grad():
        y, y_changed, prefix = net(x), net(changed), net(x[:, :23])
    assert torch.equal(y[:, :40], y_changed[:, :40])
    assert not torch.allclose(y[:, 40:], y_changed[:, 40:])
    torch.testing.assert_close(prefix, y[:, :23], atol=1e-6, rtol=0)


def test_the_offline_encoder_still_looks_ahead():
    net = _net(False).eval()
    x = torch.randn(1, 30, 5)
    changed = x.clone()
    changed[:, 20:] += 1.0
    with torch.no_grad():
        assert not torch.allclose(net(x)[:, :20], net(changed)[:, :20])


def test_update_blocks_cover_every_sample_once():
    assert update_blocks(7, 2) == [(0, 2), (2, 4), (4, 6), (6, 7)]
    assert update_blocks(1, 2) == [(0, 1)]
    assert update_blocks(6, 3) == [(0, 3), (3, 6)]


@pytest.mark.parametrize("n", [17, 80])
def test_causal_envelopes_are_each_update_s_window_ending_there(n):
    net, window, hop = _net(True).eval(), 24, 5
    x = np.random.default_rng(1).normal(size=(n, 5)).astype(np.float32)
    got = causal_envelopes(net, x, window, hop, batch_size=3)
    want = np.zeros_like(got)
    with torch.no_grad():
        for s, e in update_blocks(n, hop):
            y = net(torch.from_numpy(x[max(0, e - window) : e])[None])[0].double().numpy()
            want[s:e] = y[-(e - s) :]
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="causal"):
        causal_envelopes(_net(False), x, window, hop)


def test_the_physics_block_by_block_equals_one_pass(tiny_cfg, elbow, toy_trials):
    module = build_module(training_setup(tiny_cfg), elbow, ["a", "b"])
    physics = module.physics
    with torch.no_grad():  # parameters away from their initial values, delays of 1-7 samples
        physics.parameters_table.raw.add_(torch.randn_like(physics.parameters_table.raw))
    trial = toy_trials[0]
    env = np.random.default_rng(2).uniform(0, 1, size=(trial.n_samples, 6))
    with torch.no_grad():
        whole = physics(
            torch.tensor(env, dtype=torch.float32)[None],
            [1],
            torch.tensor(trial.angle, dtype=torch.float32)[None],
            torch.tensor(trial.velocity, dtype=torch.float32)[None],
        )
    stream = StreamingPhysics(physics, 1)
    assert stream.context >= 2
    rng = np.random.default_rng(3)
    parts, start = [], 0
    while start < trial.n_samples:
        stop = min(trial.n_samples, start + int(rng.integers(1, 40)))
        parts.append(stream(env[start:stop], trial.angle[start:stop], trial.velocity[start:stop]))
        start = stop
    excitation, activation, torque = (np.concatenate(p) for p in zip(*parts, strict=True))
    np.testing.assert_allclose(excitation, whole.excitation[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(activation, whole.activation[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(torque, whole.torque[0].numpy(), atol=1e-4, rtol=1e-5)


def test_model_causal_makes_a_causal_network_and_reconstruction(geometry_cache, elbow, toy_trials):
    cfg = compose_train(["model.causal=true"], geometry_cache)
    settings = model_settings(cfg)
    assert settings.causal and settings.hop_s == pytest.approx(0.02)
    assert cfg.preprocess.causal  # one key: the recordings are filtered causally too
    assert all(step.causal for step in training_setup(cfg).components.emg.steps)
    setup = training_setup(cfg)
    module = build_module(setup, elbow, sorted({t.subject for t in toy_trials}))
    assert module.net.causal
    b = bundle(setup.settings, module)
    assert b.causal_hop == 2
    trial = toy_trials[0]
    rec = reconstruct(
        b.module.net,
        b.module.physics,
        0,
        trial,
        b.spec,
        b.window,
        b.stride,
        causal_hop=b.causal_hop,
    )
    x = input_features(trial, b.spec, b.muscles)
    hidden = list(b.hidden)
    direct = causal_envelopes(b.module.net, x, b.window, b.causal_hop)
    np.testing.assert_array_equal(rec.envelopes[:, hidden], direct[:, hidden])
    offline = compose_train([], geometry_cache)
    assert not offline.preprocess.causal
    assert not instantiate(offline.model.net, n_inputs=3, n_outputs=2).causal
    assert bundle(model_settings(offline), module).causal_hop is None


@pytest.mark.parametrize(
    ("override", "message"),
    [("model.causal=maybe", "expected true or false"), ("model.hop_s=0", "expected a number > 0")],
)
def test_a_bad_causal_setting_is_refused_naming_its_key(geometry_cache, override, message):
    from nmm.jobs.config_check import ConfigError, check_config

    key = override.split("=")[0]
    with pytest.raises(ConfigError, match=rf"'{key}'.*{message}"):
        check_config(compose_train([override], geometry_cache), "train")


def test_a_causal_model_reads_causal_envelopes_and_learns_zero_phase_targets(geometry_cache, elbow):
    from nmm.jobs.synthetic_source import synthetic_cohort
    from nmm.model.train import prepare_cohort

    cohort = synthetic_cohort().select(subject="S01")
    causal_cfg = compose_train(["model.causal=true"], geometry_cache)
    setup = training_setup(causal_cfg)
    assert setup.components.emg_targets is not None
    (trial, *_) = prepare_cohort(cohort, setup.settings, setup.components, elbow)
    offline = training_setup(compose_train([], geometry_cache))
    assert offline.components.emg_targets is None
    (zero_phase, *_) = prepare_cohort(cohort, offline.settings, offline.components, elbow)
    inputs_only = dataclasses.replace(setup.components, emg_targets=None)
    (causal, *_) = prepare_cohort(cohort, setup.settings, inputs_only, elbow)
    np.testing.assert_array_equal(trial.envelopes, zero_phase.envelopes)
    np.testing.assert_array_equal(trial.input_envelopes, causal.envelopes)
    assert (
        causal.input_envelopes is None and np.abs(causal.envelopes - trial.envelopes).max() > 0.01
    )
    x = input_features(trial, feature_spec(setup.settings), setup.settings.muscles)
    np.testing.assert_array_equal(
        x, input_features(causal, feature_spec(setup.settings), setup.settings.muscles)
    )
