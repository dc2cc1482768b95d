"""Validation of the synthetic-cohort config (``conf/synth/``) and seeded random streams.

:func:`validate_config` checks a plain ``synth`` mapping (the app converts its config node with
``OmegaConf.to_container(..., resolve=True)``) and returns a copy, raising
:class:`SynthConfigError` with the offending key and what was expected: a negative load, an
unknown muscle, zero trials or subjects, an unknown condition. Whether the muscles exist in the
``.osim`` is checked when the model is read (:func:`check_model_muscles`).

:func:`rng` gives an independent, reproducible NumPy generator for any tuple of keys (subject,
trial, stream), so results do not depend on the order in which parallel jobs finish.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "CONDITIONS",
    "SynthConfigError",
    "check_model_muscles",
    "check_shoulder_range",
    "rng",
    "shoulder_elevation_range",
    "validate_config",
]

#: Conditions the generator knows (movement epochs); MVIC trials are added per subject.
CONDITIONS = ("baseline", "pain", "placebo")


class SynthConfigError(ValueError):
    """The synthetic-cohort config cannot be used; the message names the key."""


def _to_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, Mapping):
        return {k: _to_dict(v) if isinstance(v, Mapping) else v for k, v in cfg.items()}
    raise SynthConfigError(f"synth config must be a mapping, got {type(cfg).__name__}")


def _number(
    cfg: Mapping[str, Any],
    key: str,
    *,
    low: float | None = None,
    strict: bool = False,
    where: str = "synth",
) -> float:
    if key not in cfg:
        raise SynthConfigError(f"{where}.{key} is missing")
    value = cfg[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SynthConfigError(f"{where}.{key} must be a finite number, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise SynthConfigError(
            f"{where}.{key} must be {'>' if strict else '>='} {low}, got {value!r}"
        )
    return float(value)


def _range(cfg: Mapping[str, Any], key: str, where: str) -> None:
    spec = cfg.get(key)
    if not isinstance(spec, Mapping) or "min" not in spec or "max" not in spec:
        raise SynthConfigError(f"{where}.{key} must be a mapping with min and max")
    if not spec["min"] <= spec["max"]:
        raise SynthConfigError(f"{where}.{key}: min {spec['min']} > max {spec['max']}")


def shoulder_elevation_range(posture: Mapping[str, Any]) -> tuple[float, float]:
    """(low, high) shoulder elevation (°) of ``posture.shoulder_elevation_deg``: a number (every
    subject the same, low == high) or ``{min, max}`` (drawn per subject, uniform)."""
    spec = posture.get("shoulder_elevation_deg", 0.0)
    if isinstance(spec, Mapping):
        _range(posture, "shoulder_elevation_deg", "synth.posture")
        low = _number(spec, "min", where="synth.posture.shoulder_elevation_deg")
        return low, _number(spec, "max", where="synth.posture.shoulder_elevation_deg")
    value = _number(posture, "shoulder_elevation_deg", where="synth.posture")
    return value, value


def _posture(c: Mapping[str, Any]) -> None:
    """Check ``posture``: the shoulder elevation (number or range, °), the base tilt (°) and the
    optional ``tendon_slack_scale`` ({muscle: factor > 0} on the ``.osim``'s value)."""
    posture = c.get("posture")
    if not isinstance(posture, Mapping):
        raise SynthConfigError("synth.posture must be a mapping (shoulder_elevation_deg, ...)")
    shoulder_elevation_range(posture)
    _number(posture, "base_tilt_deg", where="synth.posture")
    scale = posture.get("tendon_slack_scale") or {}
    if not isinstance(scale, Mapping):
        raise SynthConfigError(
            f"synth.posture.tendon_slack_scale must map muscles to factors, got {scale!r}"
        )
    for muscle in scale:
        if muscle not in c["muscles"]:
            raise SynthConfigError(
                f"synth.posture.tendon_slack_scale: {muscle!r} not among synth.muscles "
                f"({', '.join(c['muscles'])})"
            )
        _number(scale, muscle, low=0, strict=True, where="synth.posture.tendon_slack_scale")


def _int_at_least_one(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int) and value >= 1


def _muscles(c: Mapping[str, Any]) -> None:
    """Distinct muscles, hidden ones among them, at least one measured."""
    muscles = list(c["muscles"])
    if not muscles or len(set(muscles)) != len(muscles):
        raise SynthConfigError(f"synth.muscles must be distinct muscle names, got {muscles}")
    hidden = list(c["hidden"])
    unknown = [m for m in hidden if m not in muscles]
    if unknown:
        raise SynthConfigError(
            f"synth.hidden: {unknown} not among synth.muscles ({', '.join(muscles)})"
        )
    if len(hidden) == len(muscles):
        raise SynthConfigError("synth.hidden hides every muscle: at least one must be measured")


def _design(c: Mapping[str, Any]) -> None:
    """Subjects and trials per cell (integers >= 1), loads (distinct, kg >= 0), conditions."""
    n = c.get("n_subjects")
    if not _int_at_least_one(n):
        raise SynthConfigError(f"synth.n_subjects must be an integer >= 1, got {n!r}")
    t = c.get("trials_per_cell")
    if not _int_at_least_one(t):
        raise SynthConfigError(
            f"synth.trials_per_cell (movement trials per condition and load) must be an integer "
            f">= 1, got {t!r}"
        )
    loads = list(c["loads_kg"])
    if not loads:
        raise SynthConfigError("synth.loads_kg is empty: give at least one load (kg), e.g. [0]")
    for load in loads:
        if isinstance(load, bool) or not isinstance(load, int | float) or not math.isfinite(load):
            raise SynthConfigError(f"synth.loads_kg: {load!r} is not a number of kg")
        if load < 0:
            raise SynthConfigError(f"synth.loads_kg: a load cannot be negative, got {load} kg")
    if len(set(loads)) != len(loads):
        raise SynthConfigError(f"synth.loads_kg has duplicates: {loads}")
    conds = list(c["conditions"])
    if "baseline" not in conds:
        raise SynthConfigError(f"synth.conditions must include 'baseline', got {conds}")
    bad = [x for x in conds if x not in CONDITIONS]
    if bad:
        raise SynthConfigError(f"synth.conditions: unknown {bad} (known: {', '.join(CONDITIONS)})")


def _task(task: Mapping[str, Any]) -> None:
    """Cycles per trial (integer >= 1), positive flexion durations (s), rate (Hz), times (s)."""
    cycles = task.get("cycles_per_trial")
    if not _int_at_least_one(cycles):
        raise SynthConfigError(
            f"synth.task.cycles_per_trial must be an integer >= 1, got {cycles!r}"
        )
    durations = list(task.get("flexion_duration_s") or [])
    if not durations or any(not (isinstance(d, int | float) and d > 0) for d in durations):
        raise SynthConfigError(
            f"synth.task.flexion_duration_s must list positive durations (s), got {durations}"
        )
    _number(task, "rate_hz", low=0, strict=True, where="synth.task")
    _number(task, "hold_s", low=0, where="synth.task")
    _number(task, "lead_in_s", low=0, where="synth.task")


def _emg(emg: Mapping[str, Any]) -> None:
    """A surface-EMG rate (>= 2000 Hz), a band below its Nyquist frequency, amplitude ranges."""
    rate = _number(emg, "rate_hz", low=0, strict=True, where="synth.emg")
    band = list(emg.get("band_hz") or [])
    if len(band) != 2 or not 0 < band[0] < band[1] < rate / 2:
        raise SynthConfigError(
            f"synth.emg.band_hz must be [low, high] with 0 < low < high < rate/2 = {rate / 2} Hz, "
            f"got {band}"
        )
    if rate < 2000:
        raise SynthConfigError(f"synth.emg.rate_hz must be >= 2000 Hz (surface EMG), got {rate}")
    for key in ("gain_mv", "noise_uv", "powerline_uv", "drift_uv"):
        _range(emg, key, "synth.emg")
    _number(emg, "powerline_hz", low=0, strict=True, where="synth.emg")


def _run(c: Mapping[str, Any]) -> None:
    """``mvic.include``, the solver's mesh and tolerance, the workers and the truth's rate (an
    integer divisor of the task's)."""
    include = (c.get("mvic") or {}).get("include", True)
    if not isinstance(include, bool):
        raise SynthConfigError(f"synth.mvic.include must be true or false, got {include!r}")
    solver = c["solver"]
    _number(solver, "mesh_interval_s", low=0, strict=True, where="synth.solver")
    _number(solver, "tolerance", low=0, strict=True, where="synth.solver")
    workers = c.get("workers", 1)
    if not _int_at_least_one(workers):
        raise SynthConfigError(f"synth.workers must be an integer >= 1, got {workers!r}")
    task = c["task"]
    truth_rate = (c.get("output") or {}).get("truth_rate_hz", task["rate_hz"])
    ratio = float(task["rate_hz"]) / float(truth_rate) if truth_rate else 0.0
    if truth_rate <= 0 or abs(ratio - round(ratio)) > 1e-9:
        raise SynthConfigError(
            f"synth.output.truth_rate_hz must divide synth.task.rate_hz = {task['rate_hz']} Hz, "
            f"got {truth_rate}"
        )


def _pain_model(c: Mapping[str, Any]) -> None:
    """A measured injected muscle, a placebo fraction in [0, 1], positive factors, target d."""
    muscles, hidden = list(c["muscles"]), list(c["hidden"])
    pm = c.get("pain_model") or {}
    injected = pm.get("injected_muscle")
    if injected not in muscles or injected in hidden:
        raise SynthConfigError(
            f"synth.pain_model.injected_muscle must be a measured muscle "
            f"({', '.join(m for m in muscles if m not in hidden)}), got {injected!r}"
        )
    frac = _number(pm, "placebo_fraction", low=0, where="synth.pain_model")
    if frac > 1:
        raise SynthConfigError(f"synth.pain_model.placebo_fraction must be in [0, 1], got {frac}")
    pain = pm.get("pain") or {}
    for key in ("cocontraction_gain", "amplitude_scale", "duration_scale", "variability_scale"):
        _number(pain, key, low=0, strict=True, where="synth.pain_model.pain")
    targets = pain.get("target_d") or {}
    for key in ("peak", "var", "mad"):
        _number(targets, key, where="synth.pain_model.pain.target_d")


def _sessions(c: Mapping[str, Any]) -> None:
    """The optional ``sessions`` node (conf/synth/longitudinal.yaml; nmm.synth.sessions): an
    integer ``n`` >= 1, an initial pain effect in [0, 1], a recovery constant > 0 (sessions),
    a co-contraction rise >= 0, a fatigue slope >= 0 and a floor of the fatigue scale in (0, 1]."""
    sessions = c.get("sessions")
    if sessions is None:
        return
    where = "synth.sessions"
    if not isinstance(sessions, Mapping) or not _int_at_least_one(sessions.get("n")):
        raise SynthConfigError(
            f"{where} must be a mapping with an integer n >= 1, got {sessions!r}"
        )
    if not 0 <= _number(sessions, "pain_initial", low=0, where=where) <= 1:
        raise SynthConfigError(f"{where}.pain_initial must be in [0, 1]")
    _number(sessions, "pain_recovery_sessions", low=0, strict=True, where=where)
    _number(sessions, "cocontraction_rise", low=0, where=where)
    _number(sessions, "fatigue_slope_per_excitation_s", low=0, where=where)
    if not _number(sessions, "fatigue_min_scale", low=0, strict=True, where=where) <= 1:
        raise SynthConfigError(f"{where}.fatigue_min_scale must be in (0, 1]")


def validate_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A plain, checked copy of the ``synth`` config mapping; SynthConfigError names what is
    wrong."""
    c = _to_dict(cfg)
    for key in ("osim", "muscles", "hidden", "loads_kg", "conditions", "task", "emg", "solver"):
        if key not in c:
            raise SynthConfigError(f"synth.{key} is missing")
    _muscles(c)
    _design(c)
    _task(c["task"])
    _emg(c["emg"])
    _posture(c)
    _run(c)
    _pain_model(c)
    _sessions(c)
    return c


def check_model_muscles(wanted: Sequence[str], have: Sequence[str], osim: str) -> None:
    """SynthConfigError unless every wanted muscle is in the model (names both lists)."""
    missing = [m for m in wanted if m not in have]
    if missing:
        raise SynthConfigError(
            f"synth.muscles: {missing} not in the model {osim} (its muscles: {', '.join(have)})"
        )


def check_shoulder_range(
    low_deg: float, high_deg: float, limits_rad: tuple[float, float], coordinate: str, osim: str
) -> None:
    """SynthConfigError unless [low_deg, high_deg] lies within the shoulder coordinate's range
    in the model (``limits_rad``, rad, as read from the ``.osim``)."""
    lo, hi = (math.degrees(v) for v in limits_rad)
    if low_deg < lo - 1e-9 or high_deg > hi + 1e-9:
        raise SynthConfigError(
            f"synth.posture.shoulder_elevation_deg: {low_deg:g}-{high_deg:g}° is outside the range "
            f"of {coordinate} in {osim} ({lo:g} to {hi:g}°)"
        )


def _key(k: int | str) -> int:
    return int(k) if isinstance(k, int) else zlib.crc32(str(k).encode("utf-8"))


def rng(seed: int, *keys: int | str) -> np.random.Generator:
    """An independent generator for ``(seed, *keys)``; strings are hashed with CRC-32."""
    return np.random.default_rng(
        np.random.SeedSequence(int(seed), spawn_key=tuple(map(_key, keys)))
    )
