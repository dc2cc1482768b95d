"""CSV + YAML-schema trials: exact round trips, unit conversion, errors naming file and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from nmm.data import DataValidationError, Load, ReaderError, Signal, Trial
from nmm.data.io.csv import read_csv_trial, write_csv_trial

RATE = 500.0


def _trial(n: int = 400, start: float = 0.25, seed: int = 0) -> Trial:
    rng = np.random.default_rng(seed)
    t = start + np.arange(n) / RATE
    angle = 1.2 + 0.6 * np.sin(2 * np.pi * 0.8 * t)
    speed = 0.6 * 2 * np.pi * 0.8 * np.cos(2 * np.pi * 0.8 * t)
    accel = -((2 * np.pi * 0.8) ** 2) * (angle - 1.2)
    emg = rng.normal(scale=0.3, size=(n, 3))
    return Trial(
        subject="S01",
        trial_id="flexion_01",
        muscle_set="elbow",
        emg=Signal(t, emg, ("BIClong", "BRA", "TRIlong"), ("mV",) * 3, RATE, "emg"),
        kinematics=Signal(
            t,
            np.column_stack([angle, speed, accel]),
            ("elbow_flexion", "elbow_flexion_speed", "elbow_flexion_acceleration"),
            ("rad", "rad/s", "rad/s^2"),
            RATE,
            "kinematics",
        ),
        torque=Signal(
            t,
            5.0 * np.sin(angle) + rng.normal(size=n),
            ("elbow_flexion_moment",),
            ("N·m",),
            RATE,
            "torque",
        ),
        load=Load(mass_kg=2.5, lever_arm_m=0.33),
        session="2",
        condition="pain",
        metadata={"operator": "AB", "notes": "hypertonic saline, VAS 6/10"},
    )


def _assert_same_trial(back: Trial, trial: Trial) -> None:
    assert (back.subject, back.trial_id, back.session, back.condition, back.coordinate) == (
        trial.subject,
        trial.trial_id,
        trial.session,
        trial.condition,
        trial.coordinate,
    )
    assert back.muscle_set.name == trial.muscle_set.name
    assert back.load == trial.load
    assert back.metadata == trial.metadata
    assert set(back.streams()) == set(trial.streams())
    for kind, sig in trial.streams().items():
        got = back.streams()[kind]
        assert got.kind == kind
        assert got.channels == sig.channels
        assert got.units == sig.units
        assert np.array_equal(got.time, sig.time)
        for ch in sig.channels:
            assert np.array_equal(got[ch], sig[ch]), (kind, ch)
        assert got.rate == pytest.approx(sig.rate, rel=1e-9)


def test_round_trip_is_exact(tmp_path: Path):
    trial = _trial()
    csv_path, schema_path = write_csv_trial(trial, tmp_path / "t.csv", tmp_path / "t.yaml")
    back = read_csv_trial(csv_path, schema_path)
    _assert_same_trial(back, trial)
    assert back.emg.rate == RATE
    assert back.source == str(csv_path)
    # the files are what they claim: a plain CSV with a time column and a YAML mapping
    frame = pd.read_csv(csv_path)
    assert frame.columns[0] == "time" and len(frame) == 400
    assert yaml.safe_load(schema_path.read_text(encoding="utf-8"))["subject"] == "S01"
    # nothing temporary is left beside the outputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.yaml"]


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=arrays(np.float64, (7, 2), elements=finite),
    start=st.floats(-1e3, 1e3, allow_nan=False),
)
def test_round_trip_any_double(tmp_path: Path, values: np.ndarray, start: float):
    t = start + np.arange(7) / 1000.0
    trial = Trial(
        "S1", "t1", emg=Signal(t, values, ("BIClong", "TRIlong"), ("uV", "uV"), 1000.0, "emg")
    )
    write_csv_trial(trial, tmp_path / "h.csv", tmp_path / "h.yaml")
    back = read_csv_trial(tmp_path / "h.csv", tmp_path / "h.yaml")
    assert np.array_equal(back.emg.time, t)
    assert np.array_equal(back.emg.values, values)


def test_streams_on_different_time_bases_are_refused(tmp_path: Path):
    trial = _trial()
    slow = trial.kinematics
    t = slow.time[::5]
    trial = trial.replace(
        kinematics=Signal(t, slow.values[::5], slow.channels, slow.units, RATE / 5, "kinematics")
    )
    with pytest.raises(ValueError, match="time bases"):
        write_csv_trial(trial, tmp_path / "t.csv", tmp_path / "t.yaml")
    assert not (tmp_path / "t.csv").exists()


def _hand_written(tmp_path: Path, streams: dict, frame: pd.DataFrame, **extra) -> tuple[Path, Path]:
    csv_path, schema_path = tmp_path / "rec.csv", tmp_path / "rec.yaml"
    frame.to_csv(csv_path, index=False)
    schema = {"subject": "P07", "trial_id": "ramp", "streams": streams, **extra}
    schema_path.write_text(yaml.safe_dump(schema, allow_unicode=True), encoding="utf-8")
    return csv_path, schema_path


@pytest.fixture
def frame() -> pd.DataFrame:
    t = np.arange(200) / 100.0
    return pd.DataFrame(
        {
            "t": t,
            "EMG1": np.sin(t),
            "EMG2": np.cos(t),
            "angle": 30.0 + 60.0 * t / t[-1],
            "vel": np.full_like(t, 60.0 / t[-1]),
            "M": 3.0 * t,
        }
    )


def test_degrees_are_converted_to_radians(tmp_path: Path, frame: pd.DataFrame):
    streams = {
        "emg": {"BIClong": {"column": "EMG1", "unit": "mV"}},
        "kinematics": {
            "elbow_flexion": {"column": "angle", "unit": "deg"},
            "elbow_flexion_speed": {"column": "vel", "unit": "deg/s"},
        },
        "torque": {"elbow_flexion_moment": {"column": "M", "unit": "Nm"}},
    }
    trial = read_csv_trial(*_hand_written(tmp_path, streams, frame, time_column="t"))
    assert trial.kinematics.units == ("rad", "rad/s")
    np.testing.assert_allclose(trial.angle, np.deg2rad(frame["angle"]), rtol=1e-15, atol=0)
    np.testing.assert_allclose(trial.velocity, np.deg2rad(frame["vel"]), rtol=1e-15, atol=0)
    assert np.rad2deg(trial.angle).min() == pytest.approx(30.0)
    # EMG and torque are not touched; 'Nm' is the canonical 'N·m'
    assert np.array_equal(trial.emg["BIClong"], frame["EMG1"].to_numpy())
    assert trial.torque.units == ("N·m",)
    assert np.array_equal(trial.moment, frame["M"].to_numpy())
    assert trial.emg.rate == pytest.approx(100.0)


def test_rate_instead_of_time_column(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"TRIlong": {"column": "EMG2", "unit": "V"}}}
    trial = read_csv_trial(
        *_hand_written(tmp_path, streams, frame, rate_hz=2000, start_s=1.5, condition="pain")
    )
    assert trial.emg.rate == 2000.0
    np.testing.assert_allclose(trial.emg.time, 1.5 + np.arange(200) / 2000.0, rtol=0, atol=1e-12)
    assert trial.condition == "pain"
    assert trial.emg.units == ("V",)


def test_missing_column_names_csv_and_column(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"BIClong": {"column": "EMG7", "unit": "mV"}}}
    csv_path, schema_path = _hand_written(tmp_path, streams, frame, time_column="t")
    with pytest.raises(ReaderError) as err:
        read_csv_trial(csv_path, schema_path)
    assert str(csv_path) in str(err.value) and "EMG7" in str(err.value)
    assert err.value.channel == "EMG7"


def test_missing_time_column(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"BIClong": {"column": "EMG1", "unit": "mV"}}}
    csv_path, schema_path = _hand_written(tmp_path, streams, frame, time_column="seconds")
    with pytest.raises(ReaderError, match="seconds") as err:
        read_csv_trial(csv_path, schema_path)
    assert str(csv_path) in str(err.value)


def test_unknown_unit(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"BIClong": {"column": "EMG1", "unit": "furlong"}}}
    csv_path, schema_path = _hand_written(tmp_path, streams, frame, time_column="t")
    with pytest.raises(DataValidationError, match="furlong") as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.channel == "BIClong"


def test_wrong_unit_for_stream(tmp_path: Path, frame: pd.DataFrame):
    streams = {"kinematics": {"elbow_flexion": {"column": "angle", "unit": "mV"}}}
    with pytest.raises(DataValidationError, match="elbow_flexion"):
        read_csv_trial(*_hand_written(tmp_path, streams, frame, time_column="t"))


@pytest.mark.parametrize("bad", ["nan", "", "n/a"])
def test_nan_in_emg_names_channel(tmp_path: Path, frame: pd.DataFrame, bad: str):
    frame = frame.astype(object)
    frame.loc[57, "EMG2"] = bad
    streams = {
        "emg": {
            "BIClong": {"column": "EMG1", "unit": "mV"},
            "TRIlong": {"column": "EMG2", "unit": "mV"},
        }
    }
    csv_path, schema_path = _hand_written(tmp_path, streams, frame, time_column="t")
    with pytest.raises(DataValidationError) as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.channel == "TRIlong"
    assert "TRIlong" in str(err.value) and str(csv_path) in str(err.value)
    assert "sample 57" in str(err.value)


def test_schema_errors(tmp_path: Path, frame: pd.DataFrame):
    csv_path, schema_path = _hand_written(tmp_path, {}, frame, time_column="t")
    schema_path.write_text("just a string\n")
    with pytest.raises(ReaderError, match="streams") as err:
        read_csv_trial(csv_path, schema_path)
    assert str(schema_path) in str(err.value)
    streams = {"forces": {"x": {"column": "M", "unit": "N"}}}
    with pytest.raises(ReaderError, match="unknown stream"):
        read_csv_trial(*_hand_written(tmp_path, streams, frame, time_column="t"))
    streams = {"emg": {"BIClong": {"column": "EMG1", "unit": "mV"}}}
    with pytest.raises(ReaderError, match="time_column"):
        read_csv_trial(*_hand_written(tmp_path, streams, frame))


def test_missing_csv_file(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"BIClong": {"column": "EMG1", "unit": "mV"}}}
    _, schema_path = _hand_written(tmp_path, streams, frame, time_column="t")
    with pytest.raises(ReaderError) as err:
        read_csv_trial(tmp_path / "absent.csv", schema_path)
    assert "absent.csv" in str(err.value)


def test_declared_rate_must_match_time_column(tmp_path: Path, frame: pd.DataFrame):
    streams = {"emg": {"BIClong": {"column": "EMG1", "unit": "mV"}}}
    csv_path, schema_path = _hand_written(tmp_path, streams, frame, time_column="t", rate_hz=1000)
    with pytest.raises(DataValidationError, match="does not match the time base"):
        read_csv_trial(csv_path, schema_path)


# --- damaged files and hostile schemas ----------------------------------------------------------


def _streams() -> dict:
    return {"emg": {"BIClong": {"column": "EMG1", "unit": "mV"}}}


def test_csv_cut_inside_its_last_number_is_refused(tmp_path: Path, frame: pd.DataFrame):
    frame.loc[199, "EMG1"] = -3.32306483
    csv_path, schema_path = _hand_written(tmp_path, _streams(), frame, time_column="t")
    text = csv_path.read_text()
    assert read_csv_trial(csv_path, schema_path).emg["BIClong"][-1] == -3.32306483
    last_row = text.splitlines()[-1]
    assert "-3.32306483" in last_row
    cut = text[: text.rindex("-3.32306483") + 2]  # "-3" and nothing after
    csv_path.write_text(cut)
    with pytest.raises(ReaderError, match="does not end with a line break") as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.source == str(csv_path)


def test_rows_missing_mid_file_need_allow_gaps(tmp_path: Path, frame: pd.DataFrame):
    gappy = frame.drop(index=range(80, 101))  # 0.21 s of a 100 Hz file
    csv_path, schema_path = _hand_written(tmp_path, _streams(), gappy, time_column="t")
    with pytest.raises(DataValidationError, match=r"gap of 0\.22 s \(21 samples missing\)") as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.source == str(csv_path)
    csv_path, schema_path = _hand_written(
        tmp_path, _streams(), gappy, time_column="t", allow_gaps=True
    )
    trial = read_csv_trial(csv_path, schema_path)
    np.testing.assert_array_equal(trial.emg.time, gappy["t"].to_numpy())


def test_non_utf8_csv_is_refused(tmp_path: Path, frame: pd.DataFrame):
    csv_path, schema_path = _hand_written(tmp_path, _streams(), frame, time_column="t")
    csv_path.write_bytes(csv_path.read_bytes().replace(b"EMG2", b"EMG\xb2"))
    with pytest.raises(ReaderError, match=r"not UTF-8 text: byte 0xb2") as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.source == str(csv_path)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"rate_hz": "fast"}, "key 'rate_hz': expected a number"),
        ({"time_column": ["t"]}, "key 'time_column': expected text"),
        ({"streams": {"emg": ["BIClong"]}}, "key 'streams.emg' must be a mapping"),
        (
            {"streams": {"emg": {"BIClong": {"unit": "mV"}}}},
            "key 'streams.emg.BIClong.column': missing",
        ),
        (
            {"streams": {"emg": {"BIClong": {"column": "EMG1", "unit": ["mV"]}}}},
            "key 'streams.emg.BIClong.unit': expected text",
        ),
        ({"load": {"mass_kg": "2 kg"}}, "key 'load.mass_kg': expected a number"),
        ({"load": {"mass": 2.0}}, "key 'load.mass': unknown key"),
        ({"metadata": [1, 2]}, "key 'metadata' must be a mapping"),
        ({"allow_gaps": "yes"}, "key 'allow_gaps': expected true or false"),
        ({"subject": {"id": 1}}, "key 'subject': expected text"),
    ],
)
def test_schema_of_wrong_types_names_the_key(tmp_path: Path, frame, schema, message):
    csv_path, schema_path = _hand_written(tmp_path, {}, frame)
    doc = {"subject": "P07", "trial_id": "ramp", "time_column": "t", "streams": _streams()}
    schema_path.write_text(yaml.safe_dump({**doc, **schema}), encoding="utf-8")
    with pytest.raises(ReaderError) as err:
        read_csv_trial(csv_path, schema_path)
    assert err.value.source == str(schema_path)
    assert message in str(err.value)
