"""The longitudinal synthetic cohort (``synth=longitudinal``, :mod:`nmm.synth.sessions`).

The fast tests check the model's parts against their formulas: the pain trajectory, the fatigue
scale, the spectral compression of the carrier (median frequency measured with SciPy's Welch
estimate) and the config checks. The generated tests make one small cohort (one subject, one
load, two trials per session, three sessions) in OpenSim and check what defines it against
independent measurements: the sessions in the dataset, the pain trajectory in its truth, the
within-session fall of the median frequency of the written raw EMG (Welch, not the generator's
k), and the truth co-contraction index recomputed from the truth excitation files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import signal as sps

from nmm.config import compose_config
from nmm.data.io.dataset import read_dataset
from nmm.jobs.cohorts import ensure_variant_cohort, variant_names
from nmm.synth.config import SynthConfigError, validate_config
from nmm.synth.emg import fatigued_carrier
from nmm.synth.ground_truth import read_trial_truth
from nmm.synth.output import SESSIONS_FILE
from nmm.synth.sessions import cocontraction_index, drive_factors, fatigue_scale, pain_effect
from nmm.synth.settings import SynthSettings
from tests.synth.conftest import plain_synth

#: One subject, one load, two trials of two cycles per session, three sessions; a steep fatigue
#: slope so that two trials fatigue the injected muscle clearly.
SMALL = [
    "n_subjects=1",
    "loads_kg=[0.0]",
    "trials_per_cell=2",
    "sessions.n=3",
    "sessions.fatigue_slope_per_excitation_s=0.8",
    "sessions.fatigue_min_scale=0.5",
    "checks.forward_windows=2",
]


def _settings(*overrides: str) -> SynthSettings:
    cfg = compose_config("synth", ["synth=longitudinal", *(f"synth.{o}" for o in overrides)])
    return SynthSettings.from_mapping(plain_synth(cfg))


def _welch(x: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """SciPy's Welch PSD of x (mean removed), 256-sample segments."""
    return sps.welch(x - np.mean(x), fs=rate_hz, nperseg=256)


def _median_frequency(
    f: np.ndarray, p: np.ndarray, band=(20.0, 450.0), mains=(40.0, 60.0)
) -> float:
    """Median frequency (Hz) of the PSD p(f) within ``band`` less the ``mains`` band (the 50 Hz
    line, as a notch would remove it): where the cumulative power reaches half, interpolated
    linearly between bins."""
    keep = (f >= band[0]) & (f <= band[1]) & ~((f > mains[0]) & (f < mains[1]))
    cum = np.cumsum(p[keep])
    return float(np.interp(cum[-1] / 2, cum, f[keep]))


# --------------------------------------------------------------------------- the model's parts


def test_longitudinal_is_a_synth_option_with_sessions_and_others_have_none():
    assert "longitudinal" not in variant_names()  # not for judging the NMM (nmm.jobs.cohorts)
    s = _settings()
    assert s.sessions.n == 6 and s.conditions == ("baseline",)
    assert SynthSettings.from_mapping(plain_synth(compose_config("synth"))).sessions is None


def test_pain_effect_is_an_exponential_recovery():
    sessions = _settings(
        "sessions.pain_initial=0.8", "sessions.pain_recovery_sessions=3.0"
    ).sessions
    effects = [pain_effect(sessions, s) for s in range(1, 7)]
    assert effects == pytest.approx([0.8 * math.exp(-(s - 1) / 3) for s in range(1, 7)])


def test_fatigue_scale_falls_linearly_with_cumulative_excitation_to_its_floor():
    sessions = _settings(
        "sessions.fatigue_slope_per_excitation_s=0.1", "sessions.fatigue_min_scale=0.7"
    ).sessions
    t = np.linspace(0.0, 4.0, 401)
    exc = np.column_stack([np.full_like(t, 0.5), np.ones_like(t)])
    k, work = fatigue_scale(t, exc, np.array([1.0, 0.0]), sessions)
    assert work == pytest.approx([1.0 + 0.5 * 4.0, 4.0])
    assert k[:, 0] == pytest.approx(1.0 - 0.1 * (1.0 + 0.5 * t))
    assert k[:, 1] == pytest.approx(np.maximum(0.7, 1.0 - 0.1 * t))


@pytest.mark.parametrize("k", [0.9, 0.75, 0.6])
def test_fatigued_carrier_compresses_the_spectrum_by_k(k):
    emg = _settings().emg
    g = np.random.default_rng(3)
    fresh = fatigued_carrier(g, np.ones(40000), emg)
    tired = fatigued_carrier(g, np.full(40000, k), emg)
    assert np.std(tired) == pytest.approx(1.0)
    band, mains = (0.0, 1000.0), (0.0, 0.0)
    tired_mdf = _median_frequency(*_welch(tired, emg.rate_hz), band, mains)
    ratio = tired_mdf / _median_frequency(*_welch(fresh, emg.rate_hz), band, mains)
    assert ratio == pytest.approx(k, abs=0.04)


def test_cocontraction_index_is_falconer_and_winters():
    flexor, extensor = np.array([1.0, 0.5, 0.0]), np.array([0.0, 0.5, 1.0])
    assert cocontraction_index(flexor, extensor) == pytest.approx(200 * 0.5 / 3.0)
    assert cocontraction_index(flexor, flexor) == pytest.approx(100.0)
    assert cocontraction_index(np.zeros(3), np.zeros(3)) == 0.0


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("synth.sessions.n=0", r"synth.sessions must be a mapping with an integer n"),
        ("synth.sessions.pain_initial=1.5", r"synth.sessions.pain_initial"),
        ("synth.sessions.pain_recovery_sessions=0", r"synth.sessions.pain_recovery_sessions"),
        ("synth.sessions.fatigue_min_scale=0", r"synth.sessions.fatigue_min_scale"),
    ],
)
def test_bad_session_values_name_the_key(override, key):
    cfg = compose_config("synth", ["synth=longitudinal", override])
    with pytest.raises(SynthConfigError, match=key):
        validate_config(plain_synth(cfg))


# --------------------------------------------------------------------------- a generated cohort


@pytest.fixture(scope="module")
def cohort(arm26_osim, tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("longitudinal") / "cohort"
    path = ensure_variant_cohort(
        "longitudinal", root=root, overrides=[f"osim={arm26_osim}", *SMALL], workers=1
    )
    return SimpleNamespace(
        root=path,
        dataset=read_dataset(path / "dataset"),
        truth=json.loads((path / "ground_truth" / SESSIONS_FILE).read_text()),
        settings=_settings(*SMALL),
    )


def _movement(dataset, session):
    return [t for t in dataset if t.metadata["kind"] == "movement" and t.session == session]


def test_every_session_repeats_the_solved_trials(cohort):
    sessions = sorted({t.session for t in cohort.dataset})
    assert sessions == ["1", "2", "3"]
    assert all(t.session == "1" for t in cohort.dataset if t.metadata["kind"] == "mvic")
    first = _movement(cohort.dataset, "1")
    assert [t.trial_id for t in first] == ["pain_0kg_1", "pain_0kg_2"]
    for s in ("2", "3"):
        trials = _movement(cohort.dataset, s)
        assert [t.trial_id for t in trials] == [t.trial_id for t in first]
        for a, b in zip(first, trials, strict=True):
            np.testing.assert_array_equal(a.kinematics.values, b.kinematics.values)
            assert not np.array_equal(a.emg.values, b.emg.values)


def test_pain_effect_and_drive_follow_the_trajectory(cohort):
    model, (subject,) = cohort.truth["model"], cohort.truth["subjects"].values()
    e0, tau = model["pain_initial"], model["pain_recovery_sessions"]
    ratio = model["pain_drive_ratio"]
    assert 0.3 <= ratio < 1.0
    for s, session in enumerate(subject, start=1):
        effect = e0 * math.exp(-(s - 1) / tau)
        assert session["pain_effect"] == pytest.approx(effect)
        assert session["injected_drive_factor"] == pytest.approx(ratio**effect)
        assert session["antagonist_drive_factor"] == pytest.approx(1 + 0.4 * effect)


def test_median_frequency_of_the_raw_emg_falls_within_each_session(cohort):
    """Welch MDF of the injected muscle's written EMG over the flexions of a session's first
    trial and of its last trial (PSDs averaged over each trial's flexions), against the
    truth's fatigue scale of those contractions (MDF scales by k)."""
    rate = cohort.settings.emg.rate_hz
    (subject,) = cohort.truth["subjects"].values()
    for session in subject:
        trials = {t.trial_id: t for t in _movement(cohort.dataset, session["session"])}
        ids = list(trials)
        mdf, k = [], []
        for trial_id in (ids[0], ids[-1]):
            emg, psd = trials[trial_id].emg, []
            flexions = [c for c in session["contractions"] if c["trial_id"] == trial_id]
            for c in flexions:
                keep = (emg.time >= c["start_s"]) & (emg.time <= c["end_s"])
                f, p = _welch(emg["BIClong"][keep], rate)
                psd.append(p)
            mdf.append(_median_frequency(f, np.mean(psd, axis=0)))
            k.append(np.mean([c["fatigue_k"]["BIClong"] for c in flexions]))
        assert k[1] / k[0] < 0.95
        assert mdf[1] < mdf[0]
        assert mdf[1] / mdf[0] == pytest.approx(k[1] / k[0], abs=0.06)


def test_cocontraction_truth_is_the_six_muscles_index_and_rises_with_pain(cohort):
    model, (sid, subject) = cohort.truth["model"], next(iter(cohort.truth["subjects"].items()))
    means, effects = [], []
    for session in subject:
        for c in session["contractions"][:2]:
            exc = read_trial_truth(
                cohort.root / "ground_truth", sid, c["trial_id"], session["session"]
            )["excitation"]
            keep = (exc.time >= c["start_s"]) & (exc.time <= c["end_s"])
            flexor = np.mean([exc[m][keep] for m in model["flexors"]], axis=0)
            extensor = np.mean([exc[m][keep] for m in model["extensors"]], axis=0)
            expected = 200 * np.sum(np.minimum(flexor, extensor)) / np.sum(flexor + extensor)
            assert c["cocontraction_index"] == pytest.approx(expected, abs=1.5)
        means.append(np.mean([c["cocontraction_index"] for c in session["contractions"]]))
        effects.append(session["pain_effect"])
    assert len(model["flexors"]) + len(model["extensors"]) == 6
    assert all(np.diff(effects) < 0) and all(np.diff(means) < 0)


def test_ground_truth_files_carry_the_session(cohort):
    files = sorted(p.name for p in (cohort.root / "ground_truth").rglob("*_excitation.sto"))
    assert any(name.startswith("3_pain_0kg_2") for name in files)
    assert Path(cohort.root / "ground_truth" / SESSIONS_FILE).is_file()


def test_drive_lowers_the_injected_muscle_and_raises_the_moments_antagonists():
    s = _settings()
    flexors = ["BIClong", "BICshort", "BRA"]
    factors = drive_factors(s, flexors, np.array([2.0, -1.0]), 0.5, 0.64)
    injected = s.muscles.index("BIClong")
    assert factors[:, injected] == pytest.approx([0.8, 0.8])
    for j, m in enumerate(s.muscles):
        if j != injected:
            flexing, extending = (1.0, 1.2) if m in flexors else (1.2, 1.0)
            assert factors[:, j] == pytest.approx([flexing, extending])
