"""A toy cohort made with the torch elbow itself, for tests and quick looks (seconds, no OpenSim).

**Not a validation data set**: the torque is computed by the same torch model the NMM fits (an
"inverse crime"), so it only checks that the pipeline runs, the loss falls and files are
written. The synthetic cohort of :mod:`nmm.synth` (OpenSim, MocoInverse) is the test of
accuracy.

Per subject: muscle-parameter factors drawn around 1 (log-normal F0, ±3 % lengths). Per trial:
a cosine flexion-extension between about 20° and 115°, a load, the inverse-dynamics torque of
:func:`nmm.physics.elbow.inverse_dynamics_torque` with the forearm horizontal at full extension
(gravity loads the flexors below 90° and the extensors above, as in the synthetic cohort), shared
among the agonists in proportion to ``w_i s_i`` (s_i the muscle's torque at full activation, w_i
a subject weight: a minimum of Σ a_i²/w_i) on top of a co-contraction floor, low-passed at 6 Hz.
The recorded torque is the torch muscle torque of those excitations with the subject's true
parameters; the measured envelopes are the excitations plus a little noise.

:func:`write_toy_cohort` writes ``dataset/`` and ``ground_truth/`` in the layout of the synthetic
cohort (:mod:`nmm.synth.ground_truth`), so the evaluation reads both the same way.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import signal as sps

from nmm.data.io.dataset import write_dataset
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial
from nmm.physics.elbow import ElbowModel, inverse_dynamics_torque
from nmm.physics.parameters import PersonalisedParameters
from nmm.synth.ground_truth import write_cohort_truth, write_trial_truth

__all__ = ["make_toy_cohort", "write_toy_cohort"]

COORDINATE = "elbow_flexion"


def _trial_kinematics(
    rng: np.random.Generator, duration: float, rate: float
) -> tuple[np.ndarray, ...]:
    t = np.arange(round(duration * rate)) / rate
    lo, hi = math.radians(rng.uniform(15, 25)), math.radians(rng.uniform(105, 120))
    period = rng.uniform(1.6, 2.4)
    w = 2 * math.pi / period
    q = lo + (hi - lo) * 0.5 * (1 - np.cos(w * t))
    qd = (hi - lo) * 0.5 * w * np.sin(w * t)
    qdd = (hi - lo) * 0.5 * w**2 * np.cos(w * t)
    return t, q, qd, qdd


def _draw_subject(
    rng: np.random.Generator, muscles: Sequence[str], parameters: PersonalisedParameters, row: int
) -> tuple[dict[str, dict[str, float]], np.ndarray, np.ndarray]:
    """A subject's true muscle factors (log-normal F0, ±3 % l_opt, ±1 % l_Ts; set into ``row``
    of ``parameters`` with the activation values of OpenSim's muscles), its agonists' weights
    ``w_i`` ``(M,)`` and its co-contraction floor ``(M,)`` (excitation, 0-1)."""
    factors = {
        m: {
            "max_isometric_force": float(np.exp(rng.normal(0.0, 0.1))),
            "optimal_fiber_length": float(rng.uniform(0.97, 1.03)),
            "tendon_slack_length": float(rng.uniform(0.99, 1.01)),
        }
        for m in muscles
    }
    values: dict[str, Any] = {
        name: [factors[m][name] for m in muscles]
        for name in ("max_isometric_force", "optimal_fiber_length", "tendon_slack_length")
    }
    values.update(emg_gain=1.0, shape_factor=-0.05, tau_act_s=0.015, electromechanical_delay_s=0.01)
    known = {sp.name for sp in parameters.specs}
    parameters.set_values(row, {k: v for k, v in values.items() if k in known})
    weights = np.exp(rng.normal(0.0, 0.3, len(muscles)))
    floor = rng.uniform(0.02, 0.05, len(muscles))
    return factors, weights, floor


def _excitations(
    elbow: ElbowModel,
    arm: Any,
    kinematics: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    load_kg: float,
    lever_arm_m: float,
    weights: np.ndarray,
    floor: np.ndarray,
    sos: np.ndarray,
) -> np.ndarray:
    """``(T, M)`` excitations (0-1) that meet the inverse-dynamics torque of ``kinematics``
    (θ rad, θ̇ rad/s, θ̈ rad/s², ``(T,)`` each) with the nominal muscles: the floor, plus the
    torque still needed shared among the agonists in proportion to ``w_i s_i`` (s_i the
    muscle's torque at full activation, N·m; the minimum of Σ a_i²/w_i), low-passed at 6 Hz."""
    th, thd, thdd = kinematics
    n = len(th)
    with torch.no_grad():
        tau_id = inverse_dynamics_torque(th, thd, thdd, arm.to(th), load_kg, lever_arm_m)
        nominal = elbow.muscle_parameters.to(th)
        ones = torch.ones(n, len(floor), dtype=torch.float64)
        full = elbow.muscle_torque(th, thd, ones, nominal).muscle_torques
        rest = elbow.muscle_torque(th, thd, 0 * ones, nominal).muscle_torques
        strength = (full - rest).numpy()  # (T, M) N·m at full activation
        base = elbow.muscle_torque(
            th, thd, torch.tensor(floor).expand(n, -1), nominal
        ).torque.numpy()
    need = tau_id.numpy() - base
    act = np.tile(floor, (n, 1))
    for sign in (1.0, -1.0):
        s_dir = np.where(sign * strength > 0, strength, 0.0)
        denom = (weights * s_dir**2).sum(axis=1)
        share = np.where(
            (sign * need > 0)[:, None],
            need[:, None] * weights * s_dir / np.maximum(denom, 1e-9)[:, None],
            0.0,
        )
        act = act + share
    return np.clip(sps.sosfiltfilt(sos, np.clip(act, 0.0, 1.0), axis=0), 0.0, 1.0)


def _muscle_torque(
    elbow: ElbowModel,
    parameters: PersonalisedParameters,
    row: int,
    excitation: np.ndarray,
    kinematics: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    dt: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The activation ``(1, T, M)`` and muscle torque ``(T,)`` N·m of ``excitation`` with the
    true parameters of ``row`` (the torch elbow: the toy cohort's "recorded" torque)."""
    th, thd, _ = kinematics
    with torch.no_grad():
        e_t = torch.tensor(excitation, dtype=parameters.raw.dtype).unsqueeze(0)
        a_t = parameters.activation(e_t, dt, [row], method="euler", substeps=2)
        mp = parameters.muscle_parameters([row], time_axis=True)
        torque = elbow.muscle_torque(
            th.to(e_t.dtype).unsqueeze(0), thd.to(e_t.dtype).unsqueeze(0), a_t, mp
        ).torque[0]
    return a_t, torque


def _toy_trial(
    subject: str,
    trial_id: str,
    envelopes: np.ndarray,
    measured: Sequence[str],
    angle: tuple[np.ndarray, np.ndarray, np.ndarray],
    torque: torch.Tensor,
    load: Load,
    rate_hz: float,
) -> Trial:
    """A movement trial: the measured muscles' ``envelopes`` ``(T, len(measured))``, θ, θ̇, θ̈
    (rad, rad/s, rad/s²) and the elbow moment ``(T,)`` N·m at ``rate_hz``."""
    return Trial(
        subject=subject,
        trial_id=trial_id,
        envelope=Signal.uniform(
            np.clip(envelopes, 0.0, None), rate_hz, list(measured), "1", kind="envelope"
        ),
        kinematics=Signal.uniform(
            np.column_stack(angle),
            rate_hz,
            [COORDINATE, f"{COORDINATE}_speed", f"{COORDINATE}_acceleration"],
            ["rad", "rad/s", "rad/s^2"],
            kind="kinematics",
        ),
        torque=Signal.uniform(
            torque.double().numpy()[:, None],
            rate_hz,
            [f"{COORDINATE}_moment"],
            "N·m",
            kind="torque",
        ),
        load=load,
        condition="baseline",
        metadata={"kind": "movement", "toy": True},
    )


def make_toy_cohort(
    elbow: ElbowModel,
    parameters: PersonalisedParameters,
    n_subjects: int = 2,
    loads_kg: Sequence[float] = (0.0, 2.0),
    trials_per_load: int = 1,
    duration_s: float = 3.0,
    rate_hz: float = 100.0,
    lever_arm_m: float = 0.3,
    noise: float = 0.005,
    seed: int = 0,
) -> tuple[Cohort, dict[str, Any]]:
    """A toy cohort and its truth.

    Args:
        elbow: the torch elbow (geometry, nominal muscles, arm).
        parameters: a table with at least ``n_subjects`` rows; its rows are *set* to the true
            values (the caller's table is changed).
        n_subjects, loads_kg, trials_per_load, duration_s, rate_hz: the design.
        lever_arm_m: load distance from the elbow (m).
        noise: SD of the white noise added to the measured envelopes (low-passed at 6 Hz).
        seed: random seed.

    Returns:
        ``(cohort, truth)``; truth: ``subjects`` (id, factors), ``trials`` (subject, session,
        trial id, load, time, excitation ``(T, M)``, activation, muscle moment), ``muscles``.
    """
    rng = np.random.default_rng(seed)
    muscles = list(elbow.muscle_names)
    hidden = [m for m in ("BRA", "TRImed") if m in muscles]
    measured = [m for m in muscles if m not in hidden]
    idx = [muscles.index(m) for m in measured]
    arm = elbow.arm.replace(gravity_angle_offset=math.pi / 2)  # forearm horizontal at θ = 0
    sos = sps.butter(2, 6.0, fs=rate_hz, output="sos")
    subjects, trials, truth_trials, truth_subjects = [], [], [], []
    for s in range(n_subjects):
        sid = f"T{s + 1:02d}"
        factors, weights, floor = _draw_subject(rng, muscles, parameters, s)
        subjects.append(Subject(sid, body_mass_kg=70.0, height_m=1.75))
        truth_subjects.append({"subject_id": sid, "factors": factors})
        plan = [load for load in loads_kg for _ in range(trials_per_load)]
        for k, load in enumerate(plan, start=1):
            t, q, qd, qdd = _trial_kinematics(rng, duration_s, rate_hz)
            kin = tuple(torch.tensor(v, dtype=torch.float64) for v in (q, qd, qdd))
            exc = _excitations(elbow, arm, kin, load, lever_arm_m, weights, floor, sos)
            a_t, torque = _muscle_torque(elbow, parameters, s, exc, kin, 1.0 / rate_hz)
            noisy = exc + sps.sosfiltfilt(sos, rng.normal(0.0, noise, exc.shape), axis=0)
            tid = f"toy_{int(load)}kg_{k}"
            load_spec = Load(float(load), lever_arm_m)
            trials.append(
                _toy_trial(
                    sid, tid, noisy[:, idx], measured, (q, qd, qdd), torque, load_spec, rate_hz
                )
            )
            truth_trials.append(
                {
                    "subject": sid,
                    "session": "1",
                    "trial_id": tid,
                    "load_kg": float(load),
                    "time": t,
                    "excitation": exc,
                    "activation": a_t[0].double().numpy(),
                    "muscle_moment": torque.double().numpy(),
                }
            )
    cohort = Cohort(subjects, trials, name="toy_elbow")
    truth = {
        "muscles": muscles,
        "hidden": hidden,
        "measured": measured,
        "subjects": truth_subjects,
        "trials": truth_trials,
    }
    return cohort, truth


def write_toy_cohort(folder: str | os.PathLike[str], cohort: Cohort, truth: dict[str, Any]) -> Path:
    """Write ``dataset/`` and ``ground_truth/`` under ``folder`` (synthetic-cohort layout)."""
    folder = Path(folder)
    write_dataset(cohort, folder / "dataset")
    gt = folder / "ground_truth"
    muscles = truth["muscles"]
    for tr in truth["trials"]:
        zeros = np.zeros_like(tr["excitation"])
        write_trial_truth(
            gt,
            tr["subject"],
            tr["session"],
            tr["trial_id"],
            tr["time"],
            muscles,
            {
                "excitation": tr["excitation"],
                "activation": tr["activation"],
                "tendon_force": zeros,
                "fiber_length": zeros,
            },
            tr["muscle_moment"],
            COORDINATE,
            8,
        )
    summary = {
        "format": "nmm-toy-ground-truth",
        "muscles": muscles,
        "hidden": truth["hidden"],
        "measured": truth["measured"],
        "subjects": truth["subjects"],
        "trials": [
            {k: tr[k] for k in ("subject", "session", "trial_id", "load_kg")}
            | {"condition": "baseline", "kind": "movement"}
            for tr in truth["trials"]
        ],
    }
    write_cohort_truth(gt, summary)
    return folder
