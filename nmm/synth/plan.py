"""The trials of a synthetic cohort and the OpenSim job of each (nothing is solved here).

:func:`plan_trials` lays out every subject's trials in the order the dataset lists them (MVIC,
then condition, load, repetition), each with its prescribed motion; :func:`movement_job` and
:func:`mvic_job` turn a planned trial into a picklable :class:`TrialJob` for
:mod:`nmm.synth.simulate`: the subject's arm model, the recruitment cost of MocoInverse
(effort weights, co-contraction reference and floor, the pain cap) or the MVIC excitations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmm.opensim.arm_model import ArmModelSpec, build_arm_model
from nmm.opensim.truth import Motion
from nmm.synth.conditions import ConditionEffect, condition_effect
from nmm.synth.config import rng
from nmm.synth.settings import ChecksSettings, SolverSettings, SynthSettings
from nmm.synth.subjects import SubjectTruth
from nmm.synth.tasks import Phase, movement_motion, mvic_excitation, mvic_motion

__all__ = [
    "FIRST_SESSION",
    "TrialJob",
    "TrialPlan",
    "arm_spec",
    "elbow_flexors",
    "load_label",
    "movement_job",
    "mvic_job",
    "plan_trials",
]


#: The session of every trial of a one-session cohort, and the first of a longitudinal one.
FIRST_SESSION = "1"


@dataclass
class TrialPlan:
    """One trial of one subject: its condition, load (kg), kind ('movement' | 'mvic'),
    prescribed motion and phases; a movement's condition effect and speed class (index into
    ``task.flexion_duration_s``, and that duration in s); an MVIC's direction; its session."""

    subject: SubjectTruth
    trial_id: str
    condition: str
    kind: str
    load_kg: float
    motion: Motion
    phases: list[Phase]
    effect: ConditionEffect | None = None
    speed_index: int | None = None
    flexion_duration_s: float | None = None
    direction: str | None = None  # MVIC: 'flexion' | 'extension'
    session: str = FIRST_SESSION

    @property
    def key(self) -> tuple[str, str]:
        """(subject, trial id), unique in the cohort: beyond the first session the trial id is
        qualified by its session (``<trial id>@<session>``; the dataset keeps the plain id)."""
        if self.session == FIRST_SESSION:
            return (self.subject.subject_id, self.trial_id)
        return (self.subject.subject_id, f"{self.trial_id}@{self.session}")


@dataclass
class TrialJob:
    """One OpenSim job: a movement trial (MocoInverse) or an MVIC trial (forward simulation).

    weights: (M,) effort weights; reference: (N, M) co-contraction reference; floor, ceiling:
    (M,) bounds of the excitations and activations; excitation: (N, M) of an MVIC; angle: its
    elbow angle (rad); meta: the recruitment recorded in the ground truth.
    """

    subject: str
    trial_id: str
    condition: str
    kind: str  # 'movement' | 'mvic'
    load_kg: float
    spec: ArmModelSpec
    motion: Motion
    phases: list[Phase]
    muscles: tuple[str, ...]
    solver: SolverSettings
    checks: ChecksSettings | None
    whole_trial: bool = False
    weights: np.ndarray | None = None
    reference: np.ndarray | None = None
    floor: np.ndarray | None = None
    ceiling: np.ndarray | None = None
    excitation: np.ndarray | None = None  # MVIC only, (N, M)
    angle: float | None = None  # MVIC only, rad
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.subject, self.trial_id)


def load_label(load: float) -> str:
    """``0kg``, ``2kg``, ``2.5kg``: a load (kg) in trial ids."""
    return f"{load:g}kg"


def arm_spec(settings: SynthSettings, subj: SubjectTruth, load: float) -> ArmModelSpec:
    """The OpenSim arm model of ``subj`` holding ``load`` (kg) in the hand."""
    mp = settings.muscle_parameters
    return ArmModelSpec(
        osim_path=settings.osim,
        muscles=subj.muscles,
        shoulder_elevation=math.radians(subj.shoulder_elevation_deg),
        base_tilt=math.radians(settings.posture.base_tilt_deg),
        forearm=subj.forearm,
        load_kg=float(load),
        load_distance_m=subj.load_distance_m,
        tendon_strain=mp.tendon_strain,
        fiber_damping=mp.fiber_damping,
        activation_time_constant_s=mp.activation_time_constant_s,
        deactivation_time_constant_s=mp.deactivation_time_constant_s,
        activation_smoothing=mp.activation_smoothing,
        elbow_coordinate=settings.model_coordinate,
    )


def _mvic_plans(settings: SynthSettings, subj: SubjectTruth) -> list[TrialPlan]:
    """The subject's MVIC trials (flexion, then extension), none without ``mvic.include``."""
    if not settings.mvic.include:
        return []
    mvic, rate, mesh = settings.mvic, settings.task.rate_hz, settings.solver.mesh_interval_s
    return [
        TrialPlan(
            subj,
            f"mvic_{d}",
            "mvic",
            "mvic",
            0.0,
            *mvic_motion(mvic.angle_deg, mvic, rate, mesh),
            direction=d,
        )
        for d in ("flexion", "extension")
    ]


def _movement_plans(settings: SynthSettings, subj: SubjectTruth, seed: int) -> list[TrialPlan]:
    """The subject's movement trials by condition, load and repetition; the speed classes
    (``task.flexion_duration_s``) take turns over loads and repetitions."""
    task, per_cell = settings.task, settings.trials_per_cell
    speeds = task.flexion_duration_s
    plans = []
    for condition in settings.conditions:
        effect = condition_effect(settings.pain_model, condition)
        for li, load in enumerate(settings.loads_kg):
            for k in range(per_cell):
                trial_id = f"{condition}_{load_label(load)}_{k + 1}"
                speed_index = (li * per_cell + k) % len(speeds)
                motion, phases = movement_motion(
                    rng(seed, "motion", subj.index, trial_id),
                    task,
                    low_deg=subj.low_target_deg,
                    high_deg=subj.high_target_deg,
                    flexion_duration_s=speeds[speed_index],
                    shape=effect.shape,
                    mesh_interval_s=settings.solver.mesh_interval_s,
                )
                plans.append(
                    TrialPlan(
                        subj,
                        trial_id,
                        condition,
                        "movement",
                        float(load),
                        motion,
                        phases,
                        effect,
                        speed_index,
                        speeds[speed_index],
                    )
                )
    return plans


def plan_trials(
    settings: SynthSettings, subjects: Sequence[SubjectTruth], seed: int
) -> list[TrialPlan]:
    """Every trial of the cohort in dataset order: per subject its MVIC trials, then its
    movement trials by condition, load and repetition."""
    return [
        plan
        for subj in subjects
        for plan in (*_mvic_plans(settings, subj), *_movement_plans(settings, subj, seed))
    ]


def movement_job(
    settings: SynthSettings,
    plan: TrialPlan,
    gain: float,
    whole_trial: bool,
    flexors: Sequence[str],
    cap: float | None = None,
) -> TrialJob:
    """A MocoInverse job; gain multiplies the injected muscle's effort weight and cap (if given)
    bounds its activation from above (pain and placebo).

    Co-contraction reference ``c_i(t) = level · f_i · g_i · (1 + acceleration_gain ·
    |θ̈|/max|θ̈|)`` with ``g_i`` the condition's co-contraction gain on the injected muscle's
    antagonists (1 elsewhere); its floor ``hard_floor_fraction · level · f_i · g_i`` clipped to
    [0.01, 0.5] (design, conf/synth/default.yaml).
    """
    subj, muscles = plan.subject, settings.muscles
    cc = settings.recruitment.cocontraction
    weights = subj.weights_at(plan.load_kg, muscles)
    inj = muscles.index(settings.pain_model.injected_muscle)
    weights[inj] *= gain
    # co-activation rises in the painful muscle's antagonists (its synergists are left alone so
    # that they take over only what the painful muscle gives up)
    agonist_side = muscles[inj] in flexors
    gains = np.array(
        [
            plan.effect.cocontraction_gain if ((m in flexors) != agonist_side) else 1.0
            for m in muscles
        ]
    )
    level = subj.cocontraction_level(plan.load_kg)
    factors = np.array([subj.cocontraction_muscle[m] for m in muscles]) * gains
    acc = np.abs(plan.motion.qdd)
    acc = acc / acc.max() if acc.max() > 0 else acc
    reference = level * factors[None, :] * (1.0 + cc.acceleration_gain * acc[:, None])
    floor = np.clip(cc.hard_floor_fraction * level * factors, 0.01, 0.5)
    ceiling = np.ones(len(muscles))
    if cap is not None:
        ceiling[inj] = float(np.clip(cap, floor[inj] + 0.05, 1.0))
    return TrialJob(
        subject=subj.subject_id,
        trial_id=plan.trial_id,
        condition=plan.condition,
        kind="movement",
        load_kg=plan.load_kg,
        spec=arm_spec(settings, subj, plan.load_kg),
        motion=plan.motion,
        phases=plan.phases,
        muscles=muscles,
        solver=settings.solver,
        checks=settings.checks,
        whole_trial=whole_trial,
        weights=weights,
        reference=reference,
        floor=floor,
        ceiling=ceiling,
        meta={
            "weights": dict(zip(muscles, map(float, weights), strict=True)),
            "cocontraction_level": float(level),
            "cocontraction_gain": float(plan.effect.cocontraction_gain),
            "excitation_floor": dict(zip(muscles, map(float, floor), strict=True)),
            "injected_weight_gain": float(gain),
            "injected_activation_cap": float(ceiling[inj]),
        },
    )


def elbow_flexors(settings: SynthSettings, subj: SubjectTruth) -> list[str]:
    """Muscles with a positive elbow moment arm at the MVIC angle (OpenSim)."""
    model = build_arm_model(arm_spec(settings, subj, 0.0))
    state = model.initSystem()
    coord = model.getCoordinateSet().get(settings.model_coordinate)
    coord.setValue(state, math.radians(settings.mvic.angle_deg))
    model.realizePosition(state)
    muscles = model.getMuscles()
    return [m for m in settings.muscles if muscles.get(m).computeMomentArm(state, coord) > 0]


def mvic_job(settings: SynthSettings, plan: TrialPlan, flexors: Sequence[str]) -> TrialJob:
    """A forward simulation with the elbow locked at the MVIC angle, the direction's agonists
    driven at the subject's voluntary activation and the others at its antagonist level."""
    subj, muscles = plan.subject, settings.muscles
    agonists = flexors if plan.direction == "flexion" else [m for m in muscles if m not in flexors]
    exc = mvic_excitation(
        plan.motion.time,
        plan.phases,
        muscles,
        agonists,
        peak=subj.voluntary_activation,
        antagonist=subj.mvic_antagonist,
    )
    return TrialJob(
        subject=subj.subject_id,
        trial_id=plan.trial_id,
        condition="mvic",
        kind="mvic",
        load_kg=0.0,
        spec=arm_spec(settings, subj, 0.0),
        motion=plan.motion,
        phases=plan.phases,
        muscles=muscles,
        solver=settings.solver,
        checks=None,
        excitation=exc,
        angle=math.radians(settings.mvic.angle_deg),
        meta={"agonists": list(agonists), "voluntary_activation": subj.voluntary_activation},
    )
