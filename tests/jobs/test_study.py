"""``data=study`` and ``nmm-study`` (issue 20): the default cohort exported by the command and
read through the config is the native cohort bit for bit; a trial without its ID file gets the
moment of OpenSim's inverse dynamics; model-level errors name the subject and the model."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from nmm.config import compose_config
from nmm.data import DataValidationError
from nmm.data.io.dataset import read_dataset
from nmm.data.io.study_export import write_study
from nmm.data.io.study_layout import STUDY_FILE
from nmm.jobs.nmm_setup import load_cohort
from nmm.jobs.study import study_cohort
from scripts.study import main
from tests.data.test_study import assert_same_cohort

COHORT = Path(__file__).resolve().parents[2] / "data" / "default_cohort"


@pytest.fixture(scope="module")
def native():
    if not (COHORT / "dataset" / "manifest.yaml").is_file():
        pytest.skip(f"the embedded default cohort is not at {COHORT}")
    return read_dataset(COHORT / "dataset")


def test_init_writes_a_template_once(tmp_path, capsys):
    assert main(["init", str(tmp_path / "new")]) == 0
    assert (tmp_path / "new" / STUDY_FILE).is_file()
    assert main(["init", str(tmp_path / "new")]) == 1
    assert "not an empty folder" in capsys.readouterr().err
    assert main(["export"]) == 2


def test_exported_default_cohort_reads_as_the_native_one(native, tmp_path, arm26_osim):
    """`nmm-study export DIR`, then `data=study data.path=DIR`: the same cohort as data=synthetic
    (arrays bit for bit), each subject with its own copy of physics.osim."""
    study = tmp_path / "study"
    physics = f"physics.osim={arm26_osim}"
    assert main(["export", str(study), physics]) == 0
    cfg = compose_config("pipeline", ["data=study", f"data.path={study}", physics])
    cohort, truth = load_cohort(cfg)
    assert truth is None  # recorded data: no ground truth unless evaluate.truth_dir names it
    assert_same_cohort(cohort, native)
    assert {Path(s.model).read_bytes() for s in cohort.subjects.values()} == {
        arm26_osim.read_bytes()
    }


def _one_subject_study(native, folder: Path, model: Path | None) -> Path:
    return write_study(native.select(subject="S02"), folder, default_model=model)


def test_missing_id_is_computed_by_inverse_dynamics(native, tmp_path):
    pytest.importorskip("opensim")
    # the body the cohort simulated, so the computed moment can match the recorded one
    folder = _one_subject_study(native, tmp_path / "study", COHORT / "ground_truth/S02/model.osim")
    for trial in ("baseline_4kg_1", "pain_2kg_1"):
        (folder / "S02" / f"{trial}_id.sto").unlink()
    cohort = study_cohort(folder, default_lever_arm_m=0.30)
    computed = [
        t for t in cohort if "InverseDynamicsSolver (S02.osim" in t.metadata["torque_source"]
    ]
    assert [t.trial_id for t in computed] == ["baseline_4kg_1", "pain_2kg_1"]
    for trial in computed:
        ref = next(t for t in native if (t.subject, t.trial_id) == ("S02", trial.trial_id))
        assert np.array_equal(trial.torque.time, ref.torque.time)
        err = trial.moment - ref.moment
        r2 = 1.0 - np.sum(err**2) / np.sum((ref.moment - ref.moment.mean()) ** 2)
        assert r2 > 0.999 and np.sqrt(np.mean(err**2)) < 0.2, trial.trial_id
    kept = next(t for t in cohort if t.trial_id == "baseline_2kg_1")
    assert kept.metadata["torque_source"] == "OpenSim InverseDynamicsSolver (muscles off)"


def test_no_model_and_no_id_names_subject_trial_and_file(native, tmp_path):
    folder = _one_subject_study(native, tmp_path / "study", None)
    (folder / "S02" / "pain_2kg_1_id.sto").unlink()
    with pytest.raises(DataValidationError, match="subject 'S02', trial 'pain_2kg_1'") as err:
        study_cohort(folder)
    assert err.value.source == str((folder / "S02" / "pain_2kg_1_ik.mot").resolve())


def test_a_coordinate_the_model_lacks_names_subject_and_model(native, tmp_path, arm26_osim):
    pytest.importorskip("opensim")
    folder = _one_subject_study(native, tmp_path / "study", arm26_osim)
    doc = yaml.safe_load((folder / STUDY_FILE).read_text(encoding="utf-8"))
    doc["coordinate"]["model"] = "elbow_flexion"
    (folder / STUDY_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    for path in [*(folder / "S02").glob("*_ik.mot"), *(folder / "S02").glob("*_id.sto")]:
        text = path.read_text(encoding="utf-8")  # the files say elbow_flexion too
        path.write_text(text.replace("r_elbow_flex", "elbow_flexion"), encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"subject 'S02'.*no coordinate 'elbow_flexion'"):
        study_cohort(folder)


def test_a_broken_model_names_subject_and_model(native, tmp_path, arm26_osim):
    pytest.importorskip("opensim")
    folder = _one_subject_study(native, tmp_path / "study", arm26_osim)
    (folder / "S02" / "S02.osim").write_text("<not a model\n", encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"subject 'S02'.*OpenSim cannot load") as err:
        study_cohort(folder)
    assert err.value.source.endswith("S02.osim")


def test_data_study_config_composes_and_checks_the_coordinate(native, tmp_path):
    folder = _one_subject_study(native, tmp_path / "study", None)
    cfg = compose_config("train", ["data=study", f"data.path={folder}", "data.coordinate=knee"])
    with pytest.raises(InstantiationException, match="the config says 'knee'"):
        instantiate(cfg.data)
    shutil.rmtree(folder)


def test_computed_moment_uses_and_records_the_lever_arm_scaled_with_the_forearm(
    native, tmp_path, arm26_osim
):
    """A trial with no lever arm and no ID file, of a subject with a scaled model: ID applies the
    load at physics.load.lever_arm_m scaled with the subject's forearm (as the NMM and
    nmm-validate do), and the trial records it."""
    pytest.importorskip("opensim")
    from nmm.data.schema import Cohort, Load
    from nmm.opensim.elbow_twin import grip_lever_arms
    from tests.opensim.scaled_models import scaled_arm26

    s02 = native.select(subject="S02")
    trials = [t.replace(load=Load(t.load.mass_kg, None)) for t in s02]
    cohort = Cohort(s02.subjects.values(), trials, name="lever")
    model = scaled_arm26(arm26_osim, tmp_path / "S02_scaled.osim", factor=1.1)
    folder = write_study(cohort, tmp_path / "study", default_model=model)
    (folder / "S02" / "baseline_4kg_1_id.sto").unlink()
    read = study_cohort(folder, default_model=str(arm26_osim), default_lever_arm_m=0.30)
    expected = grip_lever_arms(arm26_osim, 0.30, {"S02": folder / "S02" / "S02.osim"})["S02"]
    assert abs(expected - 0.30) > 0.01  # the scaled forearm moves the grip
    computed = next(t for t in read if t.trial_id == "baseline_4kg_1")
    assert computed.load.lever_arm_m == pytest.approx(expected, rel=1e-12)
    assert next(t for t in read if t.trial_id == "baseline_2kg_1").load.lever_arm_m is None


def test_the_pyomeca_study_reads_through_data_study_with_the_default_model(
    tmp_path, pyomeca_dir, arm26_osim
):
    """docs/study.md's worked example: the pyomeca trial, whose IK names the joint
    elbow_flexion and which has no model of its own, reads through the data source with arm26 as
    the default model (which calls the joint r_elbow_flex): its moments are recorded, so the
    default model is not asked for the IK's coordinate name."""
    pytest.importorskip("opensim")
    import warnings

    from tests.data.test_study import _pyomeca_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the files' headers announce more rows than they hold
        folder = _pyomeca_study(tmp_path / "study", pyomeca_dir)
        cohort = study_cohort(folder, default_model=str(arm26_osim), default_lever_arm_m=0.3)
    assert [t.trial_id for t in cohort] == ["box_lift"]
