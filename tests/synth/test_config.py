"""The synth configs compose, and bad configs fail early with errors that name the key."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from nmm.synth.cohort import generate_cohort
from nmm.synth.config import SynthConfigError, rng, validate_config
from tests.synth.conftest import plain_synth, synth_config, synth_settings


@pytest.mark.parametrize("option", ["default", "tiny"])
def test_synth_options_compose_and_validate(option):
    cfg = synth_config(overrides=[f"synth={option}"])
    OmegaConf.resolve(cfg)
    plain = validate_config(plain_synth(cfg))
    assert plain["muscles"] == ["BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed"]
    assert plain["hidden"] == ["BRA", "TRImed"]
    assert cfg.seed == 0 and cfg.run_dir == "outputs/synth"


def test_default_cohort_shape():
    plain = validate_config(plain_synth(synth_config(overrides=["synth=default"])))
    assert plain["n_subjects"] == 5
    assert plain["loads_kg"] == [0.0, 2.0, 4.0]
    assert plain["conditions"] == ["baseline", "pain", "placebo"]
    assert plain["emg"]["rate_hz"] >= 2000


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("synth.loads_kg=[0.0,-2.0]", "cannot be negative"),
        ("synth.trials_per_cell=0", "trials_per_cell"),
        ("synth.n_subjects=0", "n_subjects"),
        ("synth.hidden=[BRA,FDS]", "FDS"),
        ("synth.conditions=[baseline,sham]", "sham"),
        ("synth.conditions=[pain]", "baseline"),
        ("synth.emg.rate_hz=1000", "2000"),
        ("synth.task.cycles_per_trial=0", "cycles_per_trial"),
        ("synth.loads_kg=[]", "at least one load"),
        ("synth.pain_model.injected_muscle=BRA", "measured muscle"),
    ],
)
def test_bad_configs_fail_with_clear_errors(override, message):
    cfg = synth_config(overrides=[override])
    with pytest.raises(SynthConfigError, match=message):
        validate_config(plain_synth(cfg))


def test_muscle_not_in_model_fails_before_any_simulation(arm26_osim, tmp_path):
    settings = synth_settings(
        arm26_osim, ["synth.muscles=[BIClong,BICshort,BRA,TRIlong,TRIlat,TRImed,FCU]"]
    )
    with pytest.raises(SynthConfigError, match=r"\['FCU'\] not in the model .*TRIlong"):
        generate_cohort(settings, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_model_file_fails(tmp_path):
    settings = synth_settings(tmp_path / "nowhere.osim")
    with pytest.raises(SynthConfigError, match="no model file"):
        generate_cohort(settings, tmp_path / "out")


def test_single_contraction_per_load_is_rejected(arm26_osim, tmp_path):
    settings = synth_settings(arm26_osim, ["synth.task.cycles_per_trial=1"])
    with pytest.raises(SynthConfigError, match="pain calibration"):
        generate_cohort(settings, tmp_path / "out")


def test_random_streams_are_keyed_not_ordered():
    a = rng(3, "emg", 0, "baseline_0kg_1").normal(size=5)
    b = rng(3, "emg", 0, "baseline_0kg_1").normal(size=5)
    c = rng(3, "emg", 1, "baseline_0kg_1").normal(size=5)
    assert (a == b).all() and not (a == c).all()
