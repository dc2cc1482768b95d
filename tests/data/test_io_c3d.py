"""C3D reading through ezc3d: the real pyomeca file against ezc3d's raw arrays, a synthetic file
written by ezc3d itself, and honest errors for bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nmm.data import DataValidationError, ReaderError
from nmm.data.io.c3d import emg_from_c3d, read_c3d
from tests.conftest import existing

ezc3d = pytest.importorskip("ezc3d")


# --- the real pyomeca recording -----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_path(pyomeca_dir: Path) -> Path:
    return existing(pyomeca_dir / "markers_analogs.c3d", "pyomeca C3D file")


@pytest.fixture(scope="module")
def real(real_path: Path):
    """(our reading, ezc3d's raw reading) of the real file."""
    return read_c3d(real_path), ezc3d.c3d(str(real_path))


def _raw_labels(raw) -> list[str]:
    return [str(x).strip() for x in raw["parameters"]["ANALOG"]["LABELS"]["value"]]


def test_real_analogs_match_ezc3d(real):
    rec, raw = real
    sig = rec.analogs
    assert len(sig.channels) == 38
    assert sig.rate == 2000.0
    assert sig.n_samples == 11600
    assert sig.units == ("V",) * 38
    assert sig.kind == "analog"
    assert list(sig.channels) == _raw_labels(raw)
    # values are ezc3d's analog matrix (1, C, T), transposed, untouched
    np.testing.assert_array_equal(sig.values, np.asarray(raw["data"]["analogs"])[0].T)
    np.testing.assert_allclose(sig.time, np.arange(11600) / 2000.0, rtol=0, atol=1e-12)
    assert sig.source == rec.source


def test_real_points_are_metres_at_100_hz(real):
    rec, raw = real
    assert rec.points.shape == (580, 51, 3)
    assert rec.point_rate == 100.0
    assert rec.point_labels == tuple(str(x) for x in raw["parameters"]["POINT"]["LABELS"]["value"])
    assert str(raw["parameters"]["POINT"]["UNITS"]["value"][0]).strip() == "mm"
    mm = np.asarray(raw["data"]["points"])[:3]  # (3, P, T) in mm
    expected = np.transpose(mm / 1000.0, (2, 1, 0))
    np.testing.assert_allclose(rec.points, expected, rtol=1e-12, atol=0, equal_nan=True)
    # NaN exactly where ezc3d says a marker was not seen
    np.testing.assert_array_equal(np.isnan(rec.points), np.isnan(expected))
    np.testing.assert_allclose(rec.point_time, np.arange(580) / 100.0, rtol=0, atol=1e-12)
    # a plausible lab volume: markers within a few metres of the origin
    assert np.nanmax(np.abs(rec.points)) < 5.0


def test_real_emg_default_map_takes_named_muscles(real):
    rec, raw = real
    emg = emg_from_c3d(rec)
    labels = _raw_labels(raw)
    analogs = np.asarray(raw["data"]["analogs"])[0]
    assert emg.kind == "emg"
    assert emg.rate == 2000.0
    assert "biceps" in emg.channels and "triceps" in emg.channels
    # 'Sensor 12.EMG12' etc. have no muscle name: they are not taken
    assert len(emg.channels) == 13
    assert all(not c.startswith("Sensor") for c in emg.channels)
    np.testing.assert_array_equal(emg["biceps"], analogs[labels.index("Biceps.EMG4")])
    np.testing.assert_array_equal(emg["triceps"], analogs[labels.index("Triceps.EMG5")])
    np.testing.assert_array_equal(emg["pectoralis_major"], analogs[labels.index("Pec.IM EMG12")])
    assert emg.unit("biceps") == "V"


def test_real_emg_explicit_map_with_aliases(real):
    rec, raw = real
    emg = emg_from_c3d(rec, {"Triceps.EMG5": "triceps_brachii", "Biceps.EMG4": "Biceps"})
    analogs = np.asarray(raw["data"]["analogs"])[0]
    labels = _raw_labels(raw)
    assert emg.channels == ("triceps", "biceps")
    np.testing.assert_array_equal(emg.values[:, 0], analogs[labels.index("Triceps.EMG5")])
    np.testing.assert_array_equal(emg.values[:, 1], analogs[labels.index("Biceps.EMG4")])


def test_real_emg_map_naming_absent_channel(real, real_path):
    rec, _ = real
    with pytest.raises(DataValidationError) as err:
        emg_from_c3d(rec, {"Biceps.EMG4": "biceps", "Brachialis.EMG99": "triceps"})
    assert str(real_path) in str(err.value)
    assert "Brachialis.EMG99" in str(err.value)
    assert err.value.channel == "Brachialis.EMG99"


# --- a synthetic file written by ezc3d ----------------------------------------------------------


def _f32(x: np.ndarray) -> np.ndarray:
    """Values a C3D float file stores exactly (single precision)."""
    return np.asarray(x, dtype=np.float32).astype(float)


@pytest.fixture
def synthetic(tmp_path: Path):
    rng = np.random.default_rng(7)
    n_points, n_frames, ratio = 3, 20, 10
    labels = ("Biceps.EMG1", "Triceps.EMG2", "Force.Fz")
    analogs = _f32(rng.normal(scale=0.5, size=(1, len(labels), n_frames * ratio)))
    points = np.ones((4, n_points, n_frames))
    points[:3] = _f32(rng.uniform(-800.0, 1500.0, size=(3, n_points, n_frames)))
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [100]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = ("RSHO", "RELB", "RWRA")
    c3d["parameters"]["ANALOG"]["RATE"]["value"] = [100 * ratio]
    c3d["parameters"]["ANALOG"]["LABELS"]["value"] = labels
    c3d["parameters"]["ANALOG"]["UNITS"]["value"] = ("mV", "mV", "N")
    c3d["data"]["points"] = points
    c3d["data"]["analogs"] = analogs
    path = tmp_path / "synthetic.c3d"
    c3d.write(str(path))
    return path, labels, analogs[0].T, points[:3]


def test_synthetic_round_trip_exact(synthetic):
    path, labels, analogs, points_mm = synthetic
    rec = read_c3d(path)
    assert rec.source == str(path)
    assert rec.analogs.channels == labels
    assert rec.analogs.units == ("mV", "mV", "N")
    assert rec.analogs.rate == 1000.0
    np.testing.assert_array_equal(rec.analogs.values, analogs)
    np.testing.assert_allclose(rec.analogs.time, np.arange(200) / 1000.0, rtol=0, atol=1e-12)
    assert rec.point_labels == ("RSHO", "RELB", "RWRA")
    assert rec.point_rate == 100.0
    assert rec.points.shape == (20, 3, 3)
    # ezc3d writes no POINT:UNITS here: the C3D default is mm, so values come back /1000
    np.testing.assert_allclose(
        rec.points, np.transpose(points_mm, (2, 1, 0)) / 1000.0, rtol=1e-12, atol=0
    )


def test_synthetic_emg_keeps_file_units_and_values(synthetic):
    path, _, analogs, _ = synthetic
    emg = emg_from_c3d(read_c3d(path))
    assert emg.channels == ("biceps", "triceps")  # 'Force.Fz' is not a muscle
    assert emg.units == ("mV", "mV")
    np.testing.assert_array_equal(emg.values, analogs[:, :2])


def test_synthetic_map_naming_absent_channel(synthetic):
    path, *_ = synthetic
    rec = read_c3d(path)
    with pytest.raises(DataValidationError) as err:
        emg_from_c3d(rec, {"Biceps.EMG1": "biceps", "Triceps.EMG9": "triceps"})
    msg = str(err.value)
    assert str(path) in msg and "Triceps.EMG9" in msg


def test_synthetic_map_to_unknown_muscle(synthetic):
    path, *_ = synthetic
    with pytest.raises(DataValidationError, match="gluteus"):
        emg_from_c3d(read_c3d(path), {"Biceps.EMG1": "gluteus"})


def test_no_muscle_channel_at_all(synthetic):
    path, *_ = synthetic
    with pytest.raises(DataValidationError, match="no analog channel"):
        emg_from_c3d(read_c3d(path), muscle_set="knee")


def test_point_units_in_metres_are_not_rescaled(tmp_path: Path):
    c3d = ezc3d.c3d()
    c3d["parameters"]["POINT"]["RATE"]["value"] = [50]
    c3d["parameters"]["POINT"]["LABELS"]["value"] = ("M1",)
    c3d["parameters"]["POINT"]["UNITS"]["value"] = ("m",)
    c3d["parameters"]["ANALOG"]["RATE"]["value"] = [100]
    c3d["parameters"]["ANALOG"]["LABELS"]["value"] = ("Biceps.EMG1",)
    c3d["parameters"]["ANALOG"]["UNITS"]["value"] = ("V",)
    pts = np.ones((4, 1, 4))
    pts[:3] = _f32(np.arange(12).reshape(3, 1, 4) * 0.25)
    c3d["data"]["points"] = pts
    c3d["data"]["analogs"] = _f32(np.linspace(-1, 1, 8)).reshape(1, 1, 8)
    path = tmp_path / "metres.c3d"
    c3d.write(str(path))
    rec = read_c3d(path)
    np.testing.assert_array_equal(rec.points, np.transpose(pts[:3], (2, 1, 0)))
    np.testing.assert_array_equal(rec.analogs["Biceps.EMG1"], _f32(np.linspace(-1, 1, 8)))


# --- bad input ----------------------------------------------------------------------------------


def test_random_bytes_are_not_a_c3d(tmp_path: Path):
    path = tmp_path / "noise.c3d"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ReaderError) as err:
        read_c3d(path)
    assert str(path) in str(err.value)


def test_text_file_is_not_a_c3d(tmp_path: Path):
    path = tmp_path / "notes.c3d"
    path.write_text("subject S01, elbow flexion, 2 kg\n")
    with pytest.raises(ReaderError, match="C3D") as err:
        read_c3d(path)
    assert err.value.source == str(path)


def test_header_only_c3d_is_rejected(tmp_path: Path, synthetic):
    path, *_ = synthetic
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(path.read_bytes()[:1500])  # header and parameters, no data
    with pytest.raises(ReaderError) as err:
        read_c3d(cut)
    assert str(cut) in str(err.value)


def test_missing_file(tmp_path: Path):
    path = tmp_path / "absent.c3d"
    with pytest.raises(ReaderError, match="not found") as err:
        read_c3d(path)
    assert str(path) in str(err.value)


def test_c3d_truncated_inside_its_data_is_rejected(tmp_path: Path, pyomeca_dir: Path):
    # ezc3d alone reads such a file and silently returns fewer frames
    data = (pyomeca_dir / "markers_analogs.c3d").read_bytes()
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReaderError, match=r"580 frames .* truncated") as err:
        read_c3d(cut)
    assert str(cut) in str(err.value)
