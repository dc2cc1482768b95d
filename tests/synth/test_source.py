"""The synthetic cohort as a data source (conf/data/synthetic.yaml, nmm.jobs.synthetic_source):
the one route to the default cohort, and the settings the generator is built from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from nmm.config import CONF_DIR, compose_config
from nmm.data.errors import ReaderError
from nmm.jobs.cohorts import DEFAULT_ROOT
from nmm.jobs.synthetic_source import (
    SOURCE,
    synthetic_cohort,
    synthetic_cohort_folder,
    synthetic_root,
    synthetic_truth_dir,
)
from nmm.synth.config import SynthConfigError
from nmm.synth.settings import Range, SynthSettings
from tests.synth.conftest import plain_synth, synth_config

OPTIONS = sorted(p.stem for p in (Path(CONF_DIR) / "synth").glob("*.yaml"))


@pytest.mark.parametrize("app", ["train", "validate", "compare", "pipeline"])
def test_every_app_reads_the_synthetic_source_by_default(app):
    cfg = compose_config(app)
    assert cfg.data._target_ == SOURCE
    assert "synthetic" not in cfg  # one route: no second node beside data
    assert cfg.data.root is None and cfg.data.config == "synth" and list(cfg.data.overrides) == []


def test_other_sources_keep_their_overrides():
    cfg = compose_config("train", ["data=folder", "data.path=/somewhere"])
    assert cfg.data._target_ == "nmm.data.sources.folder_cohort"
    assert cfg.data.path == "/somewhere" and cfg.data.coordinate == "elbow_flexion"
    plain = OmegaConf.to_container(cfg.data, resolve=True)
    assert synthetic_root(plain) is None and synthetic_truth_dir(plain) is None


def test_a_cohort_folder_is_read_as_it_is():
    node = {"_target_": SOURCE, "root": str(DEFAULT_ROOT)}
    assert synthetic_cohort_folder(DEFAULT_ROOT) == DEFAULT_ROOT
    assert synthetic_root(node) == DEFAULT_ROOT
    assert synthetic_root({"_target_": SOURCE, "root": None}) == DEFAULT_ROOT
    assert synthetic_truth_dir(node) == DEFAULT_ROOT / "ground_truth"
    cohort = synthetic_cohort(DEFAULT_ROOT)
    assert cohort.subject_ids == ["S01", "S02", "S03", "S04", "S05"]
    with pytest.raises(ReaderError, match="knee_angle"):
        synthetic_cohort(DEFAULT_ROOT, coordinate="knee_angle")


@pytest.mark.parametrize("option", OPTIONS)
def test_settings_of_every_synth_option(option):
    plain = plain_synth(synth_config(overrides=[f"synth={option}"]))
    s = SynthSettings.from_mapping(plain)
    assert s.muscles == tuple(plain["muscles"]) and s.loads_kg == tuple(plain["loads_kg"])
    assert s.measured == tuple(m for m in s.muscles if m not in s.hidden)
    assert s.task.flexion_duration_s == tuple(plain["task"]["flexion_duration_s"])
    assert s.emg.gain_mv == Range(**plain["emg"]["gain_mv"])
    assert s.output.truth_digits == plain["output"]["truth_significant_digits"]
    elevation = plain["posture"]["shoulder_elevation_deg"]
    if isinstance(elevation, dict):  # drawn per subject
        assert s.posture.shoulder_elevation_deg == Range(**elevation)
    else:  # fixed
        assert s.posture.shoulder_elevation_deg == Range(elevation, elevation)
    assert s.mvic.include is plain["mvic"].get("include", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.n_subjects = 3  # type: ignore[misc]


def test_settings_defaults_and_checks():
    plain = plain_synth(synth_config())
    del plain["solver"]["constraint_tolerance"], plain["pain_model"]["redistribution"]
    del plain["output"]["truth_significant_digits"]
    s = SynthSettings.from_mapping(plain)
    assert s.solver.constraint_tolerance == 1e-3 and s.pain_model.redistribution == 1.0
    assert s.output.truth_digits == s.output.significant_digits
    assert s.posture.tendon_slack_scale == {} and s.workers == plain["workers"]
    plain["loads_kg"] = [0.0, -1.0]
    with pytest.raises(SynthConfigError, match="loads_kg"):
        SynthSettings.from_mapping(plain)


def test_overrides_never_replace_the_committed_cohort():
    """data.overrides that change the cohort get a folder of their own (outputs/cache/cohorts/
    <config>-<fingerprint>); overrides that leave the configured cohort as it is, and none, read
    the committed data/default_cohort/."""
    from nmm.jobs.cohorts import VARIANT_ROOT, _compose, _default_root, fingerprint

    def root(overrides):
        synth, seed = _compose("synth", overrides)
        return _default_root("synth", overrides, fingerprint(synth, seed))

    assert root([]) == DEFAULT_ROOT
    if (DEFAULT_ROOT / "cohort.fingerprint").is_file():  # the committed cohort is current
        assert root(["synth.n_subjects=5"]) == DEFAULT_ROOT  # the configured size: no change
    other = root(["seed=1"])
    assert other.parent == VARIANT_ROOT and other.name.startswith("synth-")
    assert root(["synth=tiny"]) not in (DEFAULT_ROOT, other)


def test_a_subject_selection_keeps_those_subjects_in_cohort_order():
    """data.subjects (absent by default): only those subjects and all their trials, in the
    cohort's order; an id the cohort lacks, or none, is a ReaderError naming the manifest."""
    full = synthetic_cohort(DEFAULT_ROOT)
    some = synthetic_cohort(DEFAULT_ROOT, subjects=["S04", "S02"])
    assert some.subject_ids == ["S02", "S04"]
    assert [t.trial_id for t in some] == [t.trial_id for t in full if t.subject in {"S02", "S04"}]
    assert "subjects" not in compose_config("train").data  # absent: every subject, as before
    for bad, why in ((["S02", "S09"], r"\['S09'\] not in the dataset"), ([], "no subject")):
        with pytest.raises(ReaderError, match=why) as err:
            synthetic_cohort(DEFAULT_ROOT, subjects=bad)
        assert err.value.source == str(DEFAULT_ROOT / "dataset" / "manifest.yaml")
