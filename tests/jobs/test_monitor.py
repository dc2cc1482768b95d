"""``painsig-monitor`` end to end on a cohort with three sessions per subject: the embedded
default cohort with each load relabelled as a session (0, 2, 4 kg -> sessions 1, 2, 3), written
as a dataset folder and read through ``data=folder``."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nmm.data.io import read_dataset, write_dataset, write_sto
from nmm.data.schema import Cohort, Trial
from nmm.jobs.cohorts import DEFAULT_ROOT
from nmm.jobs.config_check import ConfigError
from nmm.jobs.monitor import MonitorSettings, check_phases, check_ratio_features
from nmm.jobs.monitor_report import FATIGUE_TEXT, POOLING_TEXT, cocontraction_text
from painsig.classifier import PainClassifier
from painsig.session import SessionSettings
from painsig.settings import FeatureSettings, PainsigSettings
from tests.html_probe import rendered_dom
from tests.jobs.conftest import run_app

FAST = ["painsig.classifier.n_estimators=10", "painsig.features.names=[rms,mav,peak,mnf,mdf]"]
SESSION_OF_LOAD = {"0": "1", "2": "2", "4": "3"}


def _by_load(trial: Trial) -> Trial:
    """The trial with its load as its session (MVIC trials stay in session 1)."""
    load = re.search(r"_(\d)kg_", trial.trial_id)
    return trial if load is None else trial.replace(session=SESSION_OF_LOAD[load.group(1)])


def _write_cohort(folder: Path, relabel, subjects: tuple[str, ...] | None = None) -> Path:
    """The embedded cohort (or its ``subjects``) relabelled, written as a dataset folder."""
    default = read_dataset(DEFAULT_ROOT / "dataset")
    if subjects is not None:
        default = default.select(subject=set(subjects))
    trials = [relabel(t) for t in default]
    write_dataset(Cohort(default.subjects.values(), trials, name="sessions"), folder)
    return folder


#: The constant excitations of the reconstruction: flexor group mean 0.4, extensor group mean
#: 0.1, so Falconer & Winter's index of every window is 200 · 0.1 / 0.5 = 40 %.
EXCITATION = {"BIClong": 0.3, "BICshort": 0.3, "BRA": 0.6, "TRIlong": 0.1, "TRIlat": 0.1}
EXCITATION["TRImed"] = 0.1


def _write_reconstructions(cohort: Path, folder: Path) -> Path:
    """A predictions folder as nmm-predict writes it, for every trial but the MVIC ones: constant
    BRA (0.2) and TRImed (0.1) envelopes and the constant excitations :data:`EXCITATION`."""
    for t in read_dataset(cohort):
        if t.condition == "mvic":
            continue
        time = np.arange(0.0, t.emg.duration + 0.01, 0.01) + t.emg.time[0]
        stem = folder / "envelopes" / t.subject / f"{t.session}_{t.trial_id}"
        stem.parent.mkdir(parents=True, exist_ok=True)
        envelopes = np.column_stack([np.full(time.size, 0.2), np.full(time.size, 0.1)])
        write_sto(f"{stem}_envelopes.sto", time, envelopes, ["BRA", "TRImed"])
        excitation = np.column_stack([np.full(time.size, v) for v in EXCITATION.values()])
        write_sto(f"{stem}_excitation.sto", time, excitation, list(EXCITATION))
    return folder


@pytest.fixture(scope="module")
def monitor_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("monitor")
    cohort = _write_cohort(tmp / "cohort", _by_load)
    predictions = _write_reconstructions(cohort, tmp / "predictions")
    run_dir = tmp / "run"
    args = ["data=folder", f"data.path={cohort}", f"run_dir={run_dir}", *FAST]
    args.append(f"monitor.reconstructed={predictions}")
    done = run_app("scripts.monitor", args, tmp, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir


def test_indices_csv_holds_every_index_per_subject_and_session(monitor_run):
    table = pd.read_csv(monitor_run / "indices.csv", dtype={"session": str})
    assert set(table["subject"]) == {"S01", "S02", "S03", "S04", "S05"}
    assert set(table["session"]) == {"1", "2", "3"}
    indices = set(table["index"])
    for name in ("pain_probability", "mdf_slope", "mnf_slope", "finsm5_slope"):
        assert name in indices
    assert {"cocontraction_measured", "amplitude_BIClong", "onset_lag_TRIlong"} <= indices
    # the second co-contraction index reads the NMM's excitations of all six muscles
    # (conf/monitor.yaml: cocontraction_reconstructed=all): 40 % in every flexion phase
    cci = table[table["index"].str.startswith("cocontraction")].pivot(
        index=["subject", "session"], columns="index", values="estimate"
    )
    assert cci.notna().all().all()
    np.testing.assert_allclose(cci["cocontraction_with_reconstructed"], 40.0, rtol=1e-9)
    assert not np.allclose(cci["cocontraction_measured"], 40.0)
    pain = table[table["index"] == "pain_probability"]
    assert pain["estimate"].between(0, 1).all()
    assert (pain["low"] <= pain["estimate"]).all() and (pain["estimate"] <= pain["high"]).all()


def test_trends_and_metrics_name_each_subjects_flags(monitor_run):
    trends = pd.read_csv(monitor_run / "trends.csv")
    metrics = json.loads((monitor_run / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    assert metrics["features_relative_to_baseline"] is True  # conf/monitor.yaml's default
    assert (trends["slope_low"] <= trends["slope_high"]).all()
    assert set(trends.loc[trends["n_sessions"] == 3, "latest_outside_band"]) <= {True, False}
    flagged = trends[trends["latest_outside_band"] == True]  # noqa: E712 (None elsewhere)
    assert sorted(metrics["latest_outside_band"]) == sorted(
        f"{s}/{i}" for s, i in zip(flagged["subject"], flagged["index"], strict=True)
    )
    assert set(metrics["reports"]) == {"S01", "S02", "S03", "S04", "S05"}


def test_each_patient_page_embeds_decodable_figures(monitor_run):
    html = (monitor_run / "monitor" / "S01" / "report.html").read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 7  # one per index
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")


def test_each_patient_page_says_how_its_session_estimates_were_made(monitor_run):
    page = html.unescape((monitor_run / "monitor" / "S01" / "report.html").read_text("utf-8"))
    config = yaml.safe_load((monitor_run / "config.yaml").read_text(encoding="utf-8"))
    session = config["monitor"]["session"]
    assert POOLING_TEXT[session["pain_pooling"]] in page
    assert FATIGUE_TEXT[session["fatigue_contractions"]] in page
    assert cocontraction_text(SessionSettings.from_mapping(session)) in page
    assert "movement phases (joint velocity above 0.05 of its peak)" in page


def test_the_page_loads_in_headless_chromium_with_every_figure(monitor_run, tmp_path):
    report = monitor_run / "monitor" / "S02" / "report.html"
    n_img = report.read_text(encoding="utf-8").count("<img ")
    dom = rendered_dom(report, tmp_path)
    assert f'data-images-loaded="{n_img}/{n_img}"' in dom
    assert "Trends and flags" in dom


def test_a_cohort_of_one_session_is_refused_before_any_work(tmp_path):
    cohort = _write_cohort(tmp_path / "cohort", lambda t: t, subjects=("S01",))
    run_dir = tmp_path / "run"
    args = ["data=folder", f"data.path={cohort}", f"run_dir={run_dir}", *FAST]
    done = run_app("scripts.monitor", args, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "SessionCountError" in done.stderr
    assert "trends need 2 or more sessions" in done.stderr
    assert not (run_dir / "indices.csv").exists()


def test_one_baseline_session_is_a_config_error(tmp_path):
    done = run_app("scripts.monitor", ["monitor.baseline_sessions=1"], tmp_path, timeout=120)
    assert done.returncode != 0
    assert "monitor.baseline_sessions" in done.stderr


def test_a_model_trained_elsewhere_scores_the_contractions(monitor_run, tmp_path):
    # a model of the columns the app describes (FAST's features on the four channels)
    columns = [
        f"{m}_{f}"
        for m in ("BIClong", "BICshort", "TRIlong", "TRIlat")
        for f in ("rms", "mav", "peak", "mnf", "mdf")
    ]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(40, len(columns))), columns=columns)  # noqa: N806
    y = np.where(X["BIClong_rms"] > 0, "pain", "baseline")
    model = PainClassifier(n_estimators=5, n_jobs=1).fit(X, y).save(tmp_path / "model.json")
    cohort = monitor_run.parent / "cohort"
    args = ["data=folder", f"data.path={cohort}", f"run_dir={tmp_path / 'run'}", *FAST]
    done = run_app("scripts.monitor", [*args, f"monitor.model={model}"], tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classifier"] == "a saved model (monitor.model)"
    assert metrics["n_scored"] > 0
    # a model of contractions cut another way than the monitor's (EMG-onset) segmenter
    phases = PainClassifier.load(model).save(tmp_path / "phases.json", {"segmenter": "kinematic"})
    done = run_app("scripts.monitor", [*args, f"monitor.model={phases}"], tmp_path, timeout=120)
    assert done.returncode != 0
    assert "cut by the 'kinematic' segmenter and painsig.segmenter is 'emg_onset'" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "other"}')
    done = run_app("scripts.monitor", [*args, f"monitor.model={bad}"], tmp_path, timeout=120)
    assert done.returncode != 0
    assert f"SavedModelError: {bad}: not a painsig-classifier file" in done.stderr


def test_without_a_model_a_cohort_of_one_condition_names_monitor_model(tmp_path):
    # every movement trial labelled pain (as in the longitudinal cohort): nothing to train on
    cohort = _write_cohort(
        tmp_path / "cohort",
        lambda t: _by_load(t if t.condition == "mvic" else t.replace(condition="pain")),
        subjects=("S01",),
    )
    args = ["data=folder", f"data.path={cohort}", f"run_dir={tmp_path / 'run'}", *FAST]
    done = run_app("scripts.monitor", args, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "config key 'monitor.model'" in done.stderr
    assert "monitor.model=<painsig run_dir>/model.json" in done.stderr


def test_movement_phases_on_trials_without_kinematics_are_a_config_error():
    """EMG-only trials cannot give movement phases: the key is named before any work, and the
    contractions (cocontraction_phases null) are accepted."""
    trial = read_dataset(DEFAULT_ROOT / "dataset").trials[0]
    bare = trial.replace(kinematics=None, torque=None)
    phases = SessionSettings.from_mapping({"cocontraction_phases": {"velocity_fraction": 0.05}})
    monitor = MonitorSettings(("mvic",), 2, 2.0, 0.95, phases)
    check_phases([trial], monitor)
    with pytest.raises(ConfigError, match=r"monitor\.session\.cocontraction_phases") as err:
        check_phases([trial, bare], monitor)
    assert "1 trial(s) have none" in str(err.value)
    check_phases([bare], MonitorSettings(("mvic",), 2, 2.0, 0.95, SessionSettings()))


def test_ratio_referenced_features_must_be_described_and_referenced():
    """monitor.baseline_ratio_features: names of painsig.features.names (None: every registered
    feature), and only with features_relative_to_baseline; otherwise the key is named."""
    described = PainsigSettings(features=FeatureSettings(names=("rms", "mnf")))

    def monitor(names, relative=True):
        return MonitorSettings(
            ("mvic",), 2, 2.0, 0.95, SessionSettings(), relative, baseline_ratio_features=names
        )

    check_ratio_features(monitor(("rms",)), described)
    check_ratio_features(monitor(("var",)), PainsigSettings())  # every registered feature
    check_ratio_features(monitor((), relative=False), described)
    with pytest.raises(ConfigError, match=r"monitor\.baseline_ratio_features") as err:
        check_ratio_features(monitor(("rms", "var")), described)
    assert "['var'] are not among painsig.features.names ['rms', 'mnf']" in str(err.value)
    with pytest.raises(ConfigError, match=r"needs monitor\.features_relative_to_baseline=true"):
        check_ratio_features(monitor(("rms",), relative=False), described)
