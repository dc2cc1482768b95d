"""The real shared recordings through the public sources API, checked against the raw files
parsed independently (pandas, ezc3d)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nmm.data import ReaderError
from nmm.data.io.sto import StoRowCountWarning
from nmm.data.sources import STANDARD_GRAVITY, pyomeca_cohort, shared_data_root, uci_cohort

# header lines before the column labels (up to and including 'endheader')
MOT_HEADER_LINES = 10
STO_HEADER_LINES = 6


@pytest.fixture(scope="module")
def pyomeca(pyomeca_dir: Path):
    """(cohort, warnings) from the public loader."""
    with pytest.warns(StoRowCountWarning) as record:
        cohort = pyomeca_cohort(pyomeca_dir)
    return cohort, [w for w in record if issubclass(w.category, StoRowCountWarning)]


@pytest.fixture(scope="module")
def raw_ik(pyomeca_dir: Path) -> pd.DataFrame:
    return pd.read_csv(pyomeca_dir / "inverse_kin.mot", skiprows=MOT_HEADER_LINES)


@pytest.fixture(scope="module")
def raw_id(pyomeca_dir: Path) -> pd.DataFrame:
    return pd.read_csv(pyomeca_dir / "inverse_dyn.sto", skiprows=STO_HEADER_LINES)


def test_pyomeca_header_row_counts_are_warned(pyomeca, pyomeca_dir: Path):
    _, caught = pyomeca
    messages = [str(w.message) for w in caught]
    kin = [m for m in messages if "inverse_kin.mot" in m]
    dyn = [m for m in messages if "inverse_dyn.sto" in m]
    assert len(kin) == 1 and len(dyn) == 1
    assert "nRows=250" in kin[0] and "holds 88 rows" in kin[0]
    assert "nRows=250" in dyn[0] and "holds 92 rows" in dyn[0]
    # the raw files really announce 250 rows
    for name in ("inverse_kin.mot", "inverse_dyn.sto"):
        head = (pyomeca_dir / name).read_text().splitlines()[:5]
        assert any(ln.startswith("nRows=250") for ln in head)


def test_pyomeca_cohort_identity(pyomeca):
    cohort, _ = pyomeca
    assert cohort.name == "pyomeca-upper-limb"
    assert cohort.subject_ids == ["pyomeca"]
    (trial,) = cohort.trials
    assert trial.coordinate == "elbow_flexion"
    assert trial.muscle_set.name == "upper_limb_surface"
    assert trial.load.mass_kg == pytest.approx(60.0 / STANDARD_GRAVITY)
    assert trial.load.mass_kg == pytest.approx(6.118, abs=1e-3)


def test_pyomeca_elbow_angle_in_rad(pyomeca, raw_ik: pd.DataFrame):
    cohort, _ = pyomeca
    kin = cohort.trials[0].kinematics
    assert kin.channels == ("elbow_flexion",)
    assert kin.units == ("rad",)
    assert kin.rate == 100.0
    assert kin.n_samples == len(raw_ik) == 88
    assert kin.time[0] == pytest.approx(1.56)
    np.testing.assert_allclose(kin.time, raw_ik["time"].to_numpy(), rtol=0, atol=1e-12)
    deg = raw_ik["elbow_flexion"].to_numpy(dtype=float)
    np.testing.assert_allclose(kin["elbow_flexion"], np.deg2rad(deg), rtol=1e-14, atol=0)
    lo, hi = np.rad2deg(kin["elbow_flexion"]).min(), np.rad2deg(kin["elbow_flexion"]).max()
    assert 36.0 < lo < 38.0 and 127.0 < hi < 129.0


def test_pyomeca_elbow_moment_in_newton_metres(pyomeca, raw_id: pd.DataFrame):
    cohort, _ = pyomeca
    trial = cohort.trials[0]
    torque = trial.torque
    assert torque.channels == ("elbow_flexion_moment",)
    assert torque.units == ("N·m",)
    assert torque.rate == 100.0
    assert torque.n_samples == len(raw_id) == 92
    assert torque.time[0] == pytest.approx(1.56)
    assert torque.time[-1] == pytest.approx(2.47)
    np.testing.assert_allclose(torque.time, raw_id["time"].to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        trial.moment, raw_id["elbow_flexion_moment"].to_numpy(dtype=float), rtol=1e-14, atol=0
    )


def test_pyomeca_emg_matches_c3d(pyomeca, pyomeca_dir: Path):
    ezc3d = pytest.importorskip("ezc3d")
    cohort, _ = pyomeca
    emg = cohort.trials[0].emg
    raw = ezc3d.c3d(str(pyomeca_dir / "markers_analogs.c3d"))
    labels = [str(x).strip() for x in raw["parameters"]["ANALOG"]["LABELS"]["value"]]
    analogs = np.asarray(raw["data"]["analogs"])[0]
    assert emg.rate == 2000.0 and emg.n_samples == 11600
    assert set(emg.units) == {"V"}
    np.testing.assert_array_equal(emg["biceps"], analogs[labels.index("Biceps.EMG4")])
    np.testing.assert_array_equal(emg["triceps"], analogs[labels.index("Triceps.EMG5")])
    # the kinematics lie within the EMG recording (0-5.8 s)
    kin = cohort.trials[0].kinematics
    assert emg.time[0] <= kin.time[0] and kin.time[-1] <= emg.time[-1]


def test_pyomeca_missing_folder(tmp_path: Path):
    with pytest.raises(ReaderError, match="NMM_SHARED_DATA") as err:
        pyomeca_cohort(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(err.value)


def test_pyomeca_folder_without_c3d(tmp_path: Path):
    with pytest.raises(ReaderError, match="C3D") as err:
        pyomeca_cohort(tmp_path)
    assert "markers_analogs.c3d" in str(err.value)


def test_shared_data_root_follows_setting(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("NMM_SHARED_DATA", str(tmp_path))
    assert shared_data_root() == tmp_path.resolve()


@pytest.fixture(scope="module")
def uci(uci_dir: Path):
    return uci_cohort(uci_dir)


def test_uci_cohort(uci, uci_dir: Path):
    assert uci.name == "uci-lower-limb"
    assert len(uci) == 66 and len(uci.subject_ids) == 22
    assert {t.coordinate for t in uci} == {"knee_angle"}
    assert {t.muscle_set.name for t in uci} == {"knee"}
    assert {t.kinematics.units for t in uci} == {("rad",)}
    # one spot check against the raw text: 1Amar's first row
    first = (uci_dir / "A_TXT" / "1Amar.txt").read_text(encoding="latin-1").split("\n\n")[1]
    values = [float(x) for x in first.splitlines()[0].split("\t")]
    (t,) = [t for t in uci if t.subject == "A1" and t.trial_id == "gait"]
    np.testing.assert_array_equal(t.emg.values[0], values[:4])
    assert t.angle[0] == pytest.approx(np.deg2rad(values[4]), rel=1e-15)
    # radians, not degrees: every trial moves the knee by tens of degrees, within half a turn
    for t in uci:
        assert np.abs(t.angle).max() <= np.pi, t.source
        assert np.ptp(np.rad2deg(t.angle)) > 20.0, t.source


def test_uci_cohort_refuses_other_coordinate(uci_dir: Path):
    with pytest.raises(ReaderError, match="knee_angle"):
        uci_cohort(uci_dir, tasks=("pie",), coordinate="elbow_flexion")
