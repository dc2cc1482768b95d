"""The pain-signature analysis (the app's :func:`nmm.jobs.painsig.run_painsig`) end to end on a
small cohort whose pain effect is known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmm.data import Cohort, Signal, Subject, Trial
from nmm.data.preprocess import BandPass, Chain, Differentiate, Envelope, LowPass
from nmm.jobs.painsig import run_painsig
from painsig.classifier import PainClassifier
from painsig.features import FEATURES
from painsig.registry import FeatureInput, FeatureSpec
from painsig.segment import EmgOnsetSegmenter
from painsig.settings import PainsigSettings, SettingsError

RATE = 1000.0


def raw_trial(subject, condition, seed, gain):
    """Raw EMG bursts (BIClong agonist) with flexion movements; pain lowers the burst peak."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(8 * RATE)) / RATE
    env = np.full_like(t, 0.05)
    angle = np.full_like(t, 0.4)
    for k, t0 in enumerate(np.arange(0.8, 7.5, 1.6)):
        amp = (0.45 if condition == "pain" else 0.8) * (1 + 0.1 * rng.normal())
        burst = (t >= t0) & (t < t0 + 0.6)
        env[burst] += amp * np.sin(np.pi * (t[burst] - t0) / 0.6)
        tau = np.clip((t - t0 - 0.05) / 0.6, 0, 1)
        angle += (1 if k % 2 == 0 else -1) * 1.0 * (10 * tau**3 - 15 * tau**4 + 6 * tau**5)
    noise = rng.normal(size=(t.size, 2))
    emg = Signal.uniform(
        gain * env[:, None] * noise * [1.0, 0.4], RATE, ["BIClong", "TRIlong"], "mV", kind="emg"
    )
    kin = Signal.uniform(angle, RATE, ["elbow_flexion"], "rad", kind="kinematics")
    return Trial(subject, f"{condition}_1", emg=emg, kinematics=kin, condition=condition)


@pytest.fixture(scope="module")
def cohort():
    subjects = [f"S{i}" for i in range(6)]
    trials = [
        raw_trial(s, c, seed=10 * i + j, gain=1 + 0.3 * i)
        for i, s in enumerate(subjects)
        for j, c in enumerate(("baseline", "pain", "placebo"))
    ]
    return Cohort([Subject(s) for s in subjects], trials, name="toy")


def test_run_painsig_writes_honest_metrics_and_figures(cohort, tmp_path):
    settings = PainsigSettings.from_mapping(
        {
            "positive": "pain",
            "negative": "baseline",
            "third": "placebo",
            "features": {"names": ["var", "mad", "int", "peak", "apen", "rms"]},
            "classifier": {"n_estimators": 30, "max_depth": 2, "n_jobs": 1},
            "evaluation": {"scheme": "logo", "n_boot": 200, "n_permutations": 9},
            "statistics": {"paired": True},
        }
    )
    report = run_painsig(
        cohort,
        Chain([BandPass(20, 400), Envelope(50.0)]),
        Chain([LowPass(10.0), Differentiate()]),
        EmgOnsetSegmenter(agonist="BIClong", k_sd=5.0, min_on_s=0.1),
        settings,
        tmp_path,
    )
    json.dumps(report, allow_nan=False)
    assert report["cv"] == "logo" and report["n_subjects"] == 6
    # five bursts per trial, two labelled conditions
    assert report["n_epochs_by_condition"]["pain"] == report["n_epochs_by_condition"]["baseline"]
    low, high = report["balanced_accuracy_ci"]
    assert low <= report["balanced_accuracy"] <= high
    assert report["balanced_accuracy"] > 0.8  # the peak drop is large and consistent
    assert report["chance_level"] < 0.7
    assert 0.0 <= report["third_condition"]["fraction"] <= 1.0
    assert "predicted_class_comparison" in report["third_condition"]
    assert report["random_split_inflation"]["grouped_scheme"] == "logo"
    for name in ("confusion_matrix", "shap_beeswarm", "shap_bar"):
        assert (tmp_path / "figures" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stats = (tmp_path / "statistics.md").read_text()
    assert "BIClong_peak" in stats
    assert report["n_significant_features"] >= 1
    # the final model, saved for painsig-monitor (monitor.model)
    assert PainClassifier.load(tmp_path / "model.json").classes_.tolist() == ["baseline", "pain"]


def test_missing_condition_is_a_clear_error(cohort, tmp_path):
    with pytest.raises(ValueError, match=r"no trials of condition\(s\) \['injured'\]"):
        run_painsig(
            cohort,
            Chain([]),
            Chain([]),
            EmgOnsetSegmenter(agonist="BIClong"),
            PainsigSettings(positive="injured"),
            tmp_path,
        )


def test_a_registered_feature_reaches_the_run_folder(cohort, tmp_path):
    """One function and one registry entry: the feature is computed, classified, explained and
    tested without touching another module."""

    def burst_range(e: FeatureInput) -> float:
        """max(x) - min(x), units of x."""
        return float(np.ptp(e.x))

    with pytest.raises(SettingsError, match="burst_range"):
        PainsigSettings.from_mapping({"features": {"names": ["rms", "burst_range"]}})
    with FEATURES.registered(FeatureSpec("burst_range", burst_range, unit="units of x")):
        settings = PainsigSettings.from_mapping(
            {
                "third": None,
                "features": {"names": ["rms", "burst_range"]},
                "classifier": {"n_estimators": 10, "max_depth": 2, "n_jobs": 1},
                "evaluation": {"n_boot": 20, "n_permutations": 0},
            }
        )
        report = run_painsig(
            cohort,
            Chain([BandPass(20, 400), Envelope(50.0)]),
            Chain([LowPass(10.0), Differentiate()]),
            EmgOnsetSegmenter(agonist="BIClong", k_sd=5.0, min_on_s=0.1),
            settings,
            tmp_path,
        )
    header = (tmp_path / "features.csv").read_text().splitlines()[0].split(",")
    assert {"BIClong_burst_range", "TRIlong_burst_range"} <= set(header)
    assert "BIClong_burst_range" in (tmp_path / "shap_summary.csv").read_text()
    assert "BIClong_burst_range" in (tmp_path / "statistics.md").read_text()
    assert report["n_subjects"] == 6
