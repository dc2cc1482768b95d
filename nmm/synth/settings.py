"""The synthetic-cohort generator's settings: frozen dataclasses, one per node of ``conf/synth/``.

The app converts its config to a plain mapping once (``OmegaConf.to_container(cfg.synth,
resolve=True)``) and :meth:`SynthSettings.from_mapping` checks it
(:func:`nmm.synth.config.validate_config`) and builds these; the generator's parts take the
settings they need and never read a config. Field names are the config's keys; units are in
the names (``_s``, ``_hz``, ``_kg``, ``_deg``, ``_mv``, ``_uv``) and in ``conf/synth/default.yaml``,
which gives each value's source.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nmm.synth.config import validate_config

__all__ = [
    "AnthropometrySettings",
    "ChecksSettings",
    "CocontractionSettings",
    "EmgSettings",
    "FactorSpread",
    "JitterSettings",
    "MuscleParameterSettings",
    "MvicSettings",
    "Normal",
    "OutputSettings",
    "PainModelSettings",
    "PainSettings",
    "PostureSettings",
    "Range",
    "RecruitmentSettings",
    "SessionSettings",
    "SolverSettings",
    "SynthSettings",
    "TaskSettings",
    "TruncatedNormal",
]


@dataclass(frozen=True)
class Range:
    """``{min, max}``: a uniform draw's bounds, or a fixed value when min == max."""

    min: float
    max: float


@dataclass(frozen=True)
class Normal:
    """``{mean, sd}`` of a normal draw."""

    mean: float
    sd: float


@dataclass(frozen=True)
class TruncatedNormal:
    """``{mean, sd, min, max}``: a normal draw truncated to [min, max]."""

    mean: float
    sd: float
    min: float
    max: float


@dataclass(frozen=True)
class FactorSpread:
    """``{sd, min, max}``: a factor drawn from Normal(1, sd) truncated to [min, max]."""

    sd: float
    min: float
    max: float


@dataclass(frozen=True)
class PostureSettings:
    """shoulder_elevation_deg: fixed (min == max) or drawn per subject (°); base_tilt_deg: the
    arm's tilt about the flexion axis (°); tendon_slack_scale: {muscle: factor} on the
    ``.osim``'s tendon slack length (the generic model's change)."""

    shoulder_elevation_deg: Range
    base_tilt_deg: float
    tendon_slack_scale: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class AnthropometrySettings:
    """Body mass (kg) and height (m) draws and the forearm-and-hand fractions of Winter (2009)."""

    body_mass_kg: TruncatedNormal
    height_m: TruncatedNormal
    forearm_hand_mass_fraction: float
    forearm_length_fraction: float
    hand_length_fraction: float
    com_fraction: float
    radius_of_gyration_fraction: float
    hand_com_fraction: float
    long_axis_inertia_ratio: float
    transverse_inertia_ratio: float


@dataclass(frozen=True)
class MuscleParameterSettings:
    """Per-subject factors on the ``.osim``'s muscle parameters, and the fixed muscle model."""

    strength_mass_exponent: float
    strength_subject_sd: float
    strength_muscle_sd: float
    optimal_fiber_length: FactorSpread
    tendon_slack_length: FactorSpread
    tendon_strain: float
    fiber_damping: float
    activation_time_constant_s: float
    deactivation_time_constant_s: float
    activation_smoothing: float


@dataclass(frozen=True)
class CocontractionSettings:
    """Co-contraction reference ``level · f_i · (1 + acceleration_gain · |θ̈|/max|θ̈|)``,
    ``level = base + load_slope_per_kg · load``; hard_floor_fraction of it bounds each
    excitation from below."""

    base: Range
    load_slope_per_kg: Range
    muscle_sd: float
    acceleration_gain: float
    hard_floor_fraction: float


@dataclass(frozen=True)
class RecruitmentSettings:
    """Effort weights (log-normal SD, load slope SD per kg) and co-contraction."""

    weight_sd: float
    weight_load_slope_sd: float
    cocontraction: CocontractionSettings


@dataclass(frozen=True)
class JitterSettings:
    """Cycle-to-cycle SD of the targets (°) and CVs of the durations and holds."""

    target_deg: float
    duration_cv: float
    hold_cv: float


@dataclass(frozen=True)
class TaskSettings:
    """The flexion-extension task: rates (Hz), times (s), subject target draws (°)."""

    rate_hz: float
    lead_in_s: float
    cycles_per_trial: int
    low_target_deg: Normal
    high_target_deg: Normal
    flexion_duration_s: tuple[float, ...]
    extension_duration_ratio: float
    hold_s: float
    jitter: JitterSettings


@dataclass(frozen=True)
class MvicSettings:
    """Isometric maximal efforts at angle_deg (°): ramp-hold-release times (s), voluntary
    activation and antagonist co-activation draws; include: whether the cohort has them."""

    angle_deg: float
    rest_s: float
    ramp_s: float
    hold_s: float
    voluntary_activation: Range
    antagonist: Range
    include: bool = True


@dataclass(frozen=True)
class EmgSettings:
    """Surface-EMG synthesis (:mod:`nmm.synth.emg`): rates and frequencies (Hz), gains (mV),
    noise, powerline and drift amplitudes and the ADC step (µV)."""

    rate_hz: float
    band_hz: tuple[float, float]
    spectrum_low_hz: float
    spectrum_high_hz: float
    gain_mv: Range
    noise_uv: Range
    powerline_hz: float
    powerline_uv: Range
    drift_uv: Range
    drift_max_hz: float
    resolution_uv: float


@dataclass(frozen=True)
class PainSettings:
    """The pain condition's changes: target Cohen's d per feature and factors (1: none)."""

    target_d: dict[str, float]
    cocontraction_gain: float
    amplitude_scale: float
    duration_scale: float
    variability_scale: float


@dataclass(frozen=True)
class PainModelSettings:
    """The motor-adaptation model of pain (:mod:`nmm.synth.conditions`)."""

    injected_muscle: str
    pain: PainSettings
    placebo_fraction: float
    redistribution: float = 1.0


@dataclass(frozen=True)
class SolverSettings:
    """MocoInverse: transcription scheme, mesh interval (s), IPOPT tolerances, iterations."""

    mesh_interval_s: float
    tolerance: float
    max_iterations: int
    constraint_tolerance: float = 1e-3
    transcription: str = "hermite-simpson"


@dataclass(frozen=True)
class ChecksSettings:
    """OpenSim forward checks: window horizon (s), windows per trial, whole-trial runs
    (``first``: each subject's first movement trial, ``all``, or anything else: none)."""

    forward_horizon_s: float
    forward_windows: int
    whole_trial_forward: str = "first"


@dataclass(frozen=True)
class OutputSettings:
    """Significant digits of the dataset and truth ``.sto`` values, the truth's rate (Hz) and
    whether figures are drawn. truth_significant_digits None: as significant_digits."""

    significant_digits: int
    truth_significant_digits: int | None = None
    truth_rate_hz: float = 100.0
    figures: bool = True

    @property
    def truth_digits(self) -> int:
        if self.truth_significant_digits is None:
            return self.significant_digits
        return self.truth_significant_digits


@dataclass(frozen=True)
class SessionSettings:
    """Several sessions per subject (:mod:`nmm.synth.sessions`, conf/synth/longitudinal.yaml).

    n: sessions per subject; pain_initial: e0, the pain effect in session 1 as a fraction of the
    calibrated ``pain`` condition (1: all of it); pain_recovery_sessions: τ of the exponential
    recovery e(s) = e0·exp(−(s − 1)/τ) (sessions); cocontraction_rise: the fraction by which the
    injected muscle's antagonists' drive rises at e = 1; fatigue_slope_per_excitation_s: the fall
    of the conduction-velocity scale k per unit of cumulative excitation (1 / (excitation·s));
    fatigue_min_scale: the floor of k."""

    n: int
    pain_initial: float
    pain_recovery_sessions: float
    cocontraction_rise: float
    fatigue_slope_per_excitation_s: float
    fatigue_min_scale: float


@dataclass(frozen=True)
class SynthSettings:
    """Everything the generator reads (``conf/synth/``); build with :meth:`from_mapping`."""

    name: str
    osim: str
    coordinate: str
    model_coordinate: str
    muscles: tuple[str, ...]
    hidden: tuple[str, ...]
    n_subjects: int
    loads_kg: tuple[float, ...]
    conditions: tuple[str, ...]
    trials_per_cell: int
    posture: PostureSettings
    anthropometry: AnthropometrySettings
    muscle_parameters: MuscleParameterSettings
    recruitment: RecruitmentSettings
    task: TaskSettings
    mvic: MvicSettings
    emg: EmgSettings
    pain_model: PainModelSettings
    solver: SolverSettings
    checks: ChecksSettings
    output: OutputSettings
    workers: int = 1
    sessions: SessionSettings | None = None

    @property
    def measured(self) -> tuple[str, ...]:
        """The muscles with surface EMG (``muscles`` less ``hidden``), in ``muscles``' order."""
        return tuple(m for m in self.muscles if m not in self.hidden)

    @classmethod
    def from_mapping(cls, synth: Mapping[str, Any]) -> SynthSettings:
        """Settings of a plain ``synth`` mapping, checked by :func:`validate_config`
        (SynthConfigError names a bad key). Keys the generator does not read are ignored."""
        return _build(cls, validate_config(synth))


def _convert(hint: Any, value: Any) -> Any:
    """``value`` as the annotated type ``hint`` (a settings dataclass, tuple, dict or scalar)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if hint is Range and not isinstance(value, Mapping):
            return Range(float(value), float(value))  # a fixed value
        return _build(hint, value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_convert(item, v) for v in value)
    if origin is dict:
        item = typing.get_args(hint)[1]
        return {str(k): _convert(item, v) for k, v in value.items()}
    return hint(value)


def _build(cls: type, values: Mapping[str, Any]) -> Any:
    """An instance of the settings dataclass ``cls`` from ``values`` (keys absent or null: the
    field's default)."""
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            f.name: _convert(hints[f.name], values[f.name])
            for f in dataclasses.fields(cls)
            if values.get(f.name) is not None
        }
    )
