"""Each subject's own recorded posture (issue 17, item 2c): its elbow sampled there, and
``nmm-validate``'s OpenSim twins held there.

A subject's metadata ``locked: {r_shoulder_elev: rad}`` (:mod:`nmm.data.posture`) updates
``physics.locked`` for that subject: its biarticular muscles' lengths must be those OpenSim gives
with arm26's shoulder at that angle (read here from OpenSim directly), subjects sharing a
posture share one elbow, and subjects without one keep the configured elbow object.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from nmm.data.errors import DataValidationError
from nmm.data.io.sto import read_sto, write_sto
from nmm.data.posture import cohort_postures, posture_of
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial
from nmm.jobs.nmm_setup import build_elbows
from nmm.jobs.trained import read_subject_models, read_subject_postures, write_subject_models
from nmm.opensim.geometry_sampling import OsimModelError
from nmm.opensim.torch_elbow import subject_elbows

osim = pytest.importorskip("opensim", reason="OpenSim 4.6 (pip 'opensim') is not installed")

from nmm.opensim.elbow_twin import load_muscle_twin, opensim_muscle_torque  # noqa: E402
from nmm.opensim.validate import validate_predictions  # noqa: E402
from tests.opensim.opensim_reference import opensim_muscle_table  # noqa: E402

SHOULDER = "r_shoulder_elev"
ANGLES = (0.2, 0.9, 1.6, 2.1)  # rad, inside arm26's elbow range
BIARTICULAR = ("TRIlong", "BIClong", "BICshort")
POSTURES_DEG = {"A": 80.0, "B": 100.0, "C": 80.0}  # D: none recorded


def _posture(deg: float) -> dict[str, float]:
    return {SHOULDER: math.radians(deg)}


@pytest.fixture(scope="module")
def elbows(physics: dict):
    postures = {s: _posture(d) for s, d in POSTURES_DEG.items()}
    return subject_elbows(physics, {s: None for s in "ABCD"}, postures=postures)


def _opensim_lengths(path: Path, shoulder_rad: float, muscles: tuple[str, ...]) -> np.ndarray:
    """``(len(ANGLES), M)`` musculotendon lengths (m) by OpenSim, the shoulder at
    ``shoulder_rad``."""
    return opensim_muscle_table(
        path, ANGLES, muscles, lambda m, state, _: m.getLength(state), shoulder_rad
    )


def test_each_posture_has_its_opensim_lengths(elbows, arm26_osim: Path) -> None:
    names = list(elbows.muscle_names)
    cols = [names.index(m) for m in BIARTICULAR]
    theta = torch.tensor(ANGLES, dtype=torch.float64)
    got = {}
    for subject in ("A", "B"):
        got[subject] = elbows[subject].geometry.lengths(theta).numpy()[:, cols]
        want = _opensim_lengths(arm26_osim, math.radians(POSTURES_DEG[subject]), BIARTICULAR)
        np.testing.assert_allclose(got[subject], want, atol=2e-4)  # the fit's error
    # 80° vs 100° of shoulder elevation: each biarticular length differs by 1.7-11 mm
    # (OpenSim), far beyond the fit's error
    assert np.min(np.max(np.abs(got["B"] - got["A"]), axis=0)) > 1e-3
    # the upper arm's pose too: gravity on the forearm at the subject's shoulder angle
    assert float(elbows["A"].arm.shoulder_elevation) == pytest.approx(math.radians(80.0))
    assert float(elbows["B"].arm.shoulder_elevation) == pytest.approx(math.radians(100.0))


def test_subjects_share_elbows_by_posture(elbows, arm26_osim: Path) -> None:
    assert elbows["C"] is elbows["A"]  # same model, same posture: one elbow
    assert elbows["B"] is not elbows["A"]
    assert elbows["D"] is elbows.default  # no recorded posture: the configured elbow
    assert set(elbows.own) == {"A", "B", "C"}
    assert elbows.models == {s: str(arm26_osim.resolve()) for s in "ABC"}
    assert elbows.posture("B") == _posture(100.0) and elbows.posture("D") is None
    assert len(elbows.distinct("ABCD")) == 3


def test_the_apps_take_each_subjects_posture_from_its_metadata(
    elbows, physics: dict, tmp_path: Path
) -> None:
    """build_elbows (nmm-train, nmm-compare, nmm-predict) reads a cohort's recorded postures."""
    cohort = Cohort(
        [Subject("A", metadata={"locked": _posture(80.0)}), Subject("D")], [], name="postures"
    )
    cfg = OmegaConf.create({"physics": physics, "geometry_cache": str(tmp_path)})
    built = build_elbows(cfg, cohort)
    assert built.postures == {"A": elbows.postures["A"]} and built["D"] is built.default
    theta = torch.tensor(ANGLES, dtype=torch.float64)
    torch.testing.assert_close(
        built["A"].geometry.lengths(theta), elbows["A"].geometry.lengths(theta)
    )


def test_a_trained_run_rebuilds_the_postures(elbows, physics: dict, tmp_path: Path) -> None:
    """nmm-train's subject_models.json and subject_postures.json give load_trained the same
    elbows back (same geometry at the same posture)."""
    write_subject_models(elbows, tmp_path)
    assert read_subject_postures(tmp_path) == elbows.postures
    again = subject_elbows(
        physics, read_subject_models(tmp_path), postures=read_subject_postures(tmp_path)
    )
    theta = torch.tensor(ANGLES, dtype=torch.float64)
    for s in "ABC":
        torch.testing.assert_close(
            again[s].geometry.lengths(theta), elbows[s].geometry.lengths(theta)
        )
    assert again["C"] is again["A"]
    (tmp_path / "subject_postures.json").write_text('{"A": {"r_shoulder_elev": "up"}}')
    with pytest.raises(ValueError, match=r"subject_postures\.json"):
        read_subject_postures(tmp_path)


def test_no_posture_is_the_configured_elbow(physics: dict) -> None:
    at_config = subject_elbows(physics, {"D": None}, postures={"D": None})
    assert at_config.own == {} and at_config.postures == {}
    same = subject_elbows(physics, {"E": None}, postures={"E": dict(physics["locked"])})
    assert same.own == {}  # a posture equal to physics.locked is the configured one


def test_a_posture_outside_the_models_range_names_subject_and_file(
    physics: dict, arm26_osim: Path
) -> None:
    # arm26's r_shoulder_elev range: -90° to 180° (-1.571 to 3.142 rad)
    with pytest.raises(OsimModelError, match="subject X: posture r_shoulder_elev = 4 lies") as e:
        subject_elbows(physics, {"X": None}, postures={"X": {SHOULDER: 4.0}})
    assert Path(e.value.path) == arm26_osim.resolve()


def test_postures_are_checked_naming_the_subject() -> None:
    assert posture_of("S1", {}) is None
    assert posture_of("S1", {"locked": {SHOULDER: 1}}) == {SHOULDER: 1.0}
    for bad in ({SHOULDER: "high"}, {SHOULDER: float("nan")}, [1.4], {}):
        with pytest.raises(DataValidationError, match="subject 'S1'"):
            posture_of("S1", {"locked": bad})


def _motion(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """θ = 1.1 + 0.6 sin(2π 0.8 t) (rad) and its exact derivatives."""
    w = 2 * math.pi * 0.8
    return 1.1 + 0.6 * np.sin(w * t), 0.6 * w * np.cos(w * t), -0.6 * w**2 * np.sin(w * t)


def _trial(subject: str, t: np.ndarray) -> Trial:
    q, qd, qdd = _motion(t)
    kin = Signal(
        t,
        np.column_stack([q, qd, qdd]),
        ("elbow_flexion", "elbow_flexion_speed", "elbow_flexion_acceleration"),
        ("rad", "rad/s", "rad/s^2"),
        100.0,
        "kinematics",
    )
    return Trial(subject, "sine", kinematics=kin, load=Load(1.0, 0.3), session="1")


def test_validation_holds_each_subject_at_its_posture(arm26_osim: Path, tmp_path: Path) -> None:
    """nmm-validate's OpenSim muscle torque of a subject recorded at 80° is OpenSim's with the
    shoulder at 80°, not at the run's 0; one without a posture stays at the run's."""
    t = np.arange(101) / 100.0
    q, qd, _ = _motion(t)
    muscles = ("TRIlong", "TRIlat", "TRImed", "BIClong", "BICshort", "BRA")
    act = np.clip(0.3 + 0.2 * np.sin(2 * math.pi * t[:, None] + np.arange(6)), 0.0, 1.0)
    subjects = {"P80": _posture(80.0), "P0": None}
    for s in subjects:
        write_sto(tmp_path / "pred" / "envelopes" / s / "1_sine_activation.sto", t, act, muscles)
    cohort = Cohort(
        [Subject(s, metadata={} if p is None else {"locked": p}) for s, p in subjects.items()],
        [_trial(s, t) for s in subjects],
    )
    assert cohort_postures(cohort) == {"P80": _posture(80.0)}
    m = validate_predictions(
        tmp_path / "pred", cohort, tmp_path / "out", osim=arm26_osim, locked={SHOULDER: 0.0}
    )
    trials = {r["subject"]: r for r in m["trials"]}
    assert trials["P80"]["locked"] == _posture(80.0) and "locked" not in trials["P0"]
    for s, posture in subjects.items():
        twin = load_muscle_twin(arm26_osim, "r_elbow_flex", muscles, posture or {SHOULDER: 0.0})
        want = np.asarray(opensim_muscle_torque(twin, q, qd, act))
        sto = read_sto(tmp_path / "out" / "torque" / s / "1_sine_opensim_torque.sto")
        got = sto.column("elbow_flexion_moment_muscles_opensim")
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    at0 = read_sto(tmp_path / "out" / "torque" / "P0" / "1_sine_opensim_torque.sto")
    at80 = read_sto(tmp_path / "out" / "torque" / "P80" / "1_sine_opensim_torque.sto")
    diff = at80.column("elbow_flexion_moment_muscles_opensim") - at0.column(
        "elbow_flexion_moment_muscles_opensim"
    )
    assert np.max(np.abs(diff)) > 1.0  # N·m: the posture changes the biarticular forces
