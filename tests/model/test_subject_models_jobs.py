"""nmm-train and nmm-predict with a subject's own scaled model (issue 20, item 2), end to end.

The toy cohort is written as a dataset folder whose subject T02 has its own scaled arm26
(:attr:`nmm.data.schema.Subject.model`). Its personalised ``.osim`` must be written from that
model (the forearm and its muscles' F0 as in it), the run folder must list it, and nmm-predict
must rebuild the trained model with it: the muscle torque it reconstructs for T02 is the one
nmm-train wrote.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from nmm.data.io.dataset import write_dataset
from nmm.data.io.sto import read_sto
from nmm.data.schema import Cohort

from .conftest import compose_train

osim = pytest.importorskip("opensim", reason="OpenSim 4.6 (pip 'opensim') is not installed")

from tests.opensim.scaled_models import scaled_arm26  # noqa: E402  (needs OpenSim)

SCALE = 1.15  # T02's arm segments
FOREARM = "r_ulna_radius_hand"


@pytest.fixture(scope="module")
def dataset(toy, arm26_osim: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("own_models") / "dataset"
    folder.mkdir()
    (folder / "models").mkdir()
    model = scaled_arm26(arm26_osim, folder / "models" / "T02.osim", SCALE)
    cohort = toy[0]
    subjects = [
        replace(s, model=str(model) if s.subject_id == "T02" else None)
        for s in cohort.subjects.values()
    ]
    write_dataset(Cohort(subjects, list(cohort), name="toy_own_models"), folder)
    return folder


def _forearm_com(path: Path) -> float:
    model = osim.Model(str(path))
    model.initSystem()
    return -model.getBodySet().get(FOREARM).getMassCenter().get(1)


def _f0(path: Path, muscle: str) -> float:
    model = osim.Model(str(path))
    model.initSystem()
    return model.getMuscles().get(muscle).getMaxIsometricForce()


def test_train_and_predict_with_a_subjects_own_model(
    dataset: Path, toy_dir: Path, arm26_osim: Path, geometry_cache: Path, tmp_path: Path
) -> None:
    from nmm.jobs.predict import run_predict
    from nmm.jobs.train import run_train

    run = tmp_path / "train"
    cfg = compose_train(
        [
            "data=folder",
            f"data.path={dataset}",
            f"evaluate.truth_dir={toy_dir / 'ground_truth'}",
            f"run_dir={run}",
            "trainer.max_epochs=1",
            "evaluate.personalise.steps=3",
            "evaluate.workers=1",
            "evaluate.max_figures=0",
            "specialise.enabled=false",
        ],
        geometry_cache,
    )
    metrics = run_train(cfg)
    own = dataset / "models" / "T02.osim"
    assert json.loads((run / "subject_models.json").read_text()) == {"T02": str(own.resolve())}
    assert len(metrics["loso"]["folds"]) == 2  # T02 held out: personalised on its own model

    # the personalised models start from each subject's model
    written = run / "predictions" / "models"
    assert _forearm_com(written / "T02.osim") == pytest.approx(_forearm_com(own), rel=1e-9)
    assert _forearm_com(written / "T01.osim") == pytest.approx(_forearm_com(arm26_osim), rel=1e-9)
    params = json.loads((run / "parameters.json").read_text())
    factor = params["T02"]["max_isometric_force"]["BIClong"]
    assert _f0(written / "T02.osim", "BIClong") == pytest.approx(factor * _f0(own, "BIClong"))

    # nmm-predict rebuilds T02's physics from its model: the same muscle torque as nmm-train's
    out = tmp_path / "predict"
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        pcfg = compose(
            config_name="predict",
            overrides=[
                "data=folder",
                f"data.path={dataset}",
                f"model_dir={run}",
                f"run_dir={out}",
                "max_figures=0",
            ],
        )
    run_predict(pcfg)
    stos = sorted((run / "predictions" / "envelopes" / "T02").glob("*_torque.sto"))
    assert stos
    for sto in stos:
        again = read_sto(out / "envelopes" / "T02" / sto.name)
        np.testing.assert_allclose(again.data, read_sto(sto).data, atol=1e-6)
    assert _forearm_com(out / "models" / "T02.osim") == pytest.approx(_forearm_com(own))

    # nmm-validate: OpenSim drives each personalised model (T02's from its own) with the
    # reconstructed activations and agrees with the torch muscle torque within 1 % RMS
    from nmm.jobs.validate import run_validate

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        vcfg = compose(
            config_name="validate",
            overrides=[
                "data=folder",
                f"data.path={dataset}",
                f"validate.predictions={run / 'predictions'}",
                f"run_dir={tmp_path / 'validate'}",
                "validate.max_figures=0",
            ],
        )
    vm = run_validate(vcfg)
    assert {t["subject"] for t in vm["trials"]} == {"T01", "T02"}
    assert vm["torch_agreement_within_tolerance"] is True
