"""The parts of the synthetic cohort on their own: subjects, tasks, EMG, activation inversion.

Fast: no Moco solve. References: analytic derivatives (minimum jerk), the project's torch
activation dynamics and scipy's ODE solver (activation inversion), the Shwedyk spectrum and
Welch's PSD estimate (EMG), Winter's segment fractions (anthropometry).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

import numpy as np
import pytest
import torch
from scipy import signal as sps
from scipy.integrate import solve_ivp

from nmm.data.preprocess import BandPass, Envelope, Notch
from nmm.data.schema import Signal
from nmm.opensim.truth import activation_derivative, invert_activation_dynamics
from nmm.physics.activation import activation_derivative as torch_activation_derivative
from nmm.synth.config import rng
from nmm.synth.emg import emg_carrier, shwedyk_psd, synthesize_emg
from nmm.synth.settings import TruncatedNormal
from nmm.synth.subjects import draw_subjects
from nmm.synth.tasks import MovementShape, movement_motion, mvic_excitation, mvic_motion
from tests.synth.conftest import synth_settings

ARM26 = {
    "BIClong": {
        "max_isometric_force": 624.3,
        "optimal_fiber_length": 0.1157,
        "tendon_slack_length": 0.2723,
    },
    "BICshort": {
        "max_isometric_force": 435.56,
        "optimal_fiber_length": 0.1321,
        "tendon_slack_length": 0.1923,
    },
    "BRA": {
        "max_isometric_force": 987.26,
        "optimal_fiber_length": 0.0858,
        "tendon_slack_length": 0.0535,
    },
    "TRIlong": {
        "max_isometric_force": 798.52,
        "optimal_fiber_length": 0.134,
        "tendon_slack_length": 0.143,
    },
    "TRIlat": {
        "max_isometric_force": 624.3,
        "optimal_fiber_length": 0.1138,
        "tendon_slack_length": 0.098,
    },
    "TRImed": {
        "max_isometric_force": 624.3,
        "optimal_fiber_length": 0.1138,
        "tendon_slack_length": 0.0908,
    },
}  # METHODS.md section 4


@pytest.fixture(scope="module")
def cfg():
    return synth_settings(overrides=["synth=default"])


def test_subjects_follow_winter_fractions_and_bounds(cfg):
    subjects = draw_subjects(cfg, ARM26, seed=7)
    assert [s.subject_id for s in subjects] == ["S01", "S02", "S03", "S04", "S05"]
    for s in subjects:
        assert 50 <= s.body_mass_kg <= 100 and 1.55 <= s.height_m <= 1.95
        assert s.forearm.mass_kg == pytest.approx(0.022 * s.body_mass_kg)
        length = 0.146 * s.height_m
        assert s.forearm.com_m == pytest.approx(0.682 * length)
        assert s.forearm.inertia_kgm2[2] == pytest.approx(s.forearm.mass_kg * (0.468 * length) ** 2)
        assert s.load_distance_m == pytest.approx(length + 0.506 * 0.108 * s.height_m)
        for m, f in s.factors.items():
            assert 0.9 <= f["optimal_fiber_length"] <= 1.1
            assert 0.96 <= f["tendon_slack_length"] <= 1.04
            assert s.muscles[m]["max_isometric_force"] == pytest.approx(
                ARM26[m]["max_isometric_force"] * f["max_isometric_force"]
            )
        assert set(s.emg_gain_mv) == {"BIClong", "BICshort", "TRIlong", "TRIlat"}
    # arm26's forearm is about a 70 kg, 1.75 m adult's: 1.53 kg, COM 0.18 m
    adult = replace(
        cfg.anthropometry,
        body_mass_kg=TruncatedNormal(70.0, 0.0, 70.0, 70.0),
        height_m=TruncatedNormal(1.75, 0.0, 1.75, 1.75),
    )
    ref = draw_subjects(replace(cfg, anthropometry=adult), ARM26, seed=0)[0]
    assert ref.forearm.mass_kg == pytest.approx(1.534, abs=0.01)
    assert ref.forearm.com_m == pytest.approx(0.181, abs=0.01)


def test_subjects_are_deterministic_and_independent_of_cohort_size(cfg):
    five = draw_subjects(cfg, ARM26, seed=3)
    two = draw_subjects(replace(cfg, n_subjects=2), ARM26, seed=3)
    assert [s.to_dict() for s in five[:2]] == [s.to_dict() for s in two]
    other = draw_subjects(cfg, ARM26, seed=4)
    assert five[0].to_dict() != other[0].to_dict()
    # force sharing differs between subjects and loads
    w = np.array([s.weights_at(0.0, list(ARM26)) for s in five])
    assert np.ptp(w[:, 2] / w[:, 0]) > 0.1
    assert not np.allclose(
        five[0].weights_at(0.0, list(ARM26)), five[0].weights_at(4.0, list(ARM26))
    )


def test_min_jerk_motion_is_consistent(cfg):
    task = cfg.task
    motion, phases = movement_motion(
        rng(0, "t"),
        task,
        low_deg=20,
        high_deg=118,
        flexion_duration_s=0.8,
        shape=MovementShape(),
        mesh_interval_s=0.04,
    )
    t, q, qd, qdd = motion.time, motion.q, motion.qd, motion.qdd
    assert np.allclose(np.diff(t), 0.01)
    assert round(t[-1] / 0.04, 9) == round(t[-1] / 0.04)  # multiple of the mesh interval
    assert np.allclose(np.gradient(q, t), qd, atol=0.03)
    assert np.allclose(np.gradient(qd, t), qdd, atol=0.6)
    assert qd[0] == 0 and qd[-1] == 0 and qdd[0] == 0
    assert math.radians(5) <= q.min() and q.max() <= math.radians(128)
    flex = [p for p in phases if p.label == "flexion"]
    assert len(flex) == task.cycles_per_trial
    for p in flex:  # flexing during flexion phases
        inside = (t > p.start_s + 0.05) & (t < p.end_s - 0.05)
        assert (qd[inside] > 0).all()


def test_pain_shape_makes_movements_smaller_and_slower(cfg):
    kw = dict(low_deg=20, high_deg=118, flexion_duration_s=0.8, mesh_interval_s=0.04)
    base, _ = movement_motion(rng(0, "t"), cfg.task, shape=MovementShape(), **kw)
    pain, _ = movement_motion(rng(0, "t"), cfg.task, shape=MovementShape(0.9, 1.2, 0.5), **kw)
    assert np.ptp(pain.q) < np.ptp(base.q)
    assert np.max(np.abs(pain.qd)) < np.max(np.abs(base.qd))
    assert pain.time[-1] > base.time[-1]


def test_mvic_profile(cfg):
    motion, phases = mvic_motion(90, cfg.mvic, 100, 0.04)
    assert np.all(motion.qd == 0) and np.allclose(motion.q, math.radians(90))
    muscles = ["BIClong", "BRA", "TRIlat"]
    e = mvic_excitation(motion.time, phases, muscles, ["BIClong", "BRA"], peak=0.95, antagonist=0.1)
    hold = next(p for p in phases if p.label == "hold")
    inside = (motion.time >= hold.start_s) & (motion.time <= hold.end_s)
    assert np.allclose(e[inside, 0], 0.95) and np.allclose(e[inside, 2], 0.1)
    assert e[0, 0] == pytest.approx(0.01) and e[-1, 0] == pytest.approx(0.01)


def test_activation_derivative_matches_torch_model():
    a = np.linspace(0.02, 0.98, 7)[:, None]
    e = np.linspace(0.0, 1.0, 9)[None, :]
    ours = activation_derivative(a, e, 0.015, 0.06, 10.0)
    ref = torch_activation_derivative(
        torch.tensor(e, dtype=torch.float64),
        torch.tensor(a, dtype=torch.float64),
        0.015,
        0.06,
        10.0,
    ).numpy()
    assert np.allclose(ours, ref, rtol=1e-12)


def test_activation_inversion_recovers_the_excitation():
    t = np.arange(0, 2.0001, 0.02)
    e_true = (
        0.05 + 0.6 * np.exp(-(((t - 0.7) / 0.15) ** 2)) + 0.3 * np.exp(-(((t - 1.4) / 0.2) ** 2))
    )

    def rhs(tt, a):
        return activation_derivative(a, np.interp(tt, t, e_true), 0.015, 0.06, 10.0)

    sol = solve_ivp(rhs, (0, 2), [0.05], t_eval=t, rtol=1e-10, atol=1e-12, max_step=0.002)
    a = sol.y[0][:, None]
    e = invert_activation_dynamics(t, a, 0.015, 0.06, 10.0)[:, 0]
    inner = slice(5, -5)  # spline end effects
    assert np.max(np.abs(e[inner] - e_true[inner])) < 0.02


def test_shwedyk_spectrum_peaks_between_80_and_120_hz(cfg):
    f = np.linspace(1, 500, 5000)
    p = shwedyk_psd(f, cfg.emg.spectrum_low_hz, cfg.emg.spectrum_high_hz)
    assert 80 <= f[np.argmax(p)] <= 120
    assert p.max() == pytest.approx(1.0, rel=1e-3)


def test_emg_carrier_is_band_limited_with_the_configured_spectrum(cfg):
    emg = cfg.emg
    x = emg_carrier(
        rng(1, "c"),
        2**16,
        2000.0,
        f_low=emg.spectrum_low_hz,
        f_high=emg.spectrum_high_hz,
        band_hz=emg.band_hz,
    )
    assert x.std() == pytest.approx(1.0)
    f, pxx = sps.welch(x, fs=2000.0, nperseg=1024)
    total = pxx.sum()
    assert pxx[(f < 15)].sum() / total < 0.01
    assert pxx[(f > 500)].sum() / total < 0.01
    assert 70 <= f[np.argmax(pxx)] <= 130


class _Subject:
    emg_gain_mv: ClassVar[dict[str, float]] = {"BIClong": 0.8, "TRIlat": 0.5}
    emg_noise_uv = 3.0
    powerline_uv = 30.0
    drift_uv = 40.0


def test_emg_amplitude_follows_excitation_with_interference(cfg):
    t = np.arange(0, 6.0001, 0.01)
    exc = np.column_stack([0.05 + 0.5 * (np.sin(2 * np.pi * 0.5 * t) > 0), np.full(t.size, 0.1)])
    te, values = synthesize_emg(rng(2, "e"), t, exc, ["BIClong", "TRIlat"], _Subject, cfg.emg)
    assert te[0] == 0 and np.allclose(np.diff(te), 1 / 2000)
    step = cfg.emg.resolution_uv / 1000
    assert np.allclose(values / step, np.round(values / step), atol=1e-6)  # ADC steps
    sig = Signal.uniform(values, 2000.0, ["BIClong", "TRIlat"], "mV", kind="emg")
    # powerline line at 50 Hz before the notch
    f, pxx = sps.welch(values[:, 1], fs=2000.0, nperseg=4000)
    near = (f > 40) & (f < 60)
    assert f[near][np.argmax(pxx[near])] == pytest.approx(50.0, abs=0.5)
    env = Envelope(6.0)(Notch(50.0)(BandPass(20.0, 400.0)(sig)))
    e_interp = np.interp(env.time, t, exc[:, 0])
    mid = (env.time > 0.5) & (env.time < 5.5)
    r = np.corrcoef(env["BIClong"][mid], e_interp[mid])[0, 1]
    assert r > 0.9
    # RMS at full excitation ~ gain: mean |x| of Gaussian = 0.8 * RMS
    high = mid & (e_interp > 0.5)
    assert env["BIClong"][high].mean() / 0.55 == pytest.approx(0.8 * 0.8, rel=0.15)
    again = synthesize_emg(rng(2, "e"), t, exc, ["BIClong", "TRIlat"], _Subject, cfg.emg)[1]
    assert np.array_equal(values, again)
