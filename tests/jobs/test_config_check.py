"""Every app's config schema (nmm.jobs.config_check): the shipped configs pass it, and each bad
value is refused before any work, with a ConfigError naming its key and what is allowed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict

from nmm.config import CONF_DIR
from nmm.data.schema import Cohort, Signal, Subject, Trial
from nmm.jobs import sweep
from nmm.jobs.config_check import APPS, ConfigError, check_cohort_rates, check_config

from .test_experiments import EXPERIMENT_APP

# The config each app's entry point composes (scripts/*.py).
APP_CONFIG = {
    "train": "train",
    "compare": "compare",
    "pipeline": "pipeline",
    "demo": "demo",
    "painsig": "painsig_run",
    "synth": "synth",
    "predict": "predict",
    "validate": "validate",
    "aggregate": "aggregate",
    "check_data": "check_data",
    "study": "study",
    "monitor": "monitor",
    "export_onnx": "export_onnx",
    "stream": "stream",
}
# Values a config leaves to the user (???) and the tests give.
REQUIRED = {
    "aggregate": ["sweep_dir=/tmp/sweep"],
    "stream": ["run=/tmp/run", "subject_id=S01"],
}
MODULE_APP = {"scripts.train": "train", "scripts.pain": "painsig"}


def compose_app(app: str, overrides: list[str] = ()):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(APP_CONFIG[app], overrides=[*REQUIRED.get(app, []), *overrides])


def test_every_console_script_checks_its_config():
    assert set(APPS) == set(APP_CONFIG)
    root = Path(CONF_DIR).parent
    scripts = tomllib.loads((root / "pyproject.toml").read_text())["project"]["scripts"]
    for name, target in scripts.items():
        source = (root / (target.split(":")[0].replace(".", "/") + ".py")).read_text()
        apps = re.findall(r'(?:app=|app_run\(cfg, |check_config\(cfg, )"(\w+)"', source)
        assert apps, f"{name} ({target}) does not check its config"
        assert set(apps) <= set(APPS), f"{name}: no schema for {apps}"


@pytest.mark.parametrize("app", sorted(APP_CONFIG))
def test_every_shipped_config_passes(app):
    plain = check_config(compose_app(app), app)
    assert isinstance(plain, dict)


@pytest.mark.parametrize("experiment", sorted(EXPERIMENT_APP))
def test_every_experiment_passes_in_its_app(experiment):
    app = MODULE_APP[EXPERIMENT_APP[experiment]]
    check_config(compose_app(app, [f"experiment={experiment}"]), app)


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


DATA_VALUES = {
    "folder": ["data.path=/tmp/nowhere"],
    "study": ["data.path=/tmp/nowhere"],
    "csv": ["data.csv=/tmp/a.csv", "data.schema=/tmp/a.yaml"],
}


# Options that belong to another app than nmm-train (the model needs a common rate:
# preprocess.resample_hz, which the pain signature's preprocessing leaves null)
OPTION_APP = {("preprocess", "painsig"): "painsig"}


@pytest.mark.parametrize(
    ("group", "option"),
    [(g, o) for g in ("data", "model", "trainer", "preprocess", "fold") for o in group_options(g)],
)
def test_every_group_option_passes_in_its_app(group, option):
    app = OPTION_APP.get((group, option), "train")
    overrides = [f"{group}={option}", *DATA_VALUES.get(option, [])]
    check_config(compose_app(app, overrides), app)


def test_nmm_train_refuses_the_pain_signature_preprocessing():
    with pytest.raises(ConfigError, match=r"'preprocess\.resample_hz': missing"):
        check_config(compose_app("train", ["preprocess=painsig"]), "train")


@pytest.mark.parametrize("option", group_options("synth"))
def test_every_synth_option_passes(option):
    check_config(compose_app("synth", [f"synth={option}"]), "synth")


# (app, override, the key the error must name): the cases first
BAD = [
    ("train", "model.window_s=-1", "model.window_s"),
    ("train", "physics.uncalibrated_gain_prior=flat", "physics.uncalibrated_gain_prior"),
    (
        "monitor",
        "monitor.session.cocontraction_phases.velocity_fraction=-0.1",
        "monitor.session.cocontraction_phases.velocity_fraction",
    ),
    ("monitor", "monitor.baseline_ratio_features=5", "monitor.baseline_ratio_features"),
    ("train", "model.stride_s=0", "model.stride_s"),
    ("train", "trainer.max_epochs=0", "trainer.max_epochs"),
    ("train", "seed=abc", "seed"),
    ("train", "seed=1.5", "seed"),
    ("train", "budget.fit.max_steps=0", "budget.fit"),
    ("train", "budget.plateau.lr_decay=1.5", "budget.fit"),
    ("predict", "budget.adapt.max_steps=0", "budget.adapt"),
    ("painsig", "painsig.evaluation.scheme=bogus", "painsig.evaluation.scheme"),
    ("train", "preprocess.emg.steps.notch.freq_hz=1000", "preprocess.emg.steps.notch.freq_hz"),
    (
        "train",
        "preprocess.emg.steps.bandpass.high_hz=1500",
        "preprocess.emg.steps.bandpass.high_hz",
    ),
    (
        "train",
        "preprocess.kinematics.steps.lowpass.cutoff_hz=50",
        "preprocess.kinematics.steps.lowpass.cutoff_hz",
    ),
    ("train", "preprocess.emg.steps.bandpass.low_hz=500", "preprocess.emg.steps.bandpass.low_hz"),
    ("train", "preprocess.emg.steps.envelope.order=0", "preprocess.emg.steps.envelope.order"),
    ("train", "preprocess.emg.steps.notch.quality=abc", "preprocess.emg.steps.notch.quality"),
    ("train", "+preprocess.emg.steps.hum={freq_hz:60}", "preprocess.emg.steps.hum"),
    ("train", "preprocess.resample_hz=0", "preprocess.resample_hz"),
    ("train", "model.n_heads=3", "model.n_heads"),
    ("train", "model.dropout=1", "model.dropout"),
    ("train", "evaluate.protocols=[bogus]", "evaluate.protocols"),
    ("train", "evaluate.personalise.lr=0", "evaluate.personalise.lr"),
    ("train", "datamodule.batch_size=0", "datamodule.batch_size"),
    ("train", "evaluate.hidden_signal=envelope", "evaluate.hidden_signal"),
    ("train", "threads=0", "threads"),
    ("train", "data.overrides=['synth.n_subjects=0']", "data"),
    ("compare", "compare.protocol=both", "compare.protocol"),
    ("compare", "compare.ci=1.5", "compare.ci"),
    ("compare", "mse.method=bogus", "mse"),
    ("pipeline", "pipeline.reconstructed=both", "pipeline.reconstructed"),
    ("demo", "pipeline.painsig.overrides=['painsig.evaluation.n_splits=1']", "pipeline.painsig"),
    ("painsig", "painsig.features.names=[rms,bogus]", "painsig.features.names"),
    ("painsig", "painsig.statistics.correction=bogus", "painsig.statistics.correction"),
    ("painsig", "painsig.negative=pain", "painsig.negative"),
    ("painsig", "painsig.segmenter.min_duration_s=5", "painsig.segmenter.min_duration_s"),
    ("painsig", "painsig.classifier.subsample=0", "painsig.classifier.subsample"),
    ("synth", "synth.n_subjects=0", "synth"),
    ("predict", "personalise.window_s=0", "personalise.window_s"),
    ("validate", "validate.torch_tolerance=0", "validate.torch_tolerance"),
    ("aggregate", "ci=1", "ci"),
]


@pytest.mark.parametrize(("app", "override", "key"), BAD)
def test_a_bad_value_is_refused_naming_its_key(app, override, key):
    cfg = compose_app(app, [override])
    with pytest.raises(ConfigError) as err:
        check_config(cfg, app)
    assert err.value.key == key
    assert f"'{key}'" in str(err.value)


def test_the_message_gives_the_allowed_range():
    with pytest.raises(ConfigError, match=r"'trainer\.max_epochs': 0 .*-1 or an integer >= 1"):
        check_config(compose_app("train", ["trainer.max_epochs=0"]), "train")
    with pytest.raises(ConfigError, match=r"'seed': 'abc' .*an integer >= 0"):
        check_config(compose_app("train", ["seed=abc"]), "train")
    with pytest.raises(ConfigError, match=r"one of \['logo', 'group_kfold', 'random'\]"):
        check_config(compose_app("painsig", ["painsig.evaluation.scheme=bogus"]), "painsig")
    with pytest.raises(ConfigError, match=r"Nyquist frequency 1000 Hz .*< 1000"):
        check_config(compose_app("train", ["preprocess.emg.steps.notch.freq_hz=1000"]), "train")


def test_a_missing_required_value_is_named():
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("aggregate")
    with pytest.raises(ConfigError, match="required") as err:
        check_config(cfg, "aggregate")
    assert err.value.key == "sweep_dir"


def test_a_bad_value_stops_run_job_before_its_work(tmp_path):
    cfg = compose_app("painsig", ["painsig.evaluation.scheme=bogus", f"run_dir={tmp_path / 'r'}"])
    calls = []
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"painsig\.evaluation\.scheme"):
        sweep.run_job(cfg, lambda c: calls.append(c) or {}, app="painsig")
    assert time.perf_counter() - t0 < 2.0
    assert calls == []  # the work (and with it every data reader) never started
    assert not (tmp_path / "r").exists()  # nor was the run folder made


def test_a_bad_value_of_one_sweep_job_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(sweep, "is_multirun", lambda: True)
    monkeypatch.setattr(sweep, "use_job_dir", lambda cfg: Path(cfg.run_dir))
    job = tmp_path / "0"
    job.mkdir()
    cfg = compose_app("train", ["model.window_s=-1", f"run_dir={job}"])
    assert sweep.run_job(cfg, lambda c: pytest.fail("work started"), app="train") is None
    record = json.loads((job / "metrics.json").read_text())
    assert record["status"] == "failed"
    assert record["error"].startswith("ConfigError: config key 'model.window_s'")


def test_an_unknown_app_is_an_error():
    with pytest.raises(ValueError, match="no config schema for app 'bogus'"):
        check_config(compose_app("train"), "bogus")


def one_trial_cohort(emg_rate: float) -> Cohort:
    t = np.arange(400) / emg_rate
    emg = Signal(t, np.zeros((400, 1)), ("BIClong",), ("mV",), emg_rate, kind="emg")
    return Cohort([Subject("S1")], [Trial("S1", "t1", emg=emg)], name="one")


def test_recorded_rates_are_checked_once_the_cohort_is_loaded():
    cfg = compose_app("train", ["data=folder", "data.path=/tmp/nowhere"])
    check_config(cfg, "train")  # the rate of recorded data is not in the config
    check_cohort_rates(cfg, one_trial_cohort(2000.0))
    with pytest.raises(
        ConfigError, match=r"Nyquist frequency 300 Hz of the emg of trial S1/t1"
    ) as err:
        check_cohort_rates(cfg, one_trial_cohort(600.0))  # 400 Hz band-pass edge above 300 Hz
    assert err.value.key == "preprocess.emg.steps.bandpass.high_hz"


def test_a_resample_step_sets_the_rate_of_the_steps_after_it():
    cfg = compose_app("painsig")
    with open_dict(cfg):
        steps = OmegaConf.to_container(cfg.preprocess.emg.steps)
        cfg.preprocess.emg.steps = {"resample": {"rate_hz": 500.0}, **steps}  # first
    with pytest.raises(ConfigError) as err:
        check_cohort_rates(cfg, one_trial_cohort(2000.0))
    assert err.value.key == "preprocess.emg.steps.bandpass.high_hz"  # 400 Hz >= 250 Hz after it


@pytest.mark.parametrize(
    ("module", "override", "key"),
    [
        ("scripts.pain", "painsig.evaluation.scheme=bogus", "painsig.evaluation.scheme"),
        ("scripts.train", "model.window_s=-1", "model.window_s"),
    ],
)
def test_the_app_refuses_a_bad_value_in_seconds(tmp_path, module, override, key):
    run_dir = tmp_path / "run"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", module, override, f"run_dir={run_dir}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - t0
    assert proc.returncode != 0
    assert f"ConfigError: config key '{key}'" in proc.stderr
    # Hydra made the folder for its .hydra/ record; the app wrote nothing into it
    assert not (run_dir / "config.yaml").exists()
    assert wall < 30, f"{module} took {wall:.1f} s to refuse {override}"
