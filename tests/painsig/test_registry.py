"""The feature registry: a new feature is one function and one entry, its rules are enforced,
and unknown names fail before any work with the key and the known names."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from nmm.jobs.config_check import ConfigError
from nmm.jobs.painsig import settings_from_config
from painsig.features import FEATURES, extract_features
from painsig.registry import (
    FeatureError,
    FeatureInput,
    FeatureRegistry,
    FeatureSpec,
    Param,
    UnknownFeatureError,
)
from painsig.segment import Epoch
from painsig.settings import FeatureSettings, PainsigSettings, SettingsError
from painsig.table import feature_table

FS = 1000.0
GAIN = Param("toy_gain", 1.0, "multiplier of the toy feature (1)")


def _toy_energy(e: FeatureInput) -> float:
    """Toy feature: gain * sum(x^2) / fs, units of x squared times s."""
    return e.params["toy_gain"] * float(np.sum(e.x**2)) / e.fs


TOY = FeatureSpec(
    "toy", _toy_energy, unit="units of x² · s", params=(GAIN,), min_samples=10, min_rate_hz=500.0
)


def _epoch(values: np.ndarray, subject: str = "S01") -> Epoch:
    return Epoch(subject, "t1", "1", "pain", 0.0, len(values) / FS, values, ("BIClong",), FS)


def test_a_registered_feature_is_a_column_of_the_table_with_its_parameter():
    rng = np.random.default_rng(0)
    eps = [_epoch(rng.standard_normal((200, 1)), s) for s in ("S01", "S02")]
    with FEATURES.registered(TOY):
        assert FEATURES.names()[-1] == "toy"
        settings = FeatureSettings.from_mapping({"names": ["rms", "toy"], "toy_gain": 3.0})
        table = feature_table(eps, names=settings.names, params=settings.params)
    assert "toy" not in FEATURES.names()
    assert list(table.columns[-2:]) == ["BIClong_rms", "BIClong_toy"]
    x = eps[1].values[:, 0]
    assert table.loc[1, "BIClong_toy"] == pytest.approx(3.0 * np.sum(x**2) / FS, rel=1e-12)


def test_validity_rules_reject_short_and_empty_epochs_and_low_rates():
    with FEATURES.registered(TOY):
        with pytest.raises(FeatureError, match=r"epoch 1: epoch too short: 5 samples, .*10.*'toy'"):
            extract_features([np.ones(20), np.ones(5)], FS, names=["toy"])
        with pytest.raises(FeatureError, match=r"epoch 0: epoch is empty"):
            extract_features([np.array([])], FS, names=["toy"])
        with pytest.raises(FeatureError, match=r"'toy' needs a sampling rate of at least 500 Hz"):
            extract_features([np.ones(20)], 250.0, names=["toy"])
        kept = extract_features([np.ones(20), np.ones(5)], FS, names=["toy"], on_invalid="drop")
    assert list(kept.index) == [0]


def test_a_feature_needing_a_reference_is_left_out_or_refused_without_one():
    ref = FeatureSpec(
        "toy_ref", lambda e: float(e.x.max() / e.reference), "1", needs_reference=True
    )
    with FEATURES.registered(ref):
        assert "toy_ref" not in extract_features([np.ones(5)], FS).columns
        assert extract_features([np.ones(5)], FS, mvic=2.0)["toy_ref"].iloc[0] == 0.5
        with pytest.raises(FeatureError, match="'toy_ref' requires mvic"):
            extract_features([np.ones(5)], FS, names=["toy_ref"])


def test_unknown_names_and_parameters_name_the_key_and_the_known_names():
    with pytest.raises(SettingsError, match=r"unknown feature names \['bogus'\].*'rms'") as err:
        FeatureSettings.from_mapping({"names": ["rms", "bogus"]})
    assert err.value.key == "features.names"
    with pytest.raises(SettingsError, match=r"unknown feature parameters \['apen_q'\]") as err:
        FeatureSettings.from_mapping({"names": ["apen"], "apen_q": 3})
    assert err.value.key == "features.apen_q"
    with pytest.raises(UnknownFeatureError) as unknown:
        FEATURES.spec("bogus")
    assert unknown.value.known == FEATURES.names()


def test_the_app_turns_a_bad_feature_name_into_a_config_error_before_work():
    cfg = OmegaConf.create({"positive": "pain", "features": {"names": ["rms", "bogus"]}})
    with pytest.raises(ConfigError, match=r"painsig\.features\.names.*valid names") as err:
        settings_from_config(cfg)
    assert err.value.key == "painsig.features.names"


def test_settings_from_a_mapping_reject_unknown_keys():
    with pytest.raises(SettingsError, match=r"evaluation\.n_bootstrap"):
        PainsigSettings.from_mapping({"evaluation": {"n_bootstrap": 10}})
    with pytest.raises(SettingsError, match=r"evaluation\.scheme"):
        PainsigSettings.from_mapping({"evaluation": {"scheme": "kfold"}})
    with pytest.raises(SettingsError, match=r"statistics\.correction"):
        PainsigSettings.from_mapping({"statistics": {"correction": "sidak"}})
    default = PainsigSettings.from_mapping({"segmenter": {"agonist": "BIClong"}})
    assert default == PainsigSettings()


def test_registration_refuses_duplicates_and_clashing_parameters():
    registry = FeatureRegistry()
    registry.register(TOY)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(TOY)
    clash = Param("toy_gain", 2.0, "another gain")
    with pytest.raises(ValueError, match="share its Param object"):
        registry.register(FeatureSpec("toy2", _toy_energy, "1", params=(clash,)))
    registry.register(FeatureSpec("toy3", _toy_energy, "1", params=(GAIN,)))  # shared: fine
    assert registry.names() == ("toy", "toy3")


def test_shared_results_are_computed_once_per_epoch():
    calls = []
    e = FeatureInput(np.ones(3))
    for _ in range(3):
        e.shared("k", lambda: calls.append(1) or len(calls))
    assert calls == [1]
