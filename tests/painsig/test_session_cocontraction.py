"""The session's co-contraction indices (painsig.session) over their windows (the contractions
or the movement phases) and with the reconstruction (the deep muscles added, or every muscle
reconstructed), on constant envelopes whose Falconer & Winter index is known by hand:
for constant group envelopes F and E, CI = 200 · min(F, E) / (F + E) %."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data import Signal, Trial
from painsig.segment import Epoch, KinematicSegmenter
from painsig.session import SessionSettings, session_contractions, session_indices

RATE = 100.0  # Hz, envelopes and kinematics
FLEXION = (0.5, 1.0)  # s: the one flexion (positive velocity) of the trial
EXTENSION = (1.2, 1.7)  # s
CONTRACTION = (0.1, 0.4)  # s: a contraction cut before the movement
T = np.arange(0.0, 2.0, 1 / RATE)
IN_FLEXION = (FLEXION[0] < T) & (FLEXION[1] > T)
PHASES = KinematicSegmenter(direction=1, velocity_fraction=0.05, min_duration_s=0.2)
SIX = ("BIClong", "BICshort", "BRA", "TRIlong", "TRIlat", "TRImed")
#: the NMM's excitations: constant, every muscle of both groups
U = {"BIClong": 0.5, "BICshort": 0.5, "BRA": 0.7, "TRIlong": 0.125, "TRIlat": 0.125, "TRImed": 0.4}


def fw_constant(flexor: float, extensor: float) -> float:
    """Falconer & Winter's CI (%) of constant group envelopes."""
    return 200.0 * min(flexor, extensor) / (flexor + extensor)


def _speed() -> np.ndarray:
    """rad/s: a half-sine flexion, then a half-sine extension, at rest elsewhere."""
    out = np.zeros_like(T)
    for (t0, t1), sign in ((FLEXION, 1.0), (EXTENSION, -1.0)):
        inside = (t0 < T) & (t1 > T)
        out[inside] = sign * np.sin(np.pi * (T[inside] - t0) / (t1 - t0))
    return out


def _trial(deep: bool = False) -> Trial:
    """Flexors 0.4 throughout; extensors 0.1 during the flexion, 0.3 elsewhere; with ``deep``
    the reconstructed BRA (0.7) and TRImed (0.4) as channels."""
    extensor = np.where(IN_FLEXION, 0.1, 0.3)
    columns = {"BIClong": 0.4, "BICshort": 0.4, "TRIlong": extensor, "TRIlat": extensor}
    if deep:
        columns |= {"BRA": 0.7, "TRImed": 0.4}
    values = np.column_stack([np.broadcast_to(v, T.shape) for v in columns.values()])
    envelope = Signal.uniform(values, RATE, list(columns), "1", kind="envelope")
    speed = _speed()
    kin = Signal.uniform(
        np.column_stack([np.cumsum(speed) / RATE, speed]),
        RATE,
        ["elbow_flexion", "elbow_flexion_speed"],
        ["rad", "rad/s"],
        kind="kinematics",
    )
    rng = np.random.default_rng(0)
    emg = Signal.uniform(rng.normal(size=(T.size * 10, 1)), 1000.0, ["BIClong"], "mV", kind="emg")
    return Trial("S01", "t1", emg=emg, envelope=envelope, kinematics=kin, condition="pain")


def _reconstruction(trial: Trial) -> Signal:
    """The NMM's excitations U of all six muscles on the trial's envelope grid."""
    values = np.column_stack([np.full(T.size, U[m]) for m in SIX])
    return Signal(T, values, SIX, ("1",) * 6, RATE, "envelope", "excitation.sto")


def _cocontraction(settings: SessionSettings, trial: Trial, reconstruction=None) -> dict:
    epoch = Epoch("S01", "t1", "1", "pain", *CONTRACTION, np.zeros((1, 1)), ("BIClong",), RATE)
    c = session_contractions([trial], [epoch], {0: 0.5}, settings, reconstruction)
    return {i.name: i.estimate for i in session_indices(c, settings) if "cocontraction" in i.name}


BEFORE = SessionSettings(timing_muscles=())
ON_PHASES = SessionSettings(timing_muscles=(), cocontraction_phases=PHASES)


def test_the_contractions_are_the_windows_by_default():
    """The contraction lies before the movement: extensors 0.3, flexors 0.4."""
    assert _cocontraction(BEFORE, _trial()) == {
        "cocontraction_measured": pytest.approx(fw_constant(0.4, 0.3))
    }


def test_the_movement_phases_are_the_windows_with_cocontraction_phases():
    """Over the flexion phase the extensors are at 0.1: 200 · 0.1 / 0.5 = 40 %; the extension
    phase is not a window."""
    got = _cocontraction(ON_PHASES, _trial())
    assert got == {"cocontraction_measured": pytest.approx(40.0)}


def test_the_deep_muscles_join_the_measured_groups():
    """F = mean(0.4, 0.4, 0.7) = 0.5, E = mean(0.1, 0.1, 0.4) = 0.2 over the flexion."""
    got = _cocontraction(ON_PHASES, _trial(deep=True))
    assert got["cocontraction_measured"] == pytest.approx(40.0)
    assert got["cocontraction_with_reconstructed"] == pytest.approx(fw_constant(0.5, 0.2))


def test_every_muscle_reconstructed_reads_the_reconstruction_not_the_envelopes():
    """F = mean(0.5, 0.5, 0.7), E = mean(0.125, 0.125, 0.4), whatever the envelopes hold (their
    own BRA and TRImed channels are not read); without a reconstruction no second index."""
    settings = SessionSettings(
        timing_muscles=(), cocontraction_phases=PHASES, cocontraction_reconstructed="all"
    )
    expected = fw_constant(1.7 / 3, 0.65 / 3)
    got = _cocontraction(settings, _trial(deep=True), _reconstruction)
    assert got["cocontraction_measured"] == pytest.approx(40.0)
    assert got["cocontraction_with_reconstructed"] == pytest.approx(expected)
    on_contractions = SessionSettings(timing_muscles=(), cocontraction_reconstructed="all")
    got = _cocontraction(on_contractions, _trial(), _reconstruction)
    assert got["cocontraction_with_reconstructed"] == pytest.approx(expected)
    assert set(_cocontraction(settings, _trial())) == {"cocontraction_measured"}


def test_the_settings_build_the_phase_segmenter_and_refuse_bad_values():
    s = SessionSettings.from_mapping(
        {"cocontraction_phases": {"direction": 1, "velocity_fraction": 0.05}}
    )
    assert s.cocontraction_phases == KinematicSegmenter(direction=1, velocity_fraction=0.05)
    assert SessionSettings.from_mapping({"cocontraction_phases": None}).cocontraction_phases is None
    with pytest.raises(ValueError, match="cocontraction_reconstructed"):
        SessionSettings(cocontraction_reconstructed="some")
    with pytest.raises(ValueError, match="envelope stream"):
        SessionSettings(cocontraction_phases=KinematicSegmenter(stream="emg"))
