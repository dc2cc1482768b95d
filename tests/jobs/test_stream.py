"""``nmm-stream`` end to end, run as a user runs it: a tiny causal NMM (``tests/stream``'s
fixture) streams two recorded trials with a saved pain classifier and the live page, and an
.xdf recording with dropped samples; settings that cannot run online are refused before work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nmm.config import compose_config
from nmm.jobs.config_check import ConfigError, check_config
from nmm.jobs.stream import recordings, stream_settings
from nmm.jobs.stream_model import load_stream_estimator, trial_stream_arrays
from nmm.jobs.synthetic_source import synthetic_cohort
from painsig.classifier import PainClassifier
from tests.causal_run import CAUSAL_SUBJECT
from tests.jobs.conftest import run_app
from tests.stream.test_sources import write_xdf


def _classifier(path: Path, segmenter: str = "emg_bursts") -> Path:
    """A saved classifier on the streamed envelopes' features (random labels: the test checks
    the plumbing, not the signature)."""
    rng = np.random.default_rng(0)
    columns = ["BIClong_rms", "BIClong_mav", "BRA_peak", "TRImed_rms"]
    X = pd.DataFrame(rng.uniform(0, 1, size=(40, 4)), columns=columns)  # noqa: N806
    y = np.where(rng.uniform(size=40) > 0.5, "pain", "baseline")
    model = PainClassifier(n_estimators=5, n_jobs=1).fit(X, y)
    return model.save(path, context={"segmenter": segmenter})


def _trials() -> list:
    cohort = synthetic_cohort().select(subject=CAUSAL_SUBJECT)
    return [t for t in cohort if t.metadata.get("kind") == "movement" and t.load.mass_kg][:2]


def test_nmm_stream_replays_trials_with_pain_probability_and_the_live_page(
    causal_run,
    tmp_path: Path,
) -> None:
    trials = _trials()
    run_dir = tmp_path / "stream"
    done = run_app(
        "scripts.stream",
        [
            f"run={causal_run}",
            f"subject_id={CAUSAL_SUBJECT}",
            f"replay.trials=[{','.join(t.trial_id for t in trials)}]",
            "replay.speed=null",
            "outputs.port=0",
            f"stream.classifier={_classifier(tmp_path / 'model.json')}",
            f"run_dir={run_dir}",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "live page on http://127.0.0.1:" in done.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert list(metrics["recordings"]) == [t.trial_id for t in trials]
    lat = metrics["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 1000
    assert metrics["n_gaps"] == 0 and metrics["status"] == "completed"
    contractions = [c for r in metrics["recordings"].values() for c in r["contractions"]]
    assert contractions and len(contractions) == metrics["n_contractions"]
    assert all(0 <= c["pain_probability"] <= 1 for c in contractions)
    table = pd.read_csv(run_dir / "estimates.csv")
    assert set(table["recording"]) == {t.trial_id for t in trials}
    assert {"BRA", "TRImed", "torque_nm", "in_gap"} <= set(table.columns)  # the deep muscles
    first = table[table["recording"] == trials[0].trial_id]
    assert np.allclose(np.diff(first["t_s"]), 0.01)
    assert (run_dir / "config.yaml").is_file()


def test_nmm_stream_replays_an_xdf_recording_and_reports_its_dropped_samples(
    causal_run,
    tmp_path: Path,
) -> None:
    trial = _trials()[0]
    estimator = load_stream_estimator(causal_run, CAUSAL_SUBJECT)
    emg, kin = trial_stream_arrays(trial, estimator)
    t_emg = 500.0 + np.arange(emg.shape[0]) / estimator.emg_rate_hz
    t_kin = 500.0 + np.arange(kin.shape[0]) / estimator.kinematic_rate_hz
    lost = (t_emg >= 501.0) & (t_emg < 501.1)  # 0.1 s of EMG lost by the amplifier's link
    path = write_xdf(
        tmp_path / "session.xdf",
        {
            "EMG": (list(estimator.emg_channels), estimator.emg_rate_hz, t_emg[~lost], emg[~lost]),
            "Kinematics": (
                list(estimator.kinematic_channels),
                estimator.kinematic_rate_hz,
                t_kin,
                kin,
            ),
        },
    )
    run_dir = tmp_path / "xdf"
    done = run_app(
        "scripts.stream",
        [
            f"run={causal_run}",
            f"subject_id={CAUSAL_SUBJECT}",
            "source=xdf",
            f"xdf.path={path}",
            "replay.speed=null",
            "outputs.page=false",
            f"run_dir={run_dir}",
        ],
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    (gap,) = metrics["recordings"]["session"]["gaps"]
    assert gap["stream"] == "emg" and gap["kind"] == "dropped"
    assert gap["n_filled"] == round(0.1 * estimator.emg_rate_hz)
    assert gap["start_s"] == pytest.approx(1.0)
    table = pd.read_csv(run_dir / "estimates.csv")
    assert np.allclose(np.diff(table["t_s"]), 0.01)  # the time base continues
    assert table.loc[table["in_gap"] == 1, "t_s"].between(1.0, 1.11).all()
    assert table["in_gap"].sum() >= 10


def test_settings_that_cannot_run_online_are_refused_naming_the_key(tmp_path: Path) -> None:
    base = ["run=/nowhere", "subject_id=S01"]
    with pytest.raises(ConfigError, match=r"painsig\.segmenter"):
        stream_settings(compose_config("stream", [*base, "painsig/segmenter=kinematic"]))
    kinematic = _classifier(tmp_path / "kinematic.json", segmenter="kinematic")
    with pytest.raises(ConfigError, match=r"stream\.classifier.*kinematic contractions"):
        stream_settings(compose_config("stream", [*base, f"stream.classifier={kinematic}"]))
    with pytest.raises(ConfigError, match="'source'"):
        check_config(compose_config("stream", [*base, "source=serial"]), "stream")
    with pytest.raises(ConfigError, match=r"replay\.speed"):
        check_config(compose_config("stream", [*base, "replay.speed=0"]), "stream")
    with pytest.raises(ConfigError, match=r"replay\.trials.*no \['nope'\]"):
        next(recordings(compose_config("stream", [*base, "replay.trials=[nope]"])))
