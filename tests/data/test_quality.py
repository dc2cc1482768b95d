"""The data checks (nmm.data.quality, nmm.data.mains) on cohorts built here with known defects,
and the mains detector on signals with a known hum and on the real pyomeca recording."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from nmm.data.errors import ReaderError
from nmm.data.io.sto import StoRowCountWarning
from nmm.data.mains import MIN_LINE_RATIO, detect_mains, mains_lines
from nmm.data.preprocess import BandPass, Chain, Envelope, Notch
from nmm.data.quality import (
    MAX_NORMALISED_PEAK,
    Finding,
    QualitySettings,
    check_cohort,
    finding_from_error,
    notch_frequency,
    subject_mains,
)
from nmm.data.schema import Cohort, Signal, Subject, Trial
from nmm.data.sources import pyomeca_cohort

MUSCLES = ("BIClong", "BICshort", "TRIlong", "TRIlat")
EMG_HZ = 2000.0
KIN_HZ = 100.0


def emg_noise(seconds: float, seed: int, hum_hz: float | None = None, hum: float = 0.3):
    """(T, 4) band-limited Gaussian noise (20-450 Hz, unit variance before filtering), mV, with
    a sine of amplitude ``hum`` mV at ``hum_hz`` added to every channel."""
    rng = np.random.default_rng(seed)
    n = int(seconds * EMG_HZ)
    x = Signal.uniform(rng.standard_normal((n, len(MUSCLES))), EMG_HZ, MUSCLES, "mV", kind="emg")
    x = BandPass(20.0, 450.0, 4)(x)
    values = np.array(x.values)
    if hum_hz is not None:
        values = values + hum * np.sin(2 * np.pi * hum_hz * x.time)[:, None]
    return values


def trial(
    subject: str = "S01",
    trial_id: str = "t1",
    seconds: float = 5.0,
    *,
    condition: str = "baseline",
    seed: int = 0,
    hum_hz: float | None = None,
    envelope: np.ndarray | None = None,
    emg_rate: float = EMG_HZ,
    kin_start: float = 0.0,
    coordinate: str = "elbow_flexion",
) -> Trial:
    """A trial of ``seconds`` s: raw EMG (or, given ``envelope`` (T, 4), envelopes in unit 1 at
    100 Hz) and the elbow angle from ``kin_start`` s."""
    n_kin = int(seconds * KIN_HZ)
    angle = Signal.uniform(
        np.linspace(0.2, 1.5, n_kin),
        KIN_HZ,
        [coordinate],
        "rad",
        start=kin_start,
        kind="kinematics",
    )
    streams = {"kinematics": angle}
    if envelope is not None:
        streams["envelope"] = Signal.uniform(envelope, KIN_HZ, MUSCLES, "1", kind="envelope")
    else:
        values = emg_noise(seconds, seed, hum_hz)[:: round(EMG_HZ / emg_rate)]
        streams["emg"] = Signal.uniform(values, emg_rate, MUSCLES, "mV", kind="emg")
    return Trial(
        subject,
        trial_id,
        condition=condition,
        coordinate=coordinate,
        source=f"{trial_id}.sto",
        **streams,
    )


def cohort(*trials: Trial, mvic: dict[str, dict[str, float]] | None = None) -> Cohort:
    subjects = sorted({t.subject for t in trials})
    return Cohort([Subject(s, (mvic or {}).get(s, {})) for s in subjects], trials)


def codes(findings: list[Finding], subject: str | None = None) -> list[str]:
    return sorted(f.code for f in findings if subject is None or f.subject == subject)


SETTINGS = QualitySettings(coordinate="elbow_flexion", notch_hz=50.0)


# ----------------------------------------------------------------------------- mains


@pytest.mark.parametrize("hum_hz", [50.0, 60.0])
def test_a_known_hum_is_found_at_its_frequency(hum_hz):
    sig = Signal.uniform(emg_noise(5.0, 1, hum_hz), EMG_HZ, MUSCLES, "mV", kind="emg")
    lines = {line.freq_hz: line for line in mains_lines([sig])}
    other = 110.0 - hum_hz
    assert lines[hum_hz].ratio > 4 * MIN_LINE_RATIO
    assert lines[other].ratio < MIN_LINE_RATIO
    assert detect_mains(lines.values()).freq_hz == hum_hz


def test_no_hum_no_mains():
    for seed in range(5):
        sig = Signal.uniform(emg_noise(5.0, seed), EMG_HZ, MUSCLES, "mV", kind="emg")
        assert detect_mains(mains_lines([sig])) is None


def test_a_hum_in_one_channel_is_found_and_named():
    values = emg_noise(5.0, 2)
    t = np.arange(values.shape[0]) / EMG_HZ
    values[:, 2] += 0.3 * np.sin(2 * np.pi * 60.0 * t)
    sig = Signal.uniform(values, EMG_HZ, MUSCLES, "mV", kind="emg")
    line = detect_mains(mains_lines([sig]))
    assert (line.freq_hz, line.channel) == (60.0, "TRIlong")


def test_a_recording_shorter_than_one_segment_gives_no_estimate():
    sig = Signal.uniform(emg_noise(0.5, 0, 50.0), EMG_HZ, MUSCLES, "mV", kind="emg")
    assert mains_lines([sig]) == []


def test_the_pyomeca_recording_has_60_hz_mains(pyomeca_dir: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoRowCountWarning)
        c = pyomeca_cohort(pyomeca_dir)
    line = subject_mains(c)["pyomeca"]
    assert line.freq_hz == 60.0
    assert line.channel == "deltoid_posterior"  # the channel whose spectrum peaks at 60 Hz
    ratios = {x.freq_hz: x.ratio for x in mains_lines([c.trials[0].emg])}
    assert ratios[50.0] < MIN_LINE_RATIO <= ratios[60.0]
    (finding,) = [f for f in check_cohort(c, SETTINGS) if f.code == "mains"]
    assert finding.level == "warning"
    assert "preprocess.emg.steps.notch.freq_hz=60" in finding.message


@pytest.mark.parametrize(
    ("notch", "level", "says"),
    [
        (60.0, "info", "notches it"),
        (50.0, "warning", "notch.freq_hz=60"),
        (None, "warning", "no notch"),
    ],
)
def test_mains_against_the_notch(notch, level, says):
    c = cohort(trial(hum_hz=60.0), trial("S02", hum_hz=60.0, seed=3))
    (finding,) = [f for f in check_cohort(c, QualitySettings(notch_hz=notch)) if f.code == "mains"]
    assert finding.level == level and says in finding.message
    assert "2 subject(s) (S01, S02" in finding.message


def test_the_notch_of_a_chain():
    assert notch_frequency(Chain([BandPass(), Notch(60.0), Envelope(6.0)])) == 60.0
    assert notch_frequency(Chain([BandPass(), Envelope(6.0)])) is None
    assert notch_frequency(None) is None


# ----------------------------------------------------------------------------- MVIC, amount


def test_no_mvic_is_a_warning_per_subject():
    c = cohort(trial("S01"), trial("S02"), trial("S02", "m1", condition="mvic"))
    found = check_cohort(c, SETTINGS)
    assert codes(found, "S01") == ["no_mvic"]
    assert codes(found, "S02") == []  # an MVIC trial gives the reference
    (f,) = found
    assert f.level == "warning" and "cannot be told apart" in f.message


def test_an_mvic_reference_missing_a_muscle():
    c = cohort(trial("S01"), mvic={"S01": {"BIClong": 0.5, "BICshort": 0.4}})
    (f,) = check_cohort(c, SETTINGS)
    assert f.code == "mvic_incomplete" and "TRIlat, TRIlong" in f.message


def test_normalised_envelopes_need_no_mvic_and_are_noted():
    env = np.full((500, 4), 0.3)
    env[100] = 0.9
    found = check_cohort(cohort(trial(envelope=env)), SETTINGS)
    assert codes(found) == ["processed_envelopes"]
    assert found[0].level == "info"


def test_little_data_per_subject():
    settings = QualitySettings(window_s=1.0, n_parameters=32)
    long = [trial("S01", f"t{i}", 10.0, seed=i) for i in range(4)]  # 40 s of movement
    short = [trial("S02", f"t{i}", 10.0, seed=i) for i in range(2)]  # 20 s ...
    mvic = trial("S02", "mvic", 20.0, condition="mvic")  # ... MVIC trials do not count
    found = check_cohort(cohort(*long, *short, mvic), settings)
    little = [f for f in found if f.code == "little_data"]
    assert [f.subject for f in little] == ["S02"]
    assert "20 s of movement in 2 trial(s): 20 non-overlapping training windows of 1 s for 32" in (
        little[0].message
    )
    assert not [
        f for f in check_cohort(cohort(*short), QualitySettings()) if f.code == "little_data"
    ]


@pytest.mark.parametrize(("peak", "flagged"), [(5.0, True), (1.3, False), (0.004, True)])
def test_envelope_levels(peak, flagged):
    env = np.linspace(0.1, 1.0, 500)[:, None] * np.ones(4) * peak
    found = [f for f in check_cohort(cohort(trial(envelope=env)), SETTINGS)]
    hits = [f for f in found if f.code == "not_normalised"]
    assert bool(hits) == flagged
    if peak > MAX_NORMALISED_PEAK:
        assert "do not look MVIC-normalised" in hits[0].message and hits[0].trial == "t1"


# ----------------------------------------------------------------------------- trials


def test_errors_name_subject_and_trial():
    c = cohort(trial(coordinate="knee_angle"), trial("S02", kin_start=20.0))
    found = check_cohort(c, SETTINGS)
    errs = {(f.code, f.subject, f.trial) for f in found if f.level == "error"}
    assert errs == {("coordinate", "S01", "t1"), ("no_overlap", "S02", "t1")}


def test_trial_warnings():
    gappy = trial("S01", "gappy")
    kin = gappy.kinematics
    keep = np.r_[0:100, 150 : kin.n_samples]  # 0.5 s missing
    gappy = gappy.replace(
        kinematics=Signal(
            kin.time[keep],
            kin.values[keep],
            kin.channels,
            kin.units,
            kin.rate,
            kin.kind,
            "gappy.sto",
            allow_gaps=True,
        )
    )
    flat = trial("S01", "flat")
    flat = flat.replace(emg=flat.emg.with_values(flat.emg.values * [1, 1, 0, 1]))
    slow = trial("S01", "slow", emg_rate=500.0)
    short = trial("S01", "short", 0.6)
    settings = QualitySettings(notch_hz=50.0, window_s=1.0)
    found = check_cohort(cohort(gappy, flat, slow, short), settings)
    by_trial = {(f.trial, f.code) for f in found if f.trial}
    assert by_trial == {
        ("gappy", "gaps"),
        ("flat", "flat_channel"),
        ("slow", "low_emg_rate"),
        ("short", "short_trial"),
    }
    gap = next(f for f in found if f.code == "gaps")
    assert "0.5 s of samples missing" in gap.message and gap.source == "gappy.sto"
    assert "TRIlong" in next(f for f in found if f.code == "flat_channel").message


def test_a_reader_error_becomes_an_error_finding():
    f = finding_from_error(ReaderError("damaged", source="/d/x.npz", channel="BIClong"))
    assert (f.level, f.code, f.source) == ("error", "unreadable", "/d/x.npz")
    assert "x.npz" in f.message and "BIClong" in f.message


def test_settings_from_a_mapping():
    s = QualitySettings.from_mapping({"min_line_ratio": 8}, notch_hz=50.0)
    assert s.min_line_ratio == 8.0 and s.notch_hz == 50.0
    assert QualitySettings.from_mapping(None).max_normalised_peak == MAX_NORMALISED_PEAK
    with pytest.raises(ValueError, match="unknown data check setting"):
        QualitySettings.from_mapping({"min_line_ration": 8})
