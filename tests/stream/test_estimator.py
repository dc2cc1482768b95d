"""The stream estimator: a recorded trial pushed chunk by chunk (random sizes, 1 sample to
seconds) gives the offline causal reconstruction of that trial (nmm-predict's for a causal run),
and a run folder that cannot stream is refused, naming it."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nmm.config import CONF_DIR
from nmm.data.io.dataset import write_dataset
from nmm.data.io.sto import read_sto
from nmm.data.schema import Signal
from nmm.jobs.nmm_setup import prepared_trials
from nmm.jobs.predict import run_predict
from nmm.jobs.stream_model import (
    StreamModelError,
    load_stream_estimator,
    trial_stream_arrays,
)
from nmm.jobs.synthetic_source import synthetic_cohort
from nmm.jobs.trained import load_trained
from nmm.model.reconstruct import reconstruct
from nmm.stream.estimator import StreamEstimator
from tests.causal_run import CAUSAL_SUBJECT, loaded_movement


@pytest.fixture(scope="module")
def movement():
    cohort = synthetic_cohort().select(subject=CAUSAL_SUBJECT)
    trial = loaded_movement(cohort)
    return cohort, trial


def _offline(run, cohort, trial, train_cfg=None):
    """The offline causal reconstruction of ``trial`` by the subject's specialised network."""
    cfg, joint = load_trained(run)
    _, own = load_trained(run, run / "subjects" / f"{CAUSAL_SUBJECT}.ckpt")
    prepared = prepared_trials(train_cfg or cfg, cohort, own.module.physics.elbows, every_kind=True)
    p = next(x for x in prepared if x.trial_id == trial.trial_id)
    return reconstruct(
        own.module.net,
        own.module.physics,
        0,
        p,
        own.spec,
        own.window,
        own.stride,
        use_measured=own.use_measured,
        causal_hop=joint.causal_hop,
    )


def _stream(estimator: StreamEstimator, emg: np.ndarray, kin: np.ndarray, seed: int):
    """Push ``emg`` and ``kinematics`` in random chunks (EMG 1 sample to 2 s, kinematics as
    far as the EMG has come), updating after each; the updates concatenated."""
    rng = np.random.default_rng(seed)
    ratio = estimator.emg_rate_hz / estimator.kinematic_rate_hz
    i = j = 0
    updates = []
    while i < len(emg):
        i_next = min(len(emg), i + int(rng.choice([1, 7, 40, 333, 4000])))
        estimator.push_emg(emg[i:i_next])
        j_next = min(len(kin), int((i_next - 1) // ratio) + 1)
        if j_next > j:
            estimator.push_kinematics(kin[j:j_next])
        i, j = i_next, j_next
        updates.append(estimator.update())
    t, env, torque = (
        np.concatenate(x)
        for x in zip(*((u.t_s, u.envelopes, u.torque_nm) for u in updates), strict=True)
    )
    return t, env, torque


def test_a_trial_streamed_in_random_chunks_is_its_offline_causal_reconstruction(
    causal_run, movement
):
    cohort, trial = movement
    estimator = load_stream_estimator(causal_run, CAUSAL_SUBJECT, load_kg=trial.load.mass_kg)
    assert {"BRA", "TRImed"} <= set(estimator.muscles) and estimator.hidden == ("BRA", "TRImed")
    assert estimator.out_rate_hz == 100.0 and estimator.emg_rate_hz == 2000.0
    empty = estimator.update()
    assert empty.t_s.shape == (0,) and empty.envelopes.shape == (0, len(estimator.muscles))
    emg, kin = trial_stream_arrays(trial, estimator)
    assert emg.shape[1] == len(estimator.emg_channels) and kin.shape[1] == 3
    t, env, torque = _stream(estimator, emg, kin, seed=0)
    rec = _offline(causal_run, cohort, trial)
    n = len(t)
    assert n == rec.trial.n_samples - rec.trial.n_samples % 2  # every whole 20 ms update
    np.testing.assert_allclose(t, rec.trial.time[:n], atol=1e-12)
    np.testing.assert_allclose(env, rec.envelopes[:n], atol=1e-6, rtol=0)
    np.testing.assert_allclose(torque, rec.torque[:n], atol=1e-6, rtol=0)


def test_the_angle_alone_is_differentiated_as_offline(causal_run, movement):
    """Without recorded derivatives, the stream's kinematics chain differentiates the angle."""
    cohort, trial = movement
    recorded = load_stream_estimator(causal_run, CAUSAL_SUBJECT, load_kg=trial.load.mass_kg)
    model = recorded.model
    inputs = dataclasses.replace(model.inputs, kinematic_channels=("elbow_flexion",))
    estimator = StreamEstimator(dataclasses.replace(model, inputs=inputs), trial.load.mass_kg)
    emg, kin = trial_stream_arrays(trial, estimator)
    t, env, torque = _stream(estimator, emg, kin, seed=1)
    cfg = OmegaConf.load(causal_run / "config.yaml")
    cfg.model.use_recorded_derivatives = False
    rec = _offline(causal_run, cohort, trial, cfg)
    n = len(t)
    np.testing.assert_allclose(env, rec.envelopes[:n], atol=1e-6, rtol=0)
    np.testing.assert_allclose(torque, rec.torque[:n], atol=1e-6, rtol=0)


def test_a_run_that_cannot_stream_is_refused_naming_it(causal_run, movement, tmp_path):
    with pytest.raises(StreamModelError, match=rf"{causal_run}.*unknown subject 'S09'"):
        load_stream_estimator(causal_run, "S09")
    with pytest.raises(StreamModelError, match=r"trained on \['S01'\]"):
        load_stream_estimator(causal_run, "S02")  # in the cohort, not fitted
    offline = tmp_path / "offline_run"
    shutil.copytree(causal_run, offline)
    cfg = OmegaConf.load(offline / "config.yaml")
    cfg.model.causal = cfg.model.net.causal = False
    OmegaConf.save(cfg, offline / "config.yaml")
    with pytest.raises(StreamModelError, match=rf"{offline}: not a causal run"):
        load_stream_estimator(offline, CAUSAL_SUBJECT)
    estimator = load_stream_estimator(causal_run, CAUSAL_SUBJECT)
    _, trial = movement
    e = trial.emg
    half = Signal(e.time[::2], e.values[::2], e.channels, e.units, 1000.0, e.kind, e.source)
    slow = trial.replace(emg=half)
    with pytest.raises(ValueError, match=rf"{trial.trial_id}: EMG at 1000 Hz"):
        trial_stream_arrays(slow, estimator)


def test_nmm_predict_on_a_causal_run_writes_what_the_stream_gives(causal_run, movement, tmp_path):
    cohort, trial = movement
    write_dataset(cohort, tmp_path / "data")
    out = tmp_path / "predict"
    overrides = [
        "data=folder",
        f"data.path={tmp_path / 'data'}",
        f"model_dir={causal_run}",
        f"run_dir={out}",
        "max_figures=0",
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        metrics = run_predict(compose(config_name="predict", overrides=overrides))
    assert metrics["causal"] and not any(t["personalised_here"] for t in metrics["trials"])
    stem = f"{trial.session}_{trial.trial_id}"
    written = read_sto(out / "envelopes" / CAUSAL_SUBJECT / f"{stem}_envelopes.sto")
    torque = read_sto(out / "envelopes" / CAUSAL_SUBJECT / f"{stem}_torque.sto")
    estimator = load_stream_estimator(causal_run, CAUSAL_SUBJECT, load_kg=trial.load.mass_kg)
    _, env, tau = _stream(estimator, *trial_stream_arrays(trial, estimator), seed=2)
    n = len(env)
    columns = np.column_stack([written.column(m) for m in estimator.muscles])
    np.testing.assert_allclose(env, columns[:n], atol=1e-6, rtol=0)
    np.testing.assert_allclose(tau, torque.column("elbow_flexion_moment_muscles")[:n], atol=1e-6)
