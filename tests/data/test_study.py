"""The study folder (issue 20): the default cohort exported and read back bit for bit, the shared
pyomeca trial as a one-subject study from its raw files, envelopes, the MVIC reference, the
template, and errors that name the subject, the trial and the file."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from nmm.data import Cohort, DataValidationError, Load, ReaderError, Signal, Subject, Trial
from nmm.data.io.dataset import read_dataset
from nmm.data.io.sto import write_sto
from nmm.data.io.study import read_study
from nmm.data.io.study_export import write_study
from nmm.data.io.study_layout import STUDY_FILE, SUBJECT_FILE
from nmm.data.io.study_template import write_template
from nmm.data.posture import cohort_postures
from nmm.data.sources import STANDARD_GRAVITY, pyomeca_cohort

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "data" / "default_cohort" / "dataset"


def assert_same_cohort(back: Cohort, ref: Cohort) -> None:
    """Same subjects, trials and streams, arrays bit for bit."""
    assert back.name == ref.name
    assert back.subject_ids == ref.subject_ids
    for sid, s in ref.subjects.items():
        b = back.subjects[sid]
        assert (b.mvic, b.body_mass_kg, b.height_m, b.metadata) == (
            s.mvic,
            s.body_mass_kg,
            s.height_m,
            s.metadata,
        ), sid
    assert len(back) == len(ref)
    for bt, rt in zip(back, ref, strict=True):
        key = (rt.subject, rt.session, rt.trial_id)
        assert (bt.subject, bt.session, bt.trial_id) == key
        assert (bt.condition, bt.coordinate, bt.load, bt.metadata) == (
            rt.condition,
            rt.coordinate,
            rt.load,
            rt.metadata,
        ), key
        assert bt.muscle_set.name == rt.muscle_set.name
        assert set(bt.streams()) == set(rt.streams()), key
        for kind, rs in rt.streams().items():
            bs = bt.streams()[kind]
            assert (bs.kind, bs.channels, bs.units, bs.rate) == (
                rs.kind,
                rs.channels,
                rs.units,
                rs.rate,
            ), (key, kind)
            assert np.array_equal(bs.time, rs.time), (key, kind)
            assert np.array_equal(bs.values, rs.values), (key, kind)


@pytest.fixture(scope="module")
def default_cohort() -> Cohort:
    if not (DEFAULT_DATASET / "manifest.yaml").is_file():
        pytest.skip(f"the embedded default cohort is not at {DEFAULT_DATASET}")
    return read_dataset(DEFAULT_DATASET)


@pytest.fixture(scope="module")
def exported(default_cohort: Cohort, tmp_path_factory, arm26_osim: Path) -> Path:
    folder = tmp_path_factory.mktemp("export") / "study"
    return write_study(default_cohort, folder, default_model=arm26_osim, mains_hz=50.0)


def test_default_cohort_round_trips_bit_for_bit(default_cohort, exported, arm26_osim):
    study = read_study(exported)
    assert_same_cohort(study.cohort, default_cohort)
    assert study.lacking_torque == []
    assert study.layout.mains_hz == 50.0
    for sid, subject in study.cohort.subjects.items():  # each subject its own copy of the model
        assert subject.model == str((exported / sid / f"{sid}.osim").resolve())
        assert Path(subject.model).read_bytes() == arm26_osim.read_bytes()
    assert not list(exported.parent.glob(".*tmp*"))


def test_mvic_reference_from_the_mvic_trials_is_the_cohorts(default_cohort, exported, tmp_path):
    """Without explicit values, the reference is the peak of the documented envelope of the MVIC
    trials: the synthetic cohort's own MVIC values, computed by its generator (from its EMG
    before the dataset rounds it to 6 significant digits: hence the relative 1e-6)."""
    study = tmp_path / "study"
    shutil.copytree(exported, study)
    for sid in ("S01", "S02"):
        path = study / sid / SUBJECT_FILE
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert doc["mvic_trials"] == ["mvic_flexion", "mvic_extension"]
        del doc["mvic"]
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    back = read_study(study).cohort
    for sid in ("S01", "S02"):
        want = default_cohort.subjects[sid].mvic
        assert back.subjects[sid].mvic == pytest.approx(want, rel=1e-6)
        mvic_trials = back.select(subject=sid, condition="mvic")
        assert [t.metadata["kind"] for t in mvic_trials] == ["mvic", "mvic"]


def test_missing_id_file_leaves_the_trial_without_torque(exported, tmp_path):
    study = tmp_path / "study"
    shutil.copytree(exported, study)
    (study / "S03" / "baseline_2kg_1_id.sto").unlink()
    read = read_study(study)
    assert [(t.subject, t.trial_id) for t in read.lacking_torque] == [("S03", "baseline_2kg_1")]
    assert read.files[("S03", "1", "baseline_2kg_1")].id is None
    assert (
        read.files[("S03", "1", "baseline_2kg_1")].ik
        == (study / "S03" / "baseline_2kg_1_ik.mot").resolve()
    )


# --- the shared pyomeca recording as a one-subject study -----------------------------------------


def _pyomeca_study(folder: Path, pyomeca_dir: Path) -> Path:
    (folder / "P01").mkdir(parents=True)
    for name in ("markers_analogs.c3d", "inverse_kin.mot", "inverse_dyn.sto"):
        shutil.copyfile(pyomeca_dir / name, folder / "P01" / name)
    study = {
        "format": "nmm-study",
        "version": 1,
        "name": "pyomeca-upper-limb",
        "muscle_set": "upper_limb_surface",
        "coordinate": {"model": "elbow_flexion", "data": "elbow_flexion"},
        "emg": {"kind": "raw", "channels": None},
        "mains_hz": 60,
    }
    subject = {
        "trials": [
            {
                "id": "box_lift",
                "load_kg": 60.0 / STANDARD_GRAVITY,
                "files": {
                    "ik": "inverse_kin.mot",
                    "id": "inverse_dyn.sto",
                    "emg": "markers_analogs.c3d",
                },
                "metadata": {"dataset": "pyomeca-upper-limb", "licence": "Apache-2.0"},
            }
        ]
    }
    (folder / STUDY_FILE).write_text(yaml.safe_dump(study), encoding="utf-8")
    (folder / "P01" / SUBJECT_FILE).write_text(yaml.safe_dump(subject), encoding="utf-8")
    return folder


def test_pyomeca_trial_as_a_study_equals_the_pyomeca_source(tmp_path, pyomeca_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the files' headers announce more rows than they hold
        ref = pyomeca_cohort(pyomeca_dir).trials[0]
        study = read_study(_pyomeca_study(tmp_path / "study", pyomeca_dir))
    (trial,) = study.cohort.trials
    assert (trial.subject, trial.trial_id, trial.load, trial.metadata) == (
        "P01",
        "box_lift",
        ref.load,
        ref.metadata,
    )
    for kind in ("emg", "kinematics", "torque"):
        got, want = getattr(trial, kind), getattr(ref, kind)
        assert (got.channels, got.units, got.rate) == (want.channels, want.units, want.rate)
        assert np.array_equal(got.time, want.time) and np.array_equal(got.values, want.values)
    assert study.layout.mains_hz == 60.0
    assert study.cohort.subjects["P01"].model is None


# --- small studies written here -------------------------------------------------------------------


def _small_study(folder: Path, *, kind: str = "raw", emg_suffix: str = ".sto") -> Path:
    """One subject, two trials (one MVIC), EMG labels EMG1/EMG2 mapped by study.yaml."""
    rng = np.random.default_rng(3)
    sub = folder / "S01"
    sub.mkdir(parents=True)
    (sub / "S01.osim").write_text("<OpenSimDocument/>\n", encoding="utf-8")
    t_kin = np.arange(200) / 100.0
    t_emg = np.arange(4000) / 2000.0
    for trial in ("mvic_flex", "flex_01"):
        angle = np.degrees(0.5 + 0.4 * np.sin(t_kin))
        write_sto(sub / f"{trial}_ik.mot", t_kin, angle[:, None], ["r_elbow_flex"], in_degrees=True)
        write_sto(sub / f"{trial}_id.sto", t_kin, np.cos(t_kin)[:, None], ["r_elbow_flex_moment"])
        emg = rng.normal(size=(t_emg.size, 2)) * 0.1
        if kind == "envelope":
            emg = np.abs(emg)
        if emg_suffix == ".csv":
            rows = np.column_stack([t_emg, emg])
            text = "time,EMG1,EMG2\n" + "".join(
                ",".join(f"{v!r}" for v in r.tolist()) + "\n" for r in rows
            )
            (sub / f"{trial}_emg.csv").write_text(text, encoding="utf-8")
        else:
            write_sto(sub / f"{trial}_emg.sto", t_emg, emg, ["EMG1", "EMG2"])
    study = {
        "format": "nmm-study",
        "version": 1,
        "emg": {"kind": kind, "unit": "mV", "channels": {"EMG1": "biceps_long", "EMG2": "TRIlong"}},
        "load": {"lever_arm_m": 0.3},
    }
    subject = {
        "body_mass_kg": 70.0,
        "model": "S01.osim",
        "mvic_trials": ["mvic_flex"],
        "lever_arm_m": 0.32,
        "sessions": {"1": {"date": "2025-01-01"}},
        "trials": [{"id": "mvic_flex"}, {"id": "flex_01", "load_kg": 2.0, "lever_arm_m": 0.34}],
    }
    (folder / STUDY_FILE).write_text(yaml.safe_dump(study), encoding="utf-8")
    (sub / SUBJECT_FILE).write_text(yaml.safe_dump(subject, sort_keys=False), encoding="utf-8")
    return folder


def test_small_study_reads_units_loads_and_conditions(tmp_path):
    study = read_study(_small_study(tmp_path / "study"))
    mvic, flex = study.cohort.trials
    assert (mvic.condition, mvic.metadata, mvic.load) == ("mvic", {"kind": "mvic"}, Load(0.0, 0.32))
    assert (flex.condition, flex.load) == ("baseline", Load(2.0, 0.34))
    assert flex.emg.channels == ("BIClong", "TRIlong") and flex.emg.units == ("mV", "mV")
    assert flex.kinematics.channels == ("elbow_flexion",)
    assert np.allclose(flex.angle, 0.5 + 0.4 * np.sin(flex.kinematics.time))  # deg -> rad
    assert flex.torque.channels == ("elbow_flexion_moment",)
    subject = study.cohort.subjects["S01"]
    assert subject.model == str((tmp_path / "study" / "S01" / "S01.osim").resolve())
    assert subject.metadata == {"sessions": {"1": {"date": "2025-01-01"}}}
    assert set(subject.mvic) == {"BIClong", "TRIlong"}  # from the MVIC trial's raw EMG


def test_a_recorded_posture_reaches_the_subjects_metadata(tmp_path):
    """subject.yaml's ``locked`` (rad, as physics.locked) is the subject's posture."""
    folder = _small_study(tmp_path / "study")
    _edit_subject(folder, lambda d: d.update(locked={"r_shoulder_elev": 1.4}))
    cohort = read_study(folder).cohort
    assert cohort.subjects["S01"].metadata["locked"] == {"r_shoulder_elev": 1.4}
    assert cohort_postures(cohort) == {"S01": {"r_shoulder_elev": 1.4}}


@pytest.mark.parametrize("suffix", [".sto", ".csv"])
def test_envelopes_are_marked_and_skip_the_mvic(tmp_path, suffix):
    study = read_study(_small_study(tmp_path / "study", kind="envelope", emg_suffix=suffix))
    for trial in study.cohort:
        assert trial.emg is None and trial.envelope.units == ("1", "1")
        assert trial.envelope.kind == "envelope"
        assert trial.metadata["emg_kind"] == "envelope"
    assert study.cohort.subjects["S01"].mvic == {}


def test_envelope_cohort_round_trips(tmp_path):
    ref = read_study(_small_study(tmp_path / "a", kind="envelope")).cohort
    back = read_study(write_study(ref, tmp_path / "b")).cohort
    assert_same_cohort(back, Cohort(ref.subjects.values(), ref.trials, ref.name))


def test_raw_emg_in_volts_round_trips(tmp_path):
    ref = read_study(_small_study(tmp_path / "a")).cohort
    in_volts = [
        t.replace(emg=t.emg.with_values(t.emg.values * 1e-3, units=("V", "V"))) for t in ref
    ]
    ref = Cohort(ref.subjects.values(), in_volts, ref.name)
    study = read_study(write_study(ref, tmp_path / "b"))
    assert study.layout.emg_unit == "V"
    assert_same_cohort(study.cohort, ref)


def test_template_refuses_a_full_folder_and_names_its_missing_model(tmp_path):
    folder = write_template(tmp_path / "new")
    with pytest.raises(FileExistsError):
        write_template(folder)
    with pytest.raises(ReaderError, match=r"subject 'S01': key 'model'.*does not exist") as err:
        read_study(folder)
    assert err.value.source == str(folder / "S01" / SUBJECT_FILE)


def test_export_refuses_a_full_folder_before_work(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine\n", encoding="utf-8")
    cohort = Cohort([Subject("S01")], [], name="empty")
    with pytest.raises(FileExistsError, match="not an empty folder"):
        write_study(cohort, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_export_refuses_a_trial_without_kinematics(tmp_path):
    emg = Signal.uniform(np.zeros((10, 1)), 1000.0, ["BIClong"], "mV", kind="emg")
    cohort = Cohort([Subject("S01")], [Trial("S01", "t1", emg=emg)])
    with pytest.raises(DataValidationError, match="subject 'S01', trial 't1': no kinematics"):
        write_study(cohort, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- every study-level error names the subject, the trial and the file ---------------------------


def _edit_subject(folder: Path, edit) -> Path:
    path = folder / "S01" / SUBJECT_FILE
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def test_missing_model_names_subject_and_file(tmp_path):
    folder = _small_study(tmp_path / "study")
    (folder / "S01" / "S01.osim").unlink()
    with pytest.raises(ReaderError, match="subject 'S01': key 'model'") as err:
        read_study(folder)
    assert err.value.source == str(folder / "S01" / SUBJECT_FILE)
    assert "S01.osim" in str(err.value)


def test_missing_stream_names_subject_trial_and_file(tmp_path):
    folder = _small_study(tmp_path / "study")
    (folder / "S01" / "flex_01_ik.mot").unlink()
    with pytest.raises(ReaderError, match=r"subject 'S01', trial 'flex_01'.*flex_01_ik.mot"):
        read_study(folder)


def test_named_file_missing_names_subject_trial_and_key(tmp_path):
    folder = _small_study(tmp_path / "study")
    _edit_subject(folder, lambda d: d["trials"][1].update(files={"emg": "lost.c3d"}))
    with pytest.raises(ReaderError, match=r"subject 'S01', trial 'flex_01'.*files\.emg.*lost"):
        read_study(folder)


def test_coordinate_the_file_lacks_names_subject_trial_file_and_column(tmp_path):
    folder = _small_study(tmp_path / "study")
    doc = yaml.safe_load((folder / STUDY_FILE).read_text(encoding="utf-8"))
    doc["coordinate"] = {"model": "elbow_flex"}
    (folder / STUDY_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ReaderError, match="subject 'S01', trial 'mvic_flex'") as err:
        read_study(folder)
    assert err.value.source == str((folder / "S01" / "mvic_flex_ik.mot").resolve())
    assert err.value.channel == "elbow_flex"


def test_muscle_the_channel_map_does_not_know_names_subject_trial_and_file(tmp_path):
    folder = _small_study(tmp_path / "study")
    doc = yaml.safe_load((folder / STUDY_FILE).read_text(encoding="utf-8"))
    doc["emg"]["channels"] = {"EMG1": "BIClong", "EMG2": "deltoid"}
    (folder / STUDY_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(
        DataValidationError, match=r"subject 'S01', trial 'mvic_flex'.*deltoid"
    ) as e:
        read_study(folder)
    assert e.value.source == str((folder / "S01" / "mvic_flex_emg.sto").resolve())


def test_label_the_channel_map_names_but_the_file_lacks(tmp_path):
    folder = _small_study(tmp_path / "study")
    doc = yaml.safe_load((folder / STUDY_FILE).read_text(encoding="utf-8"))
    doc["emg"]["channels"] = {"EMG1": "BIClong", "EMG9": "TRIlong"}
    (folder / STUDY_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(DataValidationError, match="subject 'S01', trial 'mvic_flex'") as err:
        read_study(folder)
    assert err.value.channel == "EMG9"


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d["trials"][1].update(files={"ik": "../../etc/passwd"}), "outside the study"),
        (lambda d: d.update(model="../../x.osim"), "outside the study"),
        (lambda d: d["trials"][1].update(speed=3), "unknown key"),
        (lambda d: d.update(mvic_trials=["nope"]), "no trial with id 'nope'"),
        (lambda d: d["trials"][1].update(condition="mvic"), "not listed in mvic_trials"),
        (lambda d: d["trials"][0].update(condition="pain"), "must be mvic"),
        (lambda d: d.update(locked={"r_shoulder_elev": "high"}), "locked.r_shoulder_elev"),
        (lambda d: d.update(locked={}), "at least one coordinate"),
        (lambda d: d.update(locked={"a": 1.0}, metadata={"locked": {"a": 1.0}}), "given twice"),
    ],
)
def test_bad_subject_file_names_subject_and_key(tmp_path, edit, match):
    folder = _small_study(tmp_path / "study")
    path = _edit_subject(folder, edit)
    with pytest.raises(ReaderError, match=match) as err:
        read_study(folder)
    assert err.value.source == str(path)
    assert "subject 'S01'" in str(err.value)


def test_two_emg_files_by_the_convention_are_ambiguous(tmp_path):
    folder = _small_study(tmp_path / "study")
    shutil.copyfile(folder / "S01" / "flex_01_emg.sto", folder / "S01" / "flex_01_emg.csv")
    with pytest.raises(ReaderError, match=r"trial 'flex_01'.*several EMG files"):
        read_study(folder)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(format="other"), "not a study file"),
        (lambda d: d.update(version=7), "key 'version'"),
        (lambda d: d.update(colour="red"), "key 'colour': unknown key"),
        (lambda d: d["emg"].update(kind="filtered"), "key 'emg.kind'"),
        (lambda d: d["emg"].update(unit="N"), "key 'emg.unit'"),
        (lambda d: d.update(load={"direction": [0, 2, 0]}), "key 'load.direction'"),
        (lambda d: d.update(muscle_set="legs"), "key 'muscle_set'"),
    ],
)
def test_bad_study_file_names_the_key(tmp_path, edit, match):
    folder = _small_study(tmp_path / "study")
    doc = yaml.safe_load((folder / STUDY_FILE).read_text(encoding="utf-8"))
    edit(doc)
    (folder / STUDY_FILE).write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ReaderError, match=match) as err:
        read_study(folder)
    assert err.value.source == str(folder / STUDY_FILE)
