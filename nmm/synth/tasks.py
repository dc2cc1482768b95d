"""Tasks of the synthetic cohort: elbow flexion-extension cycles and isometric maximal efforts.

A movement trial starts at rest at the lower target, then repeats ``cycles_per_trial`` cycles of
flexion to the upper target, a hold, extension to the lower target and a hold. Each movement is a
minimum-jerk profile (Flash & Hogan 1985, J Neurosci 5:1688),
``q(s) = q0 + Δ·(10 s³ - 15 s⁴ + 6 s⁵)``, ``s = (t - t0)/D``, with analytic speed and
acceleration (so inverse dynamics needs no numerical differentiation). Targets, durations and
holds jitter from cycle to cycle; a condition scales amplitude, duration and jitter
(:mod:`nmm.synth.conditions`). The trial is padded at rest so that its duration is a
multiple of the Moco mesh interval.

An MVIC trial holds the elbow at a fixed angle while the excitations ramp up to the subject's
voluntary activation, hold and ramp down (:func:`mvic_excitation`).

Units: s, rad, rad/s, rad/s² (degrees only where a name says ``_deg``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmm.opensim.truth import Motion
from nmm.synth.settings import MvicSettings, TaskSettings

__all__ = [
    "ANGLE_LIMITS_DEG",
    "MovementShape",
    "Phase",
    "movement_motion",
    "mvic_excitation",
    "mvic_motion",
]

#: Targets are kept inside arm26's elbow range (0-130°) with a margin (design).
ANGLE_LIMITS_DEG = (5.0, 128.0)


@dataclass(frozen=True)
class Phase:
    """A labelled time span of a trial: label, start_s, end_s, cycle (0-based; -1 for rest)."""

    label: str
    start_s: float
    end_s: float
    cycle: int

    def to_list(self) -> list[Any]:
        return [self.label, round(self.start_s, 6), round(self.end_s, 6), self.cycle]


@dataclass(frozen=True)
class MovementShape:
    """How a condition changes the movement: factors on amplitude, durations and jitter (1)."""

    amplitude_scale: float = 1.0
    duration_scale: float = 1.0
    variability_scale: float = 1.0


def _min_jerk(t: np.ndarray, t0: float, dur: float, q0: float, q1: float) -> tuple[np.ndarray, ...]:
    s = np.clip((t - t0) / dur, 0.0, 1.0)
    dq = q1 - q0
    q = q0 + dq * (10 * s**3 - 15 * s**4 + 6 * s**5)
    qd = dq / dur * (30 * s**2 - 60 * s**3 + 30 * s**4)
    qdd = dq / dur**2 * (60 * s - 180 * s**2 + 120 * s**3)
    return q, qd, qdd


def _grid(duration: float, rate_hz: float, multiple_s: float) -> np.ndarray:
    """Time grid (s) from 0 at rate_hz, the duration rounded up to a multiple of multiple_s."""
    steps = math.ceil(duration / multiple_s - 1e-9)
    total = steps * multiple_s
    n = round(total * rate_hz) + 1
    return np.arange(n) / rate_hz


def movement_motion(
    g: np.random.Generator,
    task: TaskSettings,
    *,
    low_deg: float,
    high_deg: float,
    flexion_duration_s: float,
    shape: MovementShape,
    mesh_interval_s: float,
) -> tuple[Motion, list[Phase]]:
    """One flexion-extension trial and its phases.

    task: the ``task`` settings (cycles_per_trial, hold_s, lead_in_s, extension_duration_ratio,
    jitter, rate_hz).
    low_deg, high_deg: the subject's targets (°); flexion_duration_s: this trial's speed class.
    """
    jit = task.jitter
    var = shape.variability_scale
    lo_lim, hi_lim = ANGLE_LIMITS_DEG
    segments: list[tuple[float, float, float, float]] = []  # t0, duration, q0, q1 (rad)
    phases: list[Phase] = []
    t = task.lead_in_s
    q_now = math.radians(np.clip(low_deg, lo_lim, hi_lim))
    if t > 0:
        phases.append(Phase("rest", 0.0, t, -1))
    for k in range(task.cycles_per_trial):
        lo = float(np.clip(low_deg + g.normal(0, jit.target_deg * var), lo_lim, hi_lim))
        span = (high_deg - low_deg) * shape.amplitude_scale
        hi = float(np.clip(low_deg + span + g.normal(0, jit.target_deg * var), lo_lim, hi_lim))
        d_flex = flexion_duration_s * shape.duration_scale
        d_flex *= max(0.5, 1 + g.normal(0, jit.duration_cv * var))
        d_ext = flexion_duration_s * task.extension_duration_ratio * shape.duration_scale
        d_ext *= max(0.5, 1 + g.normal(0, jit.duration_cv * var))
        holds = [task.hold_s * max(0.3, 1 + g.normal(0, jit.hold_cv * var)) for _ in range(2)]
        q_hi = math.radians(hi)
        segments.append((t, d_flex, q_now, q_hi))
        phases.append(Phase("flexion", t, t + d_flex, k))
        t += d_flex
        phases.append(Phase("hold_high", t, t + holds[0], k))
        t += holds[0]
        q_lo = math.radians(lo)
        segments.append((t, d_ext, q_hi, q_lo))
        phases.append(Phase("extension", t, t + d_ext, k))
        t += d_ext
        phases.append(Phase("hold_low", t, t + holds[1], k))
        t += holds[1]
        q_now = q_lo
    time = _grid(t, task.rate_hz, mesh_interval_s)
    if time[-1] > t + 1e-9:
        phases.append(Phase("rest", t, float(time[-1]), -1))
    q = np.full(time.size, math.radians(np.clip(low_deg, lo_lim, hi_lim)))
    qd = np.zeros(time.size)
    qdd = np.zeros(time.size)
    for t0, dur, q0, q1 in segments:
        qs, qds, qdds = _min_jerk(time, t0, dur, q0, q1)
        inside = (time >= t0) & (time <= t0 + dur)
        after = time > t0 + dur
        q[inside] = qs[inside]
        qd[inside] = qds[inside]
        qdd[inside] = qdds[inside]
        q[after] = q1
    return Motion(time, q, qd, qdd), phases


def mvic_motion(
    angle_deg: float, mvic: MvicSettings, rate_hz: float, mesh_interval_s: float
) -> tuple[Motion, list[Phase]]:
    """The elbow held at ``angle_deg`` (°) for rest, ramp up, hold, ramp down, rest (times of
    ``mvic``, s), sampled at ``rate_hz``."""
    r, ramp, hold = mvic.rest_s, mvic.ramp_s, mvic.hold_s
    total = 2 * r + 2 * ramp + hold
    time = _grid(total, rate_hz, mesh_interval_s)
    q = np.full(time.size, math.radians(angle_deg))
    zeros = np.zeros(time.size)
    phases = [
        Phase("rest", 0.0, r, -1),
        Phase("ramp_up", r, r + ramp, 0),
        Phase("hold", r + ramp, r + ramp + hold, 0),
        Phase("ramp_down", r + ramp + hold, r + 2 * ramp + hold, 0),
        Phase("rest", r + 2 * ramp + hold, float(time[-1]), -1),
    ]
    return Motion(time, q, zeros, zeros.copy()), phases


def mvic_excitation(
    time: np.ndarray,
    phases: Sequence[Phase],
    muscles: Sequence[str],
    agonists: Sequence[str],
    *,
    peak: float,
    antagonist: float,
    rest: float = 0.01,
) -> np.ndarray:
    """(N, M) excitations of an MVIC trial: raised-cosine ramps between ``rest`` and the plateau
    (``peak`` for agonists, ``antagonist`` for the others)."""
    by = {p.label: p for p in phases if p.cycle == 0}
    up, hold, down = by["ramp_up"], by["hold"], by["ramp_down"]
    s_up = np.clip((time - up.start_s) / (up.end_s - up.start_s), 0, 1)
    s_down = np.clip((time - down.start_s) / (down.end_s - down.start_s), 0, 1)
    shape = 0.5 * (1 - np.cos(np.pi * s_up)) * (time <= hold.end_s)
    shape += 0.5 * (1 + np.cos(np.pi * s_down)) * (time > hold.end_s)
    out = np.empty((time.size, len(muscles)))
    for j, m in enumerate(muscles):
        level = peak if m in agonists else antagonist
        out[:, j] = rest + (level - rest) * shape
    return out
