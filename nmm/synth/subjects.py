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
from nmm.synth.config import rng, shoulder_elevation_range

__all__ = ["SubjectTruth", "draw_subjects", "subject_id"]

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


def _uniform(g: np.random.Generator, spec: Mapping[str, float]) -> float:
    return float(g.uniform(spec["min"], spec["max"]))


def draw_subjects(
    cfg: Mapping[str, Any],
    base_muscles: Mapping[str, Mapping[str, float]],
    seed: int,
) -> list[SubjectTruth]:
    """Draw ``cfg['n_subjects']`` subjects; ``base_muscles``: the ``.osim``'s muscle properties.

    Subject ``i`` uses its own random stream ``(seed, 'subject', i)``: adding subjects does not
    change the earlier ones.
    """
    muscles = list(cfg["muscles"])
    measured = [m for m in muscles if m not in cfg["hidden"]]
    a, mp, rec, emg, task = (
        cfg["anthropometry"],
        cfg["muscle_parameters"],
        cfg["recruitment"],
        cfg["emg"],
        cfg["task"],
    )
    cc = rec["cocontraction"]
    out = []
    for i in range(int(cfg["n_subjects"])):
        g = rng(seed, "subject", i)
        bm = _truncnorm(g, **_ms(a["body_mass_kg"]))
        h = _truncnorm(g, **_ms(a["height_m"]))
        length = a["forearm_length_fraction"] * h
        mass = a["forearm_hand_mass_fraction"] * bm
        i_flex = mass * (a["radius_of_gyration_fraction"] * length) ** 2
        forearm = SegmentInertia(
            mass_kg=mass,
            com_m=a["com_fraction"] * length,
            inertia_kgm2=(
                a["transverse_inertia_ratio"] * i_flex,
                a["long_axis_inertia_ratio"] * i_flex,
                i_flex,
            ),
        )
        load_distance = length + a["hand_com_fraction"] * a["hand_length_fraction"] * h
        strength = (bm / REFERENCE_BODY_MASS_KG) ** mp["strength_mass_exponent"] * math.exp(
            g.normal(0.0, mp["strength_subject_sd"])
        )
        params, factors = {}, {}
        for m in muscles:
            base = base_muscles[m]
            f_force = strength * math.exp(g.normal(0.0, mp["strength_muscle_sd"]))
            f_lopt = _truncnorm(g, 1.0, **_sd_range(mp["optimal_fiber_length"]))
            f_lts = _truncnorm(g, 1.0, **_sd_range(mp["tendon_slack_length"]))
            factors[m] = {
                "max_isometric_force": f_force,
                "optimal_fiber_length": f_lopt,
                "tendon_slack_length": f_lts,
            }
            params[m] = {
                "max_isometric_force": base["max_isometric_force"] * f_force,
                "optimal_fiber_length": base["optimal_fiber_length"] * f_lopt,
                "tendon_slack_length": base["tendon_slack_length"] * f_lts,
            }
        weights = {m: math.exp(g.normal(0.0, rec["weight_sd"])) for m in muscles}
        slopes = {m: float(g.normal(0.0, rec["weight_load_slope_sd"])) for m in muscles}
        cc_muscle = {m: math.exp(g.normal(0.0, cc["muscle_sd"])) for m in muscles}
        out.append(
            SubjectTruth(
                subject_id=subject_id(i),
                index=i,
                body_mass_kg=bm,
                height_m=h,
                forearm_length_m=length,
                forearm=forearm,
                load_distance_m=load_distance,
                muscles=params,
                factors=factors,
                weights=weights,
                weight_load_slope=slopes,
                cocontraction_base=_uniform(g, cc["base"]),
                cocontraction_load_slope=_uniform(g, cc["load_slope_per_kg"]),
                cocontraction_muscle=cc_muscle,
                low_target_deg=float(
                    g.normal(task["low_target_deg"]["mean"], task["low_target_deg"]["sd"])
                ),
                high_target_deg=float(
                    g.normal(task["high_target_deg"]["mean"], task["high_target_deg"]["sd"])
                ),
                emg_gain_mv={m: _uniform(g, emg["gain_mv"]) for m in measured},
                emg_noise_uv=_uniform(g, emg["noise_uv"]),
                powerline_uv=_uniform(g, emg["powerline_uv"]),
                drift_uv=_uniform(g, emg["drift_uv"]),
                voluntary_activation=_uniform(g, cfg["mvic"]["voluntary_activation"]),
                mvic_antagonist=_uniform(g, cfg["mvic"]["antagonist"]),
                shoulder_elevation_deg=_shoulder_elevation(cfg["posture"], seed, i),
            )
        )
    return out


def _shoulder_elevation(posture: Mapping[str, Any], seed: int, index: int) -> float:
    """Subject ``index``'s shoulder elevation (°): the configured value, or uniform in the
    configured ``{min, max}`` from the stream ``(seed, 'posture', index)``."""
    low, high = shoulder_elevation_range(posture)
    if low == high:
        return low
    return float(rng(seed, "posture", index).uniform(low, high))


def _ms(spec: Mapping[str, float]) -> dict[str, float]:
    return {"mean": spec["mean"], "sd": spec["sd"], "lo": spec["min"], "hi": spec["max"]}


def _sd_range(spec: Mapping[str, float]) -> dict[str, float]:
    return {"sd": spec["sd"], "lo": spec["min"], "hi": spec["max"]}
