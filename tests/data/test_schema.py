"""The data model validates on construction and names the file and channel in its errors."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data import Cohort, DataValidationError, Load, Signal, Subject, Trial


def emg(n=200, rate=1000.0, channels=("BIClong", "TRIlong"), source="rec.c3d", **kw):
    rng = np.random.default_rng(0)
    return Signal.uniform(
        rng.normal(size=(n, len(channels))), rate, channels, "mV", kind="emg", source=source, **kw
    )


def kin(n=100, rate=100.0, coordinate="elbow_flexion", unit="rad"):
    return Signal.uniform(
        np.linspace(0.2, 1.5, n), rate, [coordinate], unit, kind="kinematics", source="ik.mot"
    )


def test_signal_keeps_time_base_and_units():
    s = emg(rate=2000.0)
    assert s.n_samples == 200 and s.rate == 2000.0
    assert s.duration == pytest.approx(0.1)
    np.testing.assert_allclose(np.diff(s.time), 1 / 2000.0)
    assert s.units == ("mV", "mV")
    assert s["TRIlong"].shape == (200,)
    with pytest.raises(ValueError):
        s.values[0, 0] = 1.0  # read-only: a Signal never changes under its readers


def test_unit_spellings_are_canonicalised():
    s = Signal.uniform(np.zeros((5, 1)), 100.0, ["elbow_flexion_moment"], "N*m", kind="torque")
    assert s.units == ("N·m",)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time": np.array([0.0, 0.01, 0.01, 0.03])}, "not strictly increasing"),
        ({"time": np.array([0.0, 0.01, np.nan, 0.03])}, "NaN or inf"),
        ({"values": np.array([[0.0], [np.nan], [1.0], [2.0]])}, "non-finite"),
        ({"values": np.zeros((3, 1))}, "lengths must match"),
        ({"rate": 0.0}, "positive number of Hz"),
        ({"rate": 250.0}, "does not match the time base"),
        ({"units": ("furlong",)}, "unknown unit"),
        ({"channels": ("a", "b")}, "channel names"),
    ],
)
def test_signal_rejects_bad_input_naming_file(kwargs, fragment):
    args = {
        "time": np.arange(4) / 100.0,
        "values": np.arange(4.0)[:, None],
        "channels": ("a",),
        "units": ("V",),
        "rate": 100.0,
        "source": "trial_07.sto",
    }
    args.update(kwargs)
    with pytest.raises(DataValidationError, match=fragment) as err:
        Signal(**args)
    assert "trial_07.sto" in str(err.value)


def test_nan_error_names_channel_and_sample():
    values = np.zeros((10, 2))
    values[4, 1] = np.nan
    with pytest.raises(DataValidationError) as err:
        Signal.uniform(values, 1000.0, ["BIClong", "BRA"], "mV", source="s01.c3d")
    msg = str(err.value)
    assert "s01.c3d" in msg and "'BRA'" in msg and "sample 4" in msg


def test_zero_sampling_rate_is_rejected():
    with pytest.raises(DataValidationError, match="positive number of Hz"):
        Signal.uniform(np.zeros((10, 1)), 0.0, ["BIClong"], "mV", source="x.csv")


def test_trial_accepts_valid_streams():
    torque = Signal.uniform(np.ones(100), 100.0, ["elbow_flexion_moment"], "N·m", kind="torque")
    t = Trial(
        "S01",
        "flex01",
        emg=emg(),
        kinematics=kin(),
        torque=torque,
        load=Load(2.0, 0.35),
        condition="pain",
    )
    assert t.muscles == ("BIClong", "TRIlong")
    assert t.angle.shape == (100,) and t.moment.shape == (100,)
    assert t.load.mass_kg == 2.0


def test_trial_rejects_muscle_outside_declared_set():
    with pytest.raises(DataValidationError, match="not a muscle of the declared set 'elbow'") as e:
        Trial("S01", "t1", emg=emg(channels=("BIClong", "deltoid_anterior")))
    assert "deltoid_anterior" in str(e.value) and "rec.c3d" in str(e.value)


def test_trial_rejects_kinematics_in_degrees():
    with pytest.raises(DataValidationError, match="expected 'rad'"):
        Trial("S01", "t1", kinematics=kin(unit="deg"))


def test_trial_requires_its_coordinate():
    with pytest.raises(DataValidationError, match="missing required channel") as e:
        Trial("S01", "t1", kinematics=kin(coordinate="knee_angle"))
    assert "elbow_flexion" in str(e.value)


def test_trial_rejects_raw_emg_in_normalised_units():
    s = Signal.uniform(np.ones((10, 1)), 100.0, ["BIClong"], "1", kind="emg")
    with pytest.raises(DataValidationError, match="emg unit '1' not allowed"):
        Trial("S01", "t1", emg=s)


@pytest.mark.parametrize(("mass", "arm"), [(-1.0, None), (np.nan, None), (2.0, 0.0)])
def test_load_validation(mass, arm):
    with pytest.raises(DataValidationError):
        Load(mass, arm)


def test_cohort_groups_trials_and_knows_mvic():
    subjects = [Subject("S01", mvic={"BIClong": 0.8, "TRIlong": 0.5}), Subject("S02")]
    trials = [
        Trial("S01", "a", emg=emg()),
        Trial("S01", "b", emg=emg(), condition="pain"),
        Trial("S02", "a", emg=emg()),
    ]
    c = Cohort(subjects, trials)
    assert list(c.groups()) == ["S01", "S01", "S02"]
    assert c.mvic("S01")["BIClong"] == 0.8
    assert len(c.select(condition="pain")) == 1
    assert c.select(subject="S02").subject_ids == ["S02"]
    with pytest.raises(DataValidationError, match="no MVIC reference"):
        c.mvic("S02")


def test_cohort_rejects_undeclared_subject_and_duplicates():
    with pytest.raises(DataValidationError, match="undeclared subject"):
        Cohort([Subject("S01")], [Trial("S09", "a", emg=emg())])
    with pytest.raises(DataValidationError, match="duplicate trial id"):
        Cohort([Subject("S01")], [Trial("S01", "a", emg=emg()), Trial("S01", "a", emg=emg())])


def test_subject_mvic_must_be_positive():
    with pytest.raises(DataValidationError, match="must be > 0"):
        Subject("S01", mvic={"BIClong": 0.0})


def _time_with_gap(rate: float, n: int, missing: slice) -> np.ndarray:
    return np.delete(np.arange(n) / rate, np.arange(n)[missing])


def test_rows_missing_mid_recording_are_refused_naming_the_gap():
    # 21 samples (0.21 s) lost in 100 Hz data: the median step stays 0.01 s
    time = _time_with_gap(100.0, 300, slice(100, 121))
    with pytest.raises(DataValidationError, match=r"gap of 0\.22 s \(21 samples missing\)") as err:
        Signal(time, np.zeros(time.size), ("x",), ("1",), 100.0, source="rec.sto")
    assert err.value.source == "rec.sto" and err.value.channel == "time"
    assert "t=0.99 s and t=1.21 s" in str(err.value)


def test_gaps_are_accepted_only_when_allowed():
    time = _time_with_gap(100.0, 300, slice(100, 121))
    sig = Signal(time, np.zeros(time.size), ("x",), ("1",), 100.0, allow_gaps=True)
    np.testing.assert_array_equal(sig.time, time)
    assert sig.between(0.5, 2.0).allow_gaps  # derived signals keep the option
    # a step far shorter than the period is refused even then: samples out of place
    squeezed = np.r_[time[:50], time[49] + 0.002, time[51:]]
    with pytest.raises(DataValidationError, match=r"step of 0\.002 s \(0\.2 sample periods\)"):
        Signal(squeezed, np.zeros(time.size), ("x",), ("1",), 100.0, allow_gaps=True)


def test_time_printed_with_few_digits_is_accepted():
    # 2048 Hz times from t = 10 s printed with 7 significant digits (resolution 0.01 ms): steps
    # of 0.48 or 0.49 ms for a period of 0.488 ms, well within STEP_TOLERANCE
    time = np.array([float(f"{t:.7g}") for t in 10.0 + np.arange(400) / 2048.0])
    assert set(np.round(np.diff(time), 7)) == {0.00048, 0.00049}
    Signal(time, np.zeros(time.size), ("x",), ("1",), 2048.0)
