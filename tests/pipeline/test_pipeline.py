"""`nmm-pipeline` end to end on the embedded default cohort (three subjects, tiny settings):
killed after two stages and started again, it completes without recomputing them; a third run
recomputes nothing; the report renders in headless Chromium with its figures.

Each pipeline is one single-threaded process. The two `data=study` runs (the default cohort
exported as a study; scaled models without MVIC) are started in the background beside the
killed-run fixture's runs, so that on two cores they run beside those runs, not after them;
their tests wait for them."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nmm.config import CONF_DIR
from tests.html_probe import rendered_dom

REPO = Path(CONF_DIR).parent
FAST = [
    "model=tiny",
    "trainer.max_epochs=1",
    "budget.specialise.max_steps=1",
    "budget.adapt.max_steps=1",
    "trainer.enable_progress_bar=false",
    "subjects=[S01,S02,S03]",
    "mse.steps=5",
    "mse.nmf.replicates=2",
    "compare.n_boot=100",
    "compare.max_overlays=1",
    "evaluate.max_figures=1",  # the report embeds the same figures as with the default six
    "validate.max_figures=1",
    "pipeline.painsig.overrides=['experiment=synthetic_painsig',"
    "'painsig.evaluation.n_permutations=2','painsig.evaluation.n_boot=50',"
    "'painsig.classifier.n_estimators=20','painsig.evaluation.report_random_split_inflation=false']",
]
STAGES = [
    "data",
    "nmm",
    "mse",
    "compare",
    "validate",
    "painsig_measured",
    "painsig_with_reconstructed",
    "report",
]


def _command(run_dir: Path, geometry: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "scripts.pipeline",
        f"run_dir={run_dir}",
        f"geometry_cache={geometry}",
        *FAST,
    ]


def _finished(run_dir: Path, stage: str) -> str:
    return json.loads((run_dir / "stages" / stage / "stage.json").read_text())["finished"]


@dataclass
class Started:
    """A pipeline process started in the background, its stdout and stderr in files."""

    proc: subprocess.Popen
    stdout: Path
    stderr: Path

    def finish(self, timeout_s: float = 400) -> subprocess.CompletedProcess:
        """Wait for the process (killed after ``timeout_s``); its exit status and output."""
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return subprocess.CompletedProcess(
            self.proc.args,
            self.proc.returncode,
            self.stdout.read_text(errors="replace"),
            self.stderr.read_text(errors="replace"),
        )

    def stop(self) -> None:
        """Kill the process if it still runs (a test that failed before waiting for it)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _start(command: list[str], logs: Path) -> Started:
    """``command`` started in the repository, its output in ``logs``.out and ``logs``.err."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr, text=True)
    return Started(proc, out, err)


@pytest.fixture(scope="module")
def no_mvic_run(tmp_path_factory, arm26_osim) -> Iterator[tuple[Started, dict] | None]:
    """Issue 20's done-when case, started in the background: three subjects, each with its own
    scaled arm26 and no MVIC trial, as a study run through `nmm-pipeline data=study`; the
    process and the subjects' scale factors (None without OpenSim: the test skips)."""
    if importlib.util.find_spec("opensim") is None:
        yield None
        return
    from nmm.data.io.dataset import read_dataset
    from nmm.data.io.study_export import write_study
    from nmm.data.schema import Cohort, Subject
    from tests.opensim.scaled_models import scaled_arm26

    root = tmp_path_factory.mktemp("no_mvic")
    native = read_dataset(REPO / "data" / "default_cohort" / "dataset")
    scales = {"S01": 0.92, "S02": 1.0, "S03": 1.1}
    subjects = [
        Subject(
            sid,
            body_mass_kg=native.subjects[sid].body_mass_kg,
            height_m=native.subjects[sid].height_m,
            model=str(scaled_arm26(arm26_osim, root / f"{sid}.osim", scale)),
        )
        for sid, scale in scales.items()
    ]
    trials = [t for t in native if t.subject in scales and t.condition != "mvic"]
    study = write_study(Cohort(subjects, trials, name="scaled"), root / "study")
    run_dir = root / "run"
    started = _start(
        [*_command(run_dir, root / "geometry"), "data=study", f"data.path={study}"], root / "log"
    )
    yield started, {"run_dir": run_dir, "scales": scales}
    started.stop()


def _start_export_run(root: Path, geometry: Path) -> tuple[Started, Path]:
    """`nmm-study export` of the embedded cohort, then `nmm-pipeline data=study` on it (same
    seed and settings as the native run) started in the background; the process and its run
    folder. Only the data source differs, so what the synthetic source finds by itself is given
    explicitly: the ground truth to score against, and the simulated bodies for nmm-validate's
    inverse dynamics (the export gives every subject arm26, never its true body)."""
    from scripts.study import main as nmm_study

    study = root / "study"
    assert nmm_study(["export", str(study)]) == 0
    run_dir = root / "run"
    truth = REPO / "data" / "default_cohort" / "ground_truth"
    command = [
        *_command(run_dir, geometry),
        "data=study",
        f"data.path={study}",
        f"evaluate.truth_dir={truth}",
        f"+validate.id_model.osim='{truth}/{{subject}}/model.osim'",
        "+validate.id_model.locked={}",
    ]
    return _start(command, root / "log"), run_dir


@pytest.fixture(scope="module")
def pipeline_run(tmp_path_factory, arm26_osim, no_mvic_run) -> Iterator[dict]:
    """Run 1 killed (SIGKILL) once the mse stage has finished; run 2 to the end; run 3 again.
    The study-export run starts (in the background, on the muscle geometry run 1 cached) once
    run 1 is killed; the no-MVIC run (:func:`no_mvic_run`) has started before run 1."""
    root = tmp_path_factory.mktemp("pipeline")
    run_dir, geometry = root / "run", root / "geometry"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _command(run_dir, geometry),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not (run_dir / "stages" / "mse" / "stage.json").is_file():
        if proc.poll() is not None:
            pytest.fail(f"pipeline ended before the kill: {proc.stderr.read()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the mse stage did not finish within 240 s")
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {s: _finished(run_dir, s) for s in ("nmm", "mse")}
    export, export_dir = _start_export_run(tmp_path_factory.mktemp("export"), geometry)
    runs = []
    try:
        for _ in range(2):
            done = subprocess.run(
                _command(run_dir, geometry),
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=400,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            runs.append(json.loads((run_dir / "metrics.json").read_text()))
        yield {
            "run_dir": run_dir,
            "first": first,
            "resumed": runs[0],
            "again": runs[1],
            "stdout": done.stdout,
            "export": export,
            "export_dir": export_dir,
        }
    finally:
        export.stop()


def test_the_killed_run_resumes_without_recomputing_finished_stages(pipeline_run):
    run_dir, resumed = pipeline_run["run_dir"], pipeline_run["resumed"]
    assert not any(resumed["stages"][s]["ran"] for s in ("data", "nmm", "mse"))
    assert all(resumed["stages"][s]["ran"] for s in STAGES[3:])
    assert {s: _finished(run_dir, s) for s in ("nmm", "mse")} == pipeline_run["first"]
    for stage in STAGES:  # every stage's record is complete JSON; no partial folder is left
        json.loads((run_dir / "stages" / stage / "stage.json").read_text())
    assert not list((run_dir / "stages").glob(".*"))


def test_a_third_run_recomputes_nothing(pipeline_run):
    assert not any(s["ran"] for s in pipeline_run["again"]["stages"].values())
    assert "report:" in pipeline_run["stdout"]


def test_metrics_hold_the_headline_numbers(pipeline_run):
    m = pipeline_run["resumed"]
    for method in ("nmm", "mse"):
        for key in ("hidden_pearson_r_mean", "hidden_rmse_mean", "torque_r2"):
            assert isinstance(m[method][key], float), (method, key)
    low, high = m["paired_rmse_diff_ci"]
    assert low <= m["paired_rmse_diff_mean"] <= high
    assert -1.0 <= m["opensim_torque_r2"] <= 1.0
    # the OpenSim muscle torque of the personalised model agrees with the torch torque (issue 6)
    assert m["opensim_vs_torch_rel_rms_max"] < 0.01
    for key in ("painsig_measured", "painsig_with_reconstructed"):
        ba, (lo, hi) = m[key]["balanced_accuracy"], m[key]["balanced_accuracy_ci"]
        assert lo <= ba <= hi
        assert m[key]["n_subjects"] == 3
    assert 0.0 <= m["placebo_fraction_painful"] <= 1.0
    assert m["cohort_summary"]["subjects"] == ["S01", "S02", "S03"]
    assert m["dataset_roundtrip_exact"] is True


def test_reconstructed_channels_reach_the_classifier(pipeline_run):
    stages = pipeline_run["run_dir"] / "stages"
    measured = (stages / "painsig_measured" / "features.csv").read_text().splitlines()[0]
    both = (stages / "painsig_with_reconstructed" / "features.csv").read_text().splitlines()[0]
    assert "BRA_" not in measured and "TRImed_" not in measured
    assert "BRA_var" in both and "TRImed_peak" in both


def test_report_renders_with_its_figures_in_headless_chromium(pipeline_run, tmp_path):
    report = pipeline_run["run_dir"] / "report.html"
    html = report.read_text(encoding="utf-8")
    dom = rendered_dom(report, tmp_path)
    n_img = html.count("<img ")
    assert n_img >= 8  # heatmaps, overlay, torque, reconstruction, validation, confusion, SHAP
    assert f'data-images-loaded="{n_img}/{n_img}"' in dom
    for title in (
        "NMM vs synergy extrapolation",
        "OpenSim torque validation",
        "Pain signature: measured channels",
        "Configuration and software",
    ):
        assert title in dom


HEADLINE = (
    ("nmm", "hidden_rmse_mean"),
    ("nmm", "hidden_pearson_r_mean"),
    ("nmm", "torque_r2"),
    ("mse", "hidden_rmse_mean"),
    ("mse", "torque_r2"),
    ("paired_rmse_diff_ci",),
    ("opensim_torque_r2",),
    ("painsig_measured", "balanced_accuracy"),
    ("painsig_with_reconstructed", "balanced_accuracy"),
)


def test_the_default_cohort_exported_as_a_study_gives_the_same_numbers(pipeline_run):
    """Issue 20's round trip: `nmm-study export` of the embedded cohort, run through
    `nmm-pipeline data=study` (same seed and settings; :func:`_start_export_run`), gives the
    native run's headline numbers exactly."""
    done = pipeline_run["export"].finish()
    assert done.returncode == 0, done.stderr[-3000:]
    via_study = json.loads((pipeline_run["export_dir"] / "metrics.json").read_text())
    native = pipeline_run["resumed"]
    for path in HEADLINE:
        a, b = native, via_study
        for key in path:
            a, b = a[key], b[key]
        assert a == b, path


def test_a_study_of_scaled_models_without_mvic_runs_with_only_its_path(no_mvic_run):
    """Issue 20's done-when case: three subjects, each with its own scaled arm26 and no MVIC
    trial, run through `nmm-pipeline data=study data.path=...` with no other data or physics
    override (only the test's fast settings; :func:`no_mvic_run`); the data checks warn about
    the missing MVICs."""
    pytest.importorskip("opensim")
    started, study = no_mvic_run
    done = started.finish()
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no_mvic" in done.stdout + done.stderr
    metrics = json.loads((study["run_dir"] / "metrics.json").read_text())
    assert metrics["cohort_summary"]["subjects"] == list(study["scales"])
    assert metrics["nmm"]["torque_r2"] > 0.5
    models = json.loads((study["run_dir"] / "stages" / "nmm" / "subject_models.json").read_text())
    assert sorted(models) == sorted(study["scales"])
