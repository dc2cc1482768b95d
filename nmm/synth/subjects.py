"""Synthetic subjects: anthropometry, muscle parameters, recruitment and EMG gains, all seeded.

Each subject is drawn from ``conf/synth/*.yaml`` (sources there):

- **Anthropometry**: body mass and height (normal, truncated), then the forearm-and-hand segment
  from Winter (2009, Table 4.1, after Dempster 1955): mass ``0.022·BM``, forearm length
  ``L = 0.146·H``, centre of mass ``0.682·L`` from the elbow, radius of gyration about the centre
  of mass ``0.468·L`` (flexion axis), and the load held at the hand's centre of mass,
  ``L + 0.506·0.108·H`` from the elbow. Muscle paths (moment arms) stay those of the ``.osim``.
- **Muscle parameters** as factors on the ``.osim`` values: ``max_isometric_force`` scales with
  ``(BM/70 kg)^(2/3)`` times log-normal subject and muscle factors; ``optimal_fiber_length`` and
  ``tendon_slack_length`` get truncated normal factors.
- **Recruitment**: per-muscle effort weights ``w_i`` (log-normal) with a per-muscle load slope
  ``b_i`` (``w_i(m) = w_i·exp(b_i·m)``), and a co-contraction level ``base + slope·m`` with
  per-muscle factors: these differ between subjects, so force sharing among synergists and
  co-contraction differ by subject and load (:mod:`nmm.opensim.truth` explains the cost).
- **Targets** of the flexion-extension task (subject means of the lower and upper angle).
- **EMG**: per measured muscle the RMS amplitude at full excitation (mV), and per subject the
  sensor noise, powerline and drift amplitudes (µV).
- **MVIC**: voluntary activation of the agonists and antagonist co-activation.
- **Posture**: the shoulder elevation, the configured one or, for a ``{min, max}`` range, drawn
  uniformly per subject from its own stream ``(seed, 'posture', i)`` (so the other draws, and
  therefore the subjects, stay those of a cohort with a fixed posture).

Units: kg, m, N, rad (targets stored in degrees as ``*_deg``), mV and µV as named.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nmm.opensim.arm_model import SegmentInertia
from nmm.synth.config import rng
from nmm.synth.settings import (
    AnthropometrySettings,
    FactorSpread,
    MuscleParameterSettings,
    PostureSettings,
    Range,
    SynthSettings,
    TruncatedNormal,
)

__all__ = ["SubjectTruth", "draw_subject", "draw_subjects", "subject_id"]

REFERENCE_BODY_MASS_KG = 70.0  # body mass at which strength factors are 1 (arm26 ~ a 70 kg adult)


def subject_id(index: int) -> str:
    """``S01``, ``S02``, ... for index 0, 1, ..."""
    return f"S{index + 1:02d}"


@dataclass
class SubjectTruth:
    """The true parameters of one synthetic subject (everything the generator drew).

    muscles: ``{muscle: {max_isometric_force N, optimal_fiber_length m, tendon_slack_length m}}``;
    factors: the same keys, as factors on the ``.osim``'s values. weights, weight_load_slope
    (1/kg), cocontraction_muscle: per muscle. emg_gain_mv: per measured muscle.
    pain_injected_weight_gain: filled by the pain calibration (per condition).
    shoulder_elevation_deg: the posture the subject was simulated in (°, arm26's
    ``r_shoulder_elev``).
    """

    subject_id: str
    index: int
    body_mass_kg: float
    height_m: float
    forearm_length_m: float
    forearm: SegmentInertia
    load_distance_m: float
    muscles: dict[str, dict[str, float]]
    factors: dict[str, dict[str, float]]
    weights: dict[str, float]
    weight_load_slope: dict[str, float]
    cocontraction_base: float
    cocontraction_load_slope: float
    cocontraction_muscle: dict[str, float]
    low_target_deg: float
    high_target_deg: float
    emg_gain_mv: dict[str, float]
    emg_noise_uv: float
    powerline_uv: float
    drift_uv: float
    voluntary_activation: float
    mvic_antagonist: float
    pain_injected_weight_gain: dict[str, float] = field(default_factory=dict)
    shoulder_elevation_deg: float = 0.0

    def weights_at(self, load_kg: float, muscles: Sequence[str]) -> np.ndarray:
        """(M,) effort weights at a load (kg): ``w_i·exp(b_i·m)``."""
        return np.array(
            [self.weights[m] * math.exp(self.weight_load_slope[m] * load_kg) for m in muscles]
        )

    def cocontraction_level(self, load_kg: float) -> float:
        """Co-contraction excitation level at a load (kg), before per-muscle factors."""
        return self.cocontraction_base + self.cocontraction_load_slope * load_kg

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (floats, lists) of the drawn parameters.

        The pain calibration (``pain_injected_weight_gain``) depends on the whole cohort and is
        reported in ``cohort.json``'s ``calibration`` instead, so a subject's parameters depend
        only on the seed and its index. ``shoulder_elevation_deg`` is left out at 0 (arm26's
        reference posture), so cohorts made before the option was added read the same.
        """
        d = asdict(self)
        d.pop("pain_injected_weight_gain", None)
        if self.shoulder_elevation_deg == 0.0:
            d.pop("shoulder_elevation_deg")
        d["forearm"] = {
            "mass_kg": self.forearm.mass_kg,
            "com_m": self.forearm.com_m,
            "inertia_kgm2": list(self.forearm.inertia_kgm2),
        }
        return d


def _truncnorm(g: np.random.Generator, mean: float, sd: float, lo: float, hi: float) -> float:
    """Normal(mean, sd) truncated to [lo, hi] by rejection (bounded tries, then clipped)."""
    for _ in range(1000):
        x = g.normal(mean, sd)
        if lo <= x <= hi:
            return float(x)
    return float(np.clip(mean, lo, hi))


def _uniform(g: np.random.Generator, spec: Range) -> float:
    return float(g.uniform(spec.min, spec.max))


def _truncated(g: np.random.Generator, spec: TruncatedNormal) -> float:
    return _truncnorm(g, spec.mean, spec.sd, spec.min, spec.max)


def _factor(g: np.random.Generator, spec: FactorSpread) -> float:
    return _truncnorm(g, 1.0, spec.sd, spec.min, spec.max)


def _forearm(a: AnthropometrySettings, bm: float, h: float) -> tuple[SegmentInertia, float, float]:
    """The forearm-and-hand segment of a subject of body mass ``bm`` (kg) and height ``h`` (m)
    (Winter 2009, Table 4.1): its inertia, the forearm length (m) and the load's distance from
    the elbow (m, the hand's centre of mass)."""
    length = a.forearm_length_fraction * h
    mass = a.forearm_hand_mass_fraction * bm
    i_flex = mass * (a.radius_of_gyration_fraction * length) ** 2
    forearm = SegmentInertia(
        mass_kg=mass,
        com_m=a.com_fraction * length,
        inertia_kgm2=(
            a.transverse_inertia_ratio * i_flex,
            a.long_axis_inertia_ratio * i_flex,
            i_flex,
        ),
    )
    return forearm, length, length + a.hand_com_fraction * a.hand_length_fraction * h


def _muscle_parameters(
    g: np.random.Generator,
    mp: MuscleParameterSettings,
    muscles: Sequence[str],
    base_muscles: Mapping[str, Mapping[str, float]],
    bm: float,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """A subject's muscle parameters (N, m) and their factors on ``base_muscles``: strength
    ``(bm / 70 kg)^exponent`` times log-normal subject and muscle factors, truncated-normal
    length factors."""
    strength = (bm / REFERENCE_BODY_MASS_KG) ** mp.strength_mass_exponent * math.exp(
        g.normal(0.0, mp.strength_subject_sd)
    )
    params, factors = {}, {}
    for m in muscles:
        base = base_muscles[m]
        factors[m] = {
            "max_isometric_force": strength * math.exp(g.normal(0.0, mp.strength_muscle_sd)),
            "optimal_fiber_length": _factor(g, mp.optimal_fiber_length),
            "tendon_slack_length": _factor(g, mp.tendon_slack_length),
        }
        params[m] = {key: base[key] * f for key, f in factors[m].items()}
    return params, factors


def draw_subject(
    settings: SynthSettings,
    base_muscles: Mapping[str, Mapping[str, float]],
    seed: int,
    index: int,
) -> SubjectTruth:
    """Subject ``index``, from its own random stream ``(seed, 'subject', index)`` (draws in a
    fixed order: anthropometry, muscles, recruitment, targets, EMG, MVIC); ``base_muscles``:
    the generic model's muscle properties (N, m)."""
    muscles = settings.muscles
    a, rec, emg = settings.anthropometry, settings.recruitment, settings.emg
    task, cc = settings.task, settings.recruitment.cocontraction
    g = rng(seed, "subject", index)
    bm = _truncated(g, a.body_mass_kg)
    h = _truncated(g, a.height_m)
    forearm, length, load_distance = _forearm(a, bm, h)
    params, factors = _muscle_parameters(g, settings.muscle_parameters, muscles, base_muscles, bm)
    weights = {m: math.exp(g.normal(0.0, rec.weight_sd)) for m in muscles}
    slopes = {m: float(g.normal(0.0, rec.weight_load_slope_sd)) for m in muscles}
    cc_muscle = {m: math.exp(g.normal(0.0, cc.muscle_sd)) for m in muscles}
    return SubjectTruth(
        subject_id=subject_id(index),
        index=index,
        body_mass_kg=bm,
        height_m=h,
        forearm_length_m=length,
        forearm=forearm,
        load_distance_m=load_distance,
        muscles=params,
        factors=factors,
        weights=weights,
        weight_load_slope=slopes,
        cocontraction_base=_uniform(g, cc.base),
        cocontraction_load_slope=_uniform(g, cc.load_slope_per_kg),
        cocontraction_muscle=cc_muscle,
        low_target_deg=float(g.normal(task.low_target_deg.mean, task.low_target_deg.sd)),
        high_target_deg=float(g.normal(task.high_target_deg.mean, task.high_target_deg.sd)),
        emg_gain_mv={m: _uniform(g, emg.gain_mv) for m in settings.measured},
        emg_noise_uv=_uniform(g, emg.noise_uv),
        powerline_uv=_uniform(g, emg.powerline_uv),
        drift_uv=_uniform(g, emg.drift_uv),
        voluntary_activation=_uniform(g, settings.mvic.voluntary_activation),
        mvic_antagonist=_uniform(g, settings.mvic.antagonist),
        shoulder_elevation_deg=_shoulder_elevation(settings.posture, seed, index),
    )


def draw_subjects(
    settings: SynthSettings,
    base_muscles: Mapping[str, Mapping[str, float]],
    seed: int,
) -> list[SubjectTruth]:
    """Draw ``settings.n_subjects`` subjects (:func:`draw_subject`); ``base_muscles``: the
    generic model's muscle properties. Each has its own random stream: adding subjects does
    not change the earlier ones."""
    return [draw_subject(settings, base_muscles, seed, i) for i in range(settings.n_subjects)]


def _shoulder_elevation(posture: PostureSettings, seed: int, index: int) -> float:
    """Subject ``index``'s shoulder elevation (°): the configured value, or uniform in the
    configured ``{min, max}`` from the stream ``(seed, 'posture', index)``."""
    low, high = posture.shoulder_elevation_deg.min, posture.shoulder_elevation_deg.max
    if low == high:
        return low
    return float(rng(seed, "posture", index).uniform(low, high))
