"""Inverse dynamics of a study trial without its ID file (issue 20): the moment from the subject's
model, the filtered kinematics and the hand load, against the default cohort's recorded moment
(OpenSim's InverseDynamicsSolver on the motion's exact speeds and accelerations, computed by the
generator with the load welded to the forearm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nmm.data.io.dataset import read_dataset
from nmm.opensim.geometry_sampling import OsimModelError

pytest.importorskip("opensim")

from nmm.opensim.inverse_dynamics import HandLoad, joint_moment, model_coordinates

COHORT = Path(__file__).resolve().parents[2] / "data" / "default_cohort"
ELBOW = "r_elbow_flex"
FOREARM = "r_ulna_radius_hand"


@pytest.fixture(scope="module")
def cohort():
    if not (COHORT / "dataset" / "manifest.yaml").is_file():
        pytest.skip(f"the embedded default cohort is not at {COHORT}")
    return read_dataset(COHORT / "dataset")


def _hand_load(trial) -> HandLoad:
    return HandLoad(trial.load.mass_kg, FOREARM, (0.0, -trial.load.lever_arm_m, 0.0))


@pytest.mark.parametrize(
    ("subject", "trial_id"),
    [("S01", "baseline_0kg_1"), ("S02", "baseline_2kg_1"), ("S04", "pain_4kg_1")],
)
def test_moment_matches_the_recorded_inverse_dynamics(cohort, subject, trial_id):
    (trial,) = [t for t in cohort if (t.subject, t.trial_id) == (subject, trial_id)]
    model = COHORT / "ground_truth" / subject / "model.osim"  # the body the cohort simulated
    moment = joint_moment(
        model, trial.kinematics.time, {ELBOW: trial.angle}, ELBOW, load=_hand_load(trial)
    )
    ref = trial.moment
    r2 = 1.0 - np.sum((moment - ref) ** 2) / np.sum((ref - ref.mean()) ** 2)
    rmse = float(np.sqrt(np.mean((moment - ref) ** 2)))
    assert r2 > 0.999, r2
    assert rmse < 0.02 * np.ptp(ref) and rmse < 0.2, rmse


def test_degrees_and_extra_columns(cohort):
    trial = next(t for t in cohort if t.trial_id == "baseline_2kg_1")
    model = COHORT / "ground_truth" / trial.subject / "model.osim"
    kw = {"load": _hand_load(trial)}
    rad = joint_moment(model, trial.kinematics.time, {ELBOW: trial.angle}, ELBOW, **kw)
    deg = joint_moment(
        model,
        trial.kinematics.time,
        {ELBOW: np.degrees(trial.angle), f"{ELBOW}_speed": trial.velocity},  # not a coordinate
        ELBOW,
        in_degrees=True,
        **kw,
    )
    np.testing.assert_allclose(deg, rad, rtol=1e-9, atol=1e-9)


def test_errors_name_the_model(arm26_osim, tmp_path):
    time = np.arange(50) / 100.0
    angle = np.full(50, 0.5)
    with pytest.raises(OsimModelError, match="coordinate 'elbow_flexion' is not in the model"):
        joint_moment(arm26_osim, time, {"elbow_flexion": angle}, "elbow_flexion")
    with pytest.raises(OsimModelError, match="no body 'hand'") as err:
        joint_moment(arm26_osim, time, {ELBOW: angle}, ELBOW, load=HandLoad(1.0, "hand"))
    assert str(arm26_osim) in str(err.value)
    with pytest.raises(OsimModelError, match="no such model file"):
        model_coordinates(tmp_path / "missing.osim")
    assert ELBOW in model_coordinates(arm26_osim)
