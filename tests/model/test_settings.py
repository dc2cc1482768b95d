"""The model takes settings objects the apps build (issue 19, item 1): nmm.model imports no
config library, the settings read plain mappings, and a training setup crosses to LOSO worker
processes (pickled) whole."""

from __future__ import annotations

import ast
import pickle
from pathlib import Path

import pytest

from nmm.jobs.nmm_setup import evaluation_settings, model_settings, plain, training_setup
from nmm.model.evaluate import DEFAULT_BASELINE, DEFAULT_TARGETS, EvaluationSettings
from nmm.model.settings import DataModuleSettings, NMMSettings, PersonaliseSettings

MODEL = Path(__file__).resolve().parents[2] / "nmm" / "model"


def test_the_model_package_imports_no_config_library() -> None:
    bad = []
    for path in sorted(MODEL.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            bad += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("omegaconf", "hydra")]
    assert bad == []


def test_settings_read_the_plain_config(tiny_cfg) -> None:
    s = model_settings(tiny_cfg)
    assert s == NMMSettings.from_mapping(
        {
            "physics": plain(tiny_cfg.physics),
            "preprocess": {"resample_hz": 100.0},
            "model": plain(tiny_cfg.model),
        }
    )
    assert s.rate_hz == 100.0 and s.window_s == 0.5 and s.stride_s == 0.25  # model/tiny.yaml
    assert s.hidden == ("BRA", "TRImed") and s.muscles[0] == "BIClong"
    assert s.synergists == {"BRA": ["BIClong", "BICshort"], "TRImed": ["TRIlong", "TRIlat"]}
    assert type(s.physics) is dict  # a plain mapping, not a DictConfig
    data = DataModuleSettings.from_mapping({"batch_size": 8, "kinds": ["movement"]})
    assert data == DataModuleSettings(batch_size=8, kinds=("movement",))


def test_evaluation_settings_take_the_module_defaults_where_the_config_is_silent(tiny_cfg):
    bare = EvaluationSettings.from_mapping(None, ["BRA"])
    assert bare.baseline == DEFAULT_BASELINE and bare.targets == DEFAULT_TARGETS
    assert bare.personalise == PersonaliseSettings(steps=150)
    assert bare.workers == 1 and bare.reference_cutoff_hz == 6.0
    ev = evaluation_settings(tiny_cfg)  # conf/train.yaml's evaluate node
    assert ev.kinds == ("movement",) and ev.personalise.adapt is True
    assert ev.personalise.window_s == 1.0 and ev.workers == 3
    with pytest.raises(KeyError):
        NMMSettings.from_mapping({"physics": {}, "preprocess": {}, "model": {}})


def test_a_training_setup_is_picklable_and_builds_the_configured_parts(tiny_cfg, tmp_path):
    setup = pickle.loads(pickle.dumps(training_setup(tiny_cfg)))
    net = setup.components.net(n_inputs=7, n_outputs=6)
    assert type(net).__name__ == "NMMEncoder"
    trainer = setup.make_trainer(
        tmp_path, callbacks=False, loggers=False, enable_progress_bar=False
    )
    assert trainer.max_epochs == -1 and not trainer.loggers  # conf/train.yaml's trainer node
    assert setup.seed == int(tiny_cfg.seed)
