"""``nmm-check-data`` run as a user would (exit codes, table, check_data.json), and the data
stage of the apps refusing a cohort with errors before any work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nmm.config import compose_config
from nmm.data.io.dataset import read_dataset, write_dataset
from nmm.data.io.study_export import write_study
from nmm.data.quality import DataCheckError, check_cohort
from nmm.data.schema import Cohort, Signal, Subject, Trial
from nmm.jobs.check_data import (
    format_findings,
    personalised_count,
    quality_settings,
    run_check_data,
)
from nmm.jobs.cohorts import DEFAULT_ROOT
from nmm.jobs.config_check import ConfigError, check_config
from nmm.jobs.nmm_setup import load_cohort
from nmm.jobs.painsig import run_painsig_job
from tests.jobs.conftest import run_app

ROOT = Path(__file__).resolve().parents[2]
MUSCLES = ("BIClong", "BICshort", "TRIlong", "TRIlat")


def small_cohort(kin_start: float = 0.0) -> Cohort:
    """Two subjects, one trial each: 3 s of raw EMG at 2 kHz and the elbow angle from
    ``kin_start`` s (the second subject's; 10 s: the streams do not overlap)."""
    rng = np.random.default_rng(0)
    trials = []
    for sid, start in (("S01", 0.0), ("S02", kin_start)):
        emg = Signal.uniform(rng.standard_normal((6000, 4)), 2000.0, MUSCLES, "mV", kind="emg")
        angle = Signal.uniform(
            np.linspace(0.2, 1.5, 300),
            100.0,
            ["elbow_flexion"],
            "rad",
            start=start,
            kind="kinematics",
        )
        trials.append(Trial(sid, "flex", emg=emg, kinematics=angle))
    return Cohort([Subject("S01"), Subject("S02")], trials, name="small")


def check_data(args: list[str], run_dir: Path):
    proc = run_app("scripts.check_data", [*args, f"run_dir={run_dir}"], ROOT)
    report = json.loads((run_dir / "check_data.json").read_text())
    return proc, report


def test_a_damaged_stream_file_exits_1_naming_it(tmp_path):
    folder = tmp_path / "dataset"
    write_dataset(small_cohort(), folder)
    damaged = sorted(folder.glob("data-*/S02/*_emg.npz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:200])
    proc, report = check_data(["data=folder", f"data.path={folder}"], tmp_path / "run")
    assert proc.returncode == 1, proc.stderr
    assert report["status"] == "error"
    (err,) = [f for f in report["findings"] if f["level"] == "error"]
    assert err["code"] == "unreadable" and err["source"] == str(damaged)
    assert str(damaged) in proc.stdout


def test_a_cohort_error_exits_1_and_names_subject_and_trial(tmp_path):
    folder = tmp_path / "dataset"
    write_dataset(small_cohort(kin_start=10.0), folder)
    proc, report = check_data(["data=folder", f"data.path={folder}"], tmp_path / "run")
    assert proc.returncode == 1, proc.stderr
    (err,) = [f for f in report["findings"] if f["level"] == "error"]
    assert (err["code"], err["subject"], err["trial"]) == ("no_overlap", "S02", "flex")
    assert "error [no_overlap] S02/flex" in proc.stdout


def test_the_default_cohort_passes_with_its_findings_listed(tmp_path):
    # without the notch, the default cohort's 50 Hz mains is a warning, and the exit code 0
    proc, report = check_data(["~preprocess.emg.steps.notch"], tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    assert report["status"] == "ok"
    assert (report["n_subjects"], report["n_trials"]) == (5, 55)
    assert [r["subject"] for r in report["trials"]].count("S01") == 11
    row = report["trials"][0]
    assert (row["subject"], row["trial"], row["condition"]) == ("S01", "mvic_flexion", "mvic")
    assert row["rates_hz"] == "emg 2000 kinematics 100 torque 100" and row["channels"] == 4
    (mains,) = [f for f in report["findings"] if f["code"] == "mains"]
    assert mains["level"] == "warning" and "mains at 50 Hz" in mains["message"]
    assert report["counts"]["error"] == 0
    lines = proc.stdout.splitlines()
    assert lines[0].split() == [
        "subject",
        "trial",
        "condition",
        "duration_s",
        "rates_hz",
        "channels",
        "findings",
    ]
    for f in report["findings"]:
        assert f["message"] in proc.stdout
    assert "0 error(s), 1 warning(s)" in proc.stdout


def test_the_train_data_stage_refuses_a_bad_cohort(tmp_path):
    folder = tmp_path / "dataset"
    write_dataset(small_cohort(kin_start=10.0), folder)
    cfg = compose_config("train", ["data=folder", f"data.path={folder}"])
    with pytest.raises(DataCheckError, match=r"no_overlap.*S02/flex") as info:
        load_cohort(cfg)
    assert [f.code for f in info.value.findings] == ["no_overlap"]


def test_the_painsig_job_refuses_a_bad_cohort_before_any_work(tmp_path):
    folder = tmp_path / "dataset"
    write_dataset(small_cohort(kin_start=10.0), folder)
    run_dir = tmp_path / "pain"
    cfg = compose_config(
        "painsig_run", ["data=folder", f"data.path={folder}", f"run_dir={run_dir}"]
    )
    with pytest.raises(DataCheckError, match="no_overlap"):
        run_painsig_job(cfg)
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml"]


def test_settings_of_the_apps():
    train = quality_settings(compose_config("train"))
    assert (train.coordinate, train.notch_hz, train.window_s) == ("elbow_flexion", 50.0, 1.0)
    assert (
        train.n_parameters
        == personalised_count(
            {
                "muscles": list("abcdef"),
                "personalised": {"per_muscle": list("abcde"), "global": ["x", "y"]},
            }
        )
        == 32
    )
    pain = quality_settings(compose_config("painsig_run"))
    assert (pain.coordinate, pain.window_s, pain.n_parameters) == ("knee_angle", None, None)
    none = quality_settings(compose_config("train", ["~preprocess.emg.steps.notch"]))
    assert none.notch_hz is None


def test_subject_findings_of_one_code_are_merged_when_printed():
    cohort = read_dataset(DEFAULT_ROOT / "dataset")
    subjects = {sid: Subject(sid) for sid in cohort.subject_ids}  # MVIC references dropped
    moving = [t for t in cohort if t.condition != "mvic"]
    settings = quality_settings(compose_config("train"))
    findings = check_cohort(Cohort(subjects.values(), moving), settings)
    lines = [line for line in format_findings(findings) if "no_mvic" in line]
    assert lines == [lines[0]] and lines[0].startswith(
        "warning [no_mvic] 5 subjects (S01, S02, S03, S04, S05); S01: no MVIC trial"
    )


def test_an_unknown_threshold_is_refused_before_any_work():
    cfg = compose_config("check_data", ["+check.min_line_ration=8"])
    with pytest.raises(ConfigError, match="config key 'check': unknown data check setting"):
        check_config(cfg, "check_data")
    check_config(compose_config("check_data", ["+check.min_line_ratio=8"]), "check_data")


def test_a_study_without_mvic_warns_about_it(tmp_path, arm26_osim):
    """The issue's case: a study of two subjects, three short trials each and no MVIC, read
    through data=study: no error, and warnings for the missing MVICs and the little data."""
    cohort = read_dataset(DEFAULT_ROOT / "dataset")
    moving = cohort.select(subject=["S01", "S02"], condition="baseline")
    bare = Cohort([Subject(s) for s in moving.subject_ids], moving.trials, name="no_mvic")
    write_study(bare, tmp_path / "study", default_model=arm26_osim)
    overrides = [
        "data=study",
        f"data.path={tmp_path / 'study'}",
        f"run_dir={tmp_path / 'run'}",
        f"paths.shared_models={arm26_osim.parent}",
    ]
    report = run_check_data(compose_config("check_data", overrides))
    assert report["status"] == "ok" and report["n_trials"] == 6
    by_code = {}
    for f in report["findings"]:
        by_code.setdefault(f["code"], []).append(f["subject"])
    assert by_code["no_mvic"] == ["S01", "S02"]
    assert by_code["little_data"] == ["S01", "S02"]  # about 14 s each: 14 windows for 32


def test_every_damaged_trial_of_a_study_is_listed(tmp_path, arm26_osim):
    """The study reader stops at its first refusal; the checker lists them all, one per
    damaged trial, each naming its file, and the study's good trials raise nothing."""
    cohort = read_dataset(DEFAULT_ROOT / "dataset")
    moving = cohort.select(subject=["S01", "S02"], condition="baseline")
    bare = Cohort([Subject(s) for s in moving.subject_ids], moving.trials, name="damaged")
    study = write_study(bare, tmp_path / "study", default_model=arm26_osim)
    damaged = [study / "S01" / "baseline_2kg_1_emg.sto", study / "S02" / "baseline_4kg_1_ik.mot"]
    for path in damaged:
        path.write_text(path.read_text(encoding="utf-8")[:300], encoding="utf-8")
    overrides = [
        "data=study",
        f"data.path={study}",
        f"run_dir={tmp_path / 'run'}",
        f"paths.shared_models={arm26_osim.parent}",
    ]
    report = run_check_data(compose_config("check_data", overrides))
    assert report["status"] == "error"
    errors = [f for f in report["findings"] if f["level"] == "error"]
    assert sorted(str(p) for p in damaged) == sorted(f["source"] for f in errors)
