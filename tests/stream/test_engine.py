"""The engine on the real causal NMM (the tiny causal run of ``conftest.py``) fed by a replay of a
recorded trial: it passes the samples through unchanged, keeps the time base through dropped
samples (filled, marked, reported), keeps sending frames while a real-time source stalls, and
records a latency per update."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.jobs.stream_model import load_stream_estimator, trial_stream_arrays
from nmm.jobs.synthetic_source import synthetic_cohort
from nmm.stream.engine import Engine, Recording, warm_up
from nmm.stream.online import CoContractionSettings, OnlineContractions, RunningCoContraction
from nmm.stream.sources import ArrayReplay, RecordedStream
from painsig.segment import EmgBurstSegmenter
from tests.causal_run import CAUSAL_SUBJECT, loaded_movement

GROUPS = CoContractionSettings(("BIClong", "BICshort", "BRA"), ("TRIlong", "TRIlat", "TRImed"))


@pytest.fixture(scope="module")
def trial():
    cohort = synthetic_cohort().select(subject=CAUSAL_SUBJECT)
    return loaded_movement(cohort)


def _estimator(run, trial):
    return load_stream_estimator(run, CAUSAL_SUBJECT, load_kg=trial.load.mass_kg)


def _engine(estimator, source, recording):
    rate = estimator.out_rate_hz
    return Engine(
        estimator,
        source,
        [recording],
        RunningCoContraction(estimator.muscles, GROUPS, rate),
        OnlineContractions(estimator.muscles, EmgBurstSegmenter("BIClong"), rate),
    )


def test_the_engine_passes_a_replay_through_unchanged(causal_run, trial) -> None:
    estimator = _estimator(causal_run, trial)
    emg, kin = trial_stream_arrays(trial, estimator)
    replay = ArrayReplay(
        RecordedStream.regular(emg, estimator.emg_rate_hz),
        RecordedStream.regular(kin, estimator.kinematic_rate_hz),
        speed=None,
    )
    recording = Recording()
    report = _engine(estimator, replay, recording).run()
    direct = _estimator(causal_run, trial)  # the same samples pushed at once
    direct.push_emg(emg)
    direct.push_kinematics(kin)
    expected = direct.update()
    got = recording.arrays()
    np.testing.assert_array_equal(got["t_s"], expected.t_s)
    np.testing.assert_allclose(got["envelopes"], expected.envelopes, atol=1e-6)
    np.testing.assert_allclose(got["torque_nm"], expected.torque_nm, atol=1e-6)
    assert not got["in_gap"].any() and report.gaps == []
    assert len(report.latencies_s) == report.n_updates - 1  # the last update found nothing
    assert all(0 < x < 5.0 for x in report.latencies_s)
    summary = report.summary()
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99"]
    assert summary["stream_s"] == pytest.approx(expected.t_s[-1])


def _dropped(rec: RecordedStream, start_s: float, stop_s: float) -> RecordedStream:
    keep = (rec.timestamps < start_s) | (rec.timestamps >= stop_s)
    return RecordedStream(rec.values[keep], rec.rate_hz, rec.timestamps[keep])


def test_dropped_samples_are_filled_marked_and_reported(causal_run, trial) -> None:
    estimator = _estimator(causal_run, trial)
    emg, kin = trial_stream_arrays(trial, estimator)
    full_emg = RecordedStream.regular(emg, estimator.emg_rate_hz)
    full_kin = RecordedStream.regular(kin, estimator.kinematic_rate_hz)
    replay = ArrayReplay(
        _dropped(full_emg, 1.0, 1.2), _dropped(full_kin, 1.0, 1.2), speed=None, chunk_s=0.05
    )
    recording = Recording()
    report = _engine(estimator, replay, recording).run()
    got = recording.arrays()
    step = 1.0 / estimator.out_rate_hz
    np.testing.assert_allclose(np.diff(got["t_s"]), step)  # the time base continues
    # to the end of the recording (its last update block: 2 samples)
    assert (kin.shape[0] - 1) * step - got["t_s"][-1] < 2 * step + 1e-9
    assert np.all(np.isfinite(got["envelopes"])) and np.all(np.isfinite(got["torque_nm"]))
    by_stream = {g.stream: g for g in report.gaps}
    assert by_stream["emg"].n_filled == 400 and by_stream["kinematics"].n_filled == 20
    assert by_stream["emg"].start_s == pytest.approx(1.0)
    marked = got["t_s"][got["in_gap"]]
    assert marked.min() == pytest.approx(1.0) and marked.max() <= 1.2 + step + 1e-9
    assert not got["in_gap"][got["t_s"] > 1.25].any()


def test_a_stalled_real_time_source_is_reported_while_frames_keep_coming(causal_run, trial) -> None:
    warm_up(_estimator(causal_run, trial))
    estimator = _estimator(causal_run, trial)
    emg, kin = trial_stream_arrays(trial, estimator)
    n_emg, n_kin = round(1.2 * estimator.emg_rate_hz), round(1.2 * estimator.kinematic_rate_hz)
    replay = ArrayReplay(  # 1.2 s at real speed; nothing between 0.4 and 0.8 s
        _dropped(RecordedStream.regular(emg[:n_emg], estimator.emg_rate_hz), 0.4, 0.8),
        _dropped(RecordedStream.regular(kin[:n_kin], estimator.kinematic_rate_hz), 0.4, 0.8),
        speed=1.0,
    )
    frames = []

    class Frames:
        def send(self, frame):
            frames.append(frame)

        def close(self):
            pass

    engine = _engine(estimator, replay, Recording())
    engine.outputs.append(Frames())
    report = engine.run()
    stalled = [f for f in frames if f.stalled]
    assert stalled and {s for f in stalled for s in f.stalled} == {"emg", "kinematics"}
    assert all(f.t_s.size == 0 for f in stalled)  # frames, without estimates, during the stall
    stalls = [g for g in report.gaps if g.kind == "stall"]
    assert {g.stream for g in stalls} == {"emg", "kinematics"}
    assert all(0.2 < g.duration_s < 0.6 for g in stalls)  # 0.4 s without data, less stall_s
    assert {g.stream for g in report.gaps if g.kind == "dropped"} == {"emg", "kinematics"}
    assert report.wall_s == pytest.approx(1.2, abs=0.3)  # paced on the wall clock
    assert max(report.latencies_s) < 0.2
