"""Personalised musculoskeletal parameters: bounded, per subject, differentiable.

Each subject has ``n_params`` raw, unbounded numbers (an ``nn.Parameter`` of shape
``(n_subjects, n_params)``), mapped to a bounded value by a scaled logistic sigmoid::

    value = lower + (upper - lower) * sigmoid(raw)

(the usual bounded reparameterisation; a raw value of 0 is mid-range and every parameter has
the same O(1) raw scale whatever its units). A *relative* parameter is a factor multiplying the
``.osim`` value (e.g. ``max_isometric_force`` 0.5-2.5 × F0); an *absolute* one is the value itself
(e.g. ``tau_act_s`` 5-50 ms). Which parameters are personalised, per muscle or global, relative
or absolute, their bounds and starting values come from ``conf/physics/arm26.yaml``
(``personalisation`` and ``personalised``); the default is 32 per subject: five per muscle
(F0, l_opt, l_Ts factors; EMG gain; activation shape factor A) × 6 muscles + the activation time
constant and the electromechanical delay (τ_deact = ratio × τ_act).

Known parameters:

- any numeric field of :class:`~nmm.physics.muscle.MuscleParameters` (OpenSim property names);
- ``emg_gain`` (excitation = gain × EMG envelope), ``shape_factor`` (A of
  :func:`~nmm.physics.activation.activation_nonlinearity`), ``tau_act_s``, ``tau_deact_s``,
  ``electromechanical_delay_s`` (Lloyd & Besier 2003; :mod:`nmm.physics.activation`).

:func:`export_personalised_osim` writes one subject's muscle properties into a copy of an
``.osim`` file (XML edit, atomic write; OpenSim is not imported here).
"""

from __future__ import annotations

import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from nmm.atomic import atomic_path
from nmm.physics.activation import (
    DEFAULT_ACTIVATION_TIME_CONSTANT,
    DEFAULT_DEACTIVATION_TIME_CONSTANT,
    excitation_to_activation,
)
from nmm.physics.muscle import MuscleParameters
from nmm.physics.prior_options import UNCALIBRATED_GAIN_PRIORS

__all__ = [
    "ACTIVATION_PARAMETERS",
    "MUSCLE_PROPERTY_PARAMETERS",
    "OSIM_ACTIVATION_PROPERTIES",
    "ActivationParameters",
    "ParameterBoundsError",
    "ParameterSpec",
    "PersonalisationError",
    "PersonalisedParameters",
    "SubjectParameters",
    "UnknownMuscleError",
    "export_personalised_osim",
    "parameter_specs",
]

log = logging.getLogger(__name__)

#: Personalisable fields of :class:`MuscleParameters` (OpenSim muscle property names).
MUSCLE_PROPERTY_PARAMETERS: tuple[str, ...] = tuple(
    f.name for f in fields(MuscleParameters) if f.name != "ignore_passive_fiber_force"
)
#: Activation parameters (names as in ``conf/physics/arm26.yaml``) and their neutral defaults
#: when not personalised (``None``: taken from the config's ``activation`` block, or skipped).
ACTIVATION_PARAMETERS: Mapping[str, float | None] = {
    "emg_gain": 1.0,
    "shape_factor": None,  # no nonlinearity
    "tau_act_s": None,  # config activation.tau_act_s
    "tau_deact_s": None,  # config activation.tau_deact_s, or ratio × tau_act
    "electromechanical_delay_s": 0.0,
}
#: OpenSim muscle properties written by :func:`export_personalised_osim` for activation
#: parameters (both ``Thelen2003Muscle`` and ``DeGrooteFregly2016Muscle`` have them).
OSIM_ACTIVATION_PROPERTIES: Mapping[str, str] = {
    "tau_act_s": "activation_time_constant",
    "tau_deact_s": "deactivation_time_constant",
}
# A bound value maps to raw = ±inf; values at a bound are moved this fraction of the range inside.
_BOUND_MARGIN = 1e-6


class PersonalisationError(ValueError):
    """Base of the errors of this module (a ValueError)."""


class ParameterBoundsError(PersonalisationError):
    """A personalised parameter (or its configured bounds) is out of range.

    Attributes: ``parameter``, ``muscle`` (None for a global one), ``value``, ``bounds``.
    """

    def __init__(
        self,
        parameter: str,
        value: float,
        bounds: tuple[float, float],
        muscle: str | None = None,
        where: str = "",
    ) -> None:
        self.parameter, self.muscle, self.value, self.bounds = parameter, muscle, value, bounds
        who = parameter if muscle is None else f"{parameter} of muscle {muscle!r}"
        prefix = f"{where}: " if where else ""
        super().__init__(
            f"{prefix}{who} = {value!r} is outside its bounds [{bounds[0]!r}, {bounds[1]!r}]"
        )


class UnknownMuscleError(PersonalisationError):
    """A muscle name is not known (to the config, or to an ``.osim`` file)."""

    def __init__(self, muscle: str, known: Sequence[str], where: str) -> None:
        self.muscle, self.known = muscle, tuple(known)
        super().__init__(
            f"{where}: unknown muscle {muscle!r}; known muscles: {', '.join(self.known)}"
        )


@dataclass(frozen=True)
class ParameterSpec:
    """One personalised parameter.

    Attributes:
        name: parameter name (see the module doc).
        per_muscle: one value per muscle (else one per subject).
        relative: a factor multiplying the ``.osim`` value (else the value itself).
        lower, upper: bounds of the factor or value (units of the name, e.g. s for ``*_s``).
        initial: starting value, strictly inside the bounds.
    """

    name: str
    per_muscle: bool
    relative: bool
    lower: float
    upper: float
    initial: float

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.lower, self.upper)

    def check(self, value: float, muscle: str | None = None, where: str = "") -> None:
        """Raise :class:`ParameterBoundsError` unless ``lower <= value <= upper``."""
        if not (math.isfinite(value) and self.lower <= value <= self.upper):
            raise ParameterBoundsError(self.name, value, self.bounds, muscle, where)


def _get(node: Mapping[str, Any], key: str, default: Any = None) -> Any:
    return node.get(key, default) if hasattr(node, "get") else default


def parameter_specs(physics: Mapping[str, Any]) -> tuple[ParameterSpec, ...]:
    """Specs from the ``physics`` config group as a plain mapping: bounds in
    ``personalisation``, layout in ``personalised``.

    Raises:
        PersonalisationError: a parameter named in the layout has no bounds, an unknown name,
            or a parameter is both per muscle and global.
        ParameterBoundsError: bounds with lower >= upper, or an initial value outside them.
    """
    bounds = _get(physics, "personalisation") or {}
    layout = _get(physics, "personalised") or {}
    per_muscle = list(_get(layout, "per_muscle") or [])
    global_ = list(_get(layout, "global") or [])
    relative = set(_get(layout, "relative") or [])
    initial = _get(layout, "initial") or {}
    known = set(MUSCLE_PROPERTY_PARAMETERS) | set(ACTIVATION_PARAMETERS)
    both = set(per_muscle) & set(global_)
    if both:
        raise PersonalisationError(
            f"physics config 'personalised': {sorted(both)} listed both per_muscle and global"
        )
    specs = []
    for name, is_muscle in [(n, True) for n in per_muscle] + [(n, False) for n in global_]:
        if name not in known:
            raise PersonalisationError(
                f"physics config 'personalised': unknown parameter {name!r}; known: "
                + ", ".join(sorted(known))
            )
        if name in relative and name not in MUSCLE_PROPERTY_PARAMETERS:
            raise PersonalisationError(
                f"physics config 'personalised': {name!r} cannot be relative (no .osim value)"
            )
        if name not in bounds:
            raise PersonalisationError(
                f"physics config: personalised parameter {name!r} has no bounds in "
                "'personalisation'"
            )
        lo, hi = (float(v) for v in bounds[name])
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ParameterBoundsError(name, lo, (lo, hi), where="physics config (lower >= upper)")
        start = float(initial.get(name, 1.0 if name in relative else 0.5 * (lo + hi)))
        spec = ParameterSpec(name, is_muscle, name in relative, lo, hi, start)
        spec.check(start, where="physics config 'personalised.initial'")
        specs.append(spec)
    return tuple(specs)


class ActivationParameters(NamedTuple):
    """Per-subject EMG-to-activation parameters, shaped to broadcast against ``(S, M)``.

    Attributes:
        emg_gain: ``(S, M)`` excitation = gain × EMG envelope (dimensionless).
        shape_factor: ``(S, M)`` A of the exponential nonlinearity, or None (no nonlinearity).
        tau_act: ``(S, M)`` or ``(S, 1)`` activation time constant (s).
        tau_deact: ``(S, M)`` or ``(S, 1)`` deactivation time constant (s).
        delay: ``(S, M)`` or ``(S, 1)`` electromechanical delay (s).
    """

    emg_gain: Tensor
    shape_factor: Tensor | None
    tau_act: Tensor
    tau_deact: Tensor
    delay: Tensor


@dataclass(frozen=True)
class SubjectParameters:
    """One subject's personalised values as plain numbers (for export and reports).

    Attributes:
        muscle_names: ``(M,)`` muscle order.
        values: ``{name: (M,) array}`` for per-muscle, ``{name: float}`` for global parameters:
            factors for relative parameters, values (their units) otherwise.
        specs: the parameter specs (bounds, relative or not).
        nominal: ``{property: (M,) array}`` the ``.osim`` values of the relative parameters.
    """

    muscle_names: tuple[str, ...]
    values: dict[str, np.ndarray | float]
    specs: tuple[ParameterSpec, ...]
    nominal: dict[str, np.ndarray] = field(default_factory=dict)

    def check(self, where: str = "") -> None:
        """Raise :class:`ParameterBoundsError` for any value outside its bounds."""
        for spec in self.specs:
            if spec.name not in self.values:
                raise PersonalisationError(f"{where}: no value for parameter {spec.name!r}")
            v = self.values[spec.name]
            if spec.per_muscle:
                for muscle, x in zip(self.muscle_names, np.atleast_1d(v), strict=True):
                    spec.check(float(x), muscle, where)
            else:
                spec.check(float(v), None, where)

    def osim_properties(self) -> dict[str, dict[str, float]]:
        """``{muscle: {OpenSim property: absolute value}}`` of the parameters OpenSim has."""
        out: dict[str, dict[str, float]] = {m: {} for m in self.muscle_names}
        for spec in self.specs:
            if spec.name in MUSCLE_PROPERTY_PARAMETERS:
                prop = spec.name
            elif spec.name in OSIM_ACTIVATION_PROPERTIES:
                prop = OSIM_ACTIVATION_PROPERTIES[spec.name]
            else:
                continue  # EMG gain, shape factor, delay: not OpenSim muscle properties
            v = np.broadcast_to(np.asarray(self.values[spec.name], dtype=float), (len(out),))
            if spec.relative:
                v = v * np.asarray(self.nominal[spec.name], dtype=float)
            for m, x in zip(self.muscle_names, v, strict=True):
                out[m][prop] = float(x)
        return out


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


class PersonalisedParameters(nn.Module):
    """Bounded per-subject parameters as an ``nn.Module`` (``raw``: ``(n_subjects, n_params)``).

    Columns are ordered: every per-muscle parameter for every muscle (parameter-major, muscles
    in ``muscle_names`` order), then the global ones; :attr:`columns` names them.

    Args:
        n_subjects: S.
        muscle_names: the M muscles, in the order of activations and geometry.
        specs: parameter specs (:func:`parameter_specs`).
        nominal: the ``.osim`` muscle parameters, ``(M,)`` in ``muscle_names`` order (e.g.
            :meth:`MuscleGeometry.to_muscle_parameters`); relative parameters multiply them.
            ``max_isometric_force``, ``optimal_fiber_length`` and ``tendon_slack_length`` may
            be ``(S, M)``: each subject row's own model.
        tau_act, tau_deact: activation/deactivation time constants (s) used when not
            personalised.
        strength_from_body_mass: ``(reference_kg, exponent)``: :meth:`expect_strength` centres
            a subject's ``max_isometric_force`` factors on ``(body mass / reference_kg) **
            exponent``; None: on the initial value whatever the body mass.
        deactivation_ratio: if given and ``tau_deact_s`` is not personalised,
            τ_deact = ratio × τ_act (overrides ``tau_deact``).
        uncalibrated_gain_prior: the prior of a measured muscle's ``emg_gain`` where its
            envelopes are not in fractions of an MVIC (:meth:`expect_uncalibrated_gains`):
            ``"uniform"`` over its bounds, or ``"centred"`` on the initial value as elsewhere.
    """

    def __init__(
        self,
        n_subjects: int,
        muscle_names: Sequence[str],
        specs: Sequence[ParameterSpec],
        nominal: MuscleParameters,
        tau_act: float = DEFAULT_ACTIVATION_TIME_CONSTANT,
        tau_deact: float = DEFAULT_DEACTIVATION_TIME_CONSTANT,
        deactivation_ratio: float | None = None,
        strength_from_body_mass: tuple[float, float] | None = None,
        uncalibrated_gain_prior: str = "centred",
    ) -> None:
        super().__init__()
        if uncalibrated_gain_prior not in UNCALIBRATED_GAIN_PRIORS:
            raise PersonalisationError(
                f"uncalibrated_gain_prior must be one of {UNCALIBRATED_GAIN_PRIORS}, "
                f"got {uncalibrated_gain_prior!r}"
            )
        self.uncalibrated_gain_prior = uncalibrated_gain_prior
        if n_subjects < 1:
            raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
        self.muscle_names = tuple(muscle_names)
        if len(set(self.muscle_names)) != len(self.muscle_names) or not self.muscle_names:
            raise ValueError(f"muscle_names must be distinct and non-empty: {muscle_names}")
        self.specs = tuple(specs)
        names = [s.name for s in self.specs]
        if len(set(names)) != len(names):
            raise PersonalisationError(f"a parameter is listed twice: {names}")
        self.tau_act_default = float(tau_act)
        self.tau_deact_default = float(tau_deact)
        self.deactivation_ratio = None if deactivation_ratio is None else float(deactivation_ratio)
        if strength_from_body_mass is not None:
            ref, exponent = (float(x) for x in strength_from_body_mass)
            if not (ref > 0 and math.isfinite(exponent)):
                raise PersonalisationError(
                    f"strength_from_body_mass needs a reference mass > 0 kg and a finite "
                    f"exponent, got {strength_from_body_mass}"
                )
            strength_from_body_mass = (ref, exponent)
        self.strength_from_body_mass = strength_from_body_mass
        n_muscles = len(self.muscle_names)

        self.columns: tuple[tuple[str, str | None], ...] = tuple(
            [(s.name, m) for s in self.specs if s.per_muscle for m in self.muscle_names]
            + [(s.name, None) for s in self.specs if not s.per_muscle]
        )
        self._spec = {s.name: s for s in self.specs}
        lower = [self._spec[n].lower for n, _ in self.columns]
        upper = [self._spec[n].upper for n, _ in self.columns]
        self.register_buffer("lower", torch.tensor(lower, dtype=torch.get_default_dtype()))
        self.register_buffer("upper", torch.tensor(upper, dtype=torch.get_default_dtype()))

        # Nominal (.osim) muscle parameters as (M,) buffers, so .to()/.double() move them.
        self._bool_fields = {
            f.name: getattr(nominal, f.name)
            for f in fields(MuscleParameters)
            if f.name not in MUSCLE_PROPERTY_PARAMETERS
        }
        # A float64 copy for export (buffers follow the module's dtype, e.g. float32).
        self._nominal64: dict[str, np.ndarray] = {}
        for name in MUSCLE_PROPERTY_PARAMETERS:
            value = _nominal_values(getattr(nominal, name), name, n_subjects, n_muscles)
            self._nominal64[name] = value.numpy()
            self.register_buffer(f"nominal_{name}", value)  # float64; cast to raw's dtype on use

        fraction = [
            (self._spec[n].initial - self._spec[n].lower)
            / (self._spec[n].upper - self._spec[n].lower)
            for n, _ in self.columns
        ]
        raw0 = torch.tensor(
            [_logit(min(max(p, _BOUND_MARGIN), 1 - _BOUND_MARGIN)) for p in fraction]
        )
        self.raw = nn.Parameter(raw0.repeat(n_subjects, 1).to(torch.get_default_dtype()))
        # prior centres (S, n_params), in values: the initial values unless :meth:`recentre`d
        self.register_buffer("centre", self.bounded().detach().clone())
        # prior widths (S, n_params) in units of the parameter's σ: 1, or inf where the
        # parameter has no prior (uniform over its bounds; :meth:`expect_uncalibrated_gains`)
        self.register_buffer("prior_width", torch.ones_like(self.centre))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # checkpoints written before prior centres (widths) were per subject: the initial
        # values (every prior as configured)
        state_dict.setdefault(prefix + "centre", self.centre.clone())
        state_dict.setdefault(prefix + "prior_width", self.prior_width.clone())
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ----------------------------------------------------------------------------------
    # Construction from the config
    # ----------------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        physics: Mapping[str, Any],
        n_subjects: int,
        nominal: MuscleParameters,
        muscle_names: Sequence[str] | None = None,
    ) -> PersonalisedParameters:
        """From the ``physics`` config group (``conf/physics/arm26.yaml``) as a plain mapping.

        Args:
            physics: its ``personalisation``, ``personalised``, ``activation``, ``muscles`` and
                ``strength_from_body_mass``.
            n_subjects: S.
            nominal: ``(M,)`` ``.osim`` muscle parameters in ``muscle_names`` order.
            muscle_names: the muscles (e.g. ``geometry.muscle_names``); default
                ``physics["muscles"]``.

        Raises:
            UnknownMuscleError: a muscle is not in ``physics["muscles"]``.
            PersonalisationError, ParameterBoundsError: see :func:`parameter_specs`.
        """
        known = [str(m) for m in (_get(physics, "muscles") or [])]
        names = list(known if muscle_names is None else muscle_names)
        for m in names:
            if m not in known:
                raise UnknownMuscleError(m, known, "physics config 'muscles'")
        activation = _get(physics, "activation") or {}
        layout = _get(physics, "personalised") or {}
        ratio = _get(layout, "deactivation_ratio")
        scaling = _get(physics, "strength_from_body_mass")
        return cls(
            n_subjects,
            names,
            parameter_specs(physics),
            nominal,
            tau_act=float(_get(activation, "tau_act_s", DEFAULT_ACTIVATION_TIME_CONSTANT)),
            tau_deact=float(_get(activation, "tau_deact_s", DEFAULT_DEACTIVATION_TIME_CONSTANT)),
            deactivation_ratio=None if ratio is None else float(ratio),
            strength_from_body_mass=None
            if not scaling
            else (float(_get(scaling, "reference_kg")), float(_get(scaling, "exponent"))),
            uncalibrated_gain_prior=str(_get(physics, "uncalibrated_gain_prior", "centred")),
        )

    # ----------------------------------------------------------------------------------
    # Values
    # ----------------------------------------------------------------------------------

    @property
    def n_subjects(self) -> int:
        return self.raw.shape[0]

    @property
    def n_params(self) -> int:
        return self.raw.shape[1]

    @property
    def n_muscles(self) -> int:
        return len(self.muscle_names)

    def _n_selected(self, subjects: Tensor | Sequence[int] | int | None) -> int:
        return self.n_subjects if subjects is None else torch.as_tensor(subjects).numel()

    def bounded(self, subjects: Tensor | Sequence[int] | int | None = None) -> Tensor:
        """``(S, n_params)`` values in the bounds: ``lower + (upper - lower) sigmoid(raw)``."""
        raw = self.raw if subjects is None else self.raw[torch.as_tensor(subjects).reshape(-1)]
        return self.lower + (self.upper - self.lower) * torch.sigmoid(raw)

    def values(self, subjects: Tensor | Sequence[int] | int | None = None) -> dict[str, Tensor]:
        """``{name: (S, M)}`` for per-muscle, ``{name: (S,)}`` for global parameters.

        Factors for relative parameters, values otherwise.
        """
        x = self.bounded(subjects)
        out: dict[str, Tensor] = {}
        col = 0
        for spec in self.specs:
            if spec.per_muscle:
                out[spec.name] = x[:, col : col + self.n_muscles]
                col += self.n_muscles
        for spec in self.specs:
            if not spec.per_muscle:
                out[spec.name] = x[:, col]
                col += 1
        return out

    def _per_muscle(self, values: dict[str, Tensor], name: str) -> Tensor | None:
        """``(S, M)`` or ``(S, 1)`` value of a parameter, or None if not personalised."""
        if name not in values:
            return None
        v = values[name]
        return v if self._spec[name].per_muscle else v.unsqueeze(-1)

    def muscle_parameters(
        self, subjects: Tensor | Sequence[int] | int | None = None, time_axis: bool = False
    ) -> MuscleParameters:
        """Personalised :class:`MuscleParameters`, each field ``(S, M)`` (``(S, 1, M)`` with
        ``time_axis``, to broadcast against ``(S, T, M)`` time series).

        Relative parameters are ``nominal × factor``; others are the ``.osim`` values.
        """
        values = self.values(subjects)
        n_s = self._n_selected(subjects)
        kwargs: dict[str, Any] = dict(self._bool_fields)
        for name in MUSCLE_PROPERTY_PARAMETERS:
            nominal = self._nominal(name, subjects)
            v = self._per_muscle(values, name)
            if v is None:
                out = nominal.expand(n_s, self.n_muscles)
            elif self._spec[name].relative:
                out = nominal * v
            else:
                out = v.expand(n_s, self.n_muscles)
            kwargs[name] = out.unsqueeze(-2) if time_axis else out
        return MuscleParameters(**kwargs)

    def _nominal(self, name: str, subjects: Tensor | Sequence[int] | int | None) -> Tensor:
        """The ``.osim`` value of a muscle property, ``(M,)``, or ``(S, M)`` for the selected
        rows where each row has its own model; in the table's dtype."""
        nominal = getattr(self, f"nominal_{name}").to(self.raw.dtype)
        if nominal.dim() == 1 or subjects is None:
            return nominal
        return nominal[torch.as_tensor(subjects, device=nominal.device).reshape(-1)]

    def activation_parameters(
        self, subjects: Tensor | Sequence[int] | int | None = None
    ) -> ActivationParameters:
        """Personalised EMG-to-activation parameters (see :class:`ActivationParameters`)."""
        values = self.values(subjects)
        ref = self.raw
        n_s = self._n_selected(subjects)

        def get(name: str, default: float) -> Tensor:
            v = self._per_muscle(values, name)
            if v is None:
                return torch.full((n_s, 1), default, dtype=ref.dtype, device=ref.device)
            return v

        tau_act = get("tau_act_s", self.tau_act_default)
        if "tau_deact_s" in values or self.deactivation_ratio is None:
            tau_deact = get("tau_deact_s", self.tau_deact_default)
        else:
            tau_deact = self.deactivation_ratio * tau_act
        gain = get("emg_gain", float(ACTIVATION_PARAMETERS["emg_gain"]))
        return ActivationParameters(
            emg_gain=gain.expand(n_s, self.n_muscles),
            shape_factor=self._per_muscle(values, "shape_factor"),
            tau_act=tau_act,
            tau_deact=tau_deact,
            delay=get(
                "electromechanical_delay_s",
                float(ACTIVATION_PARAMETERS["electromechanical_delay_s"]),
            ),
        )

    def activation(
        self,
        emg: Tensor,
        dt: float,
        subjects: Tensor | Sequence[int] | int | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Muscle activation from EMG envelopes with each subject's parameters.

        ``a = g_A(ODE(gain × e(t - d)))``: :func:`~nmm.physics.activation.
        excitation_to_activation` (Lloyd & Besier 2003 order: delay, first-order dynamics of
        De Groote 2016, exponential shape).

        Args:
            emg: ``(S, T, M)`` EMG envelopes (normalised, e.g. to MVC), one row per subject in
                ``subjects`` (default all subjects).
            dt: sample interval (s).
            **kwargs: passed on (``smoothing``, ``method``, ``substeps``,
                ``initial_activation``).

        Returns:
            ``(S, T, M)`` activations.
        """
        p = self.activation_parameters(subjects)
        if emg.dim() != 3 or emg.shape[0] != p.emg_gain.shape[0] or emg.shape[-1] != self.n_muscles:
            raise ValueError(
                f"emg must have shape (S={p.emg_gain.shape[0]}, T, M={self.n_muscles}), "
                f"got {tuple(emg.shape)}"
            )
        return excitation_to_activation(
            emg * p.emg_gain.unsqueeze(-2),
            dt,
            delay=p.delay,
            tau_act=p.tau_act,
            tau_deact=p.tau_deact,
            shape_factor=p.shape_factor,
            **kwargs,
        )

    # ----------------------------------------------------------------------------------
    # Setting and reading single subjects
    # ----------------------------------------------------------------------------------

    def set_values(
        self,
        subject: int,
        values: Mapping[str, float | Sequence[float] | Mapping[str, float]],
    ) -> None:
        """Set one subject's parameters (factors or values, as :meth:`values` returns them).

        A per-muscle value is a float (all muscles), a sequence in ``muscle_names`` order, or
        ``{muscle: value}`` (other muscles unchanged). Values at a bound are moved 1e-6 of the
        range inside (the sigmoid never reaches a bound).

        Raises:
            ParameterBoundsError: a value is outside its bounds (nothing is changed).
            UnknownMuscleError, PersonalisationError: unknown muscle or parameter name.
        """
        updates: dict[int, float] = {}
        index = {c: i for i, c in enumerate(self.columns)}
        for name, v in values.items():
            spec = self._spec.get(name)
            if spec is None:
                raise PersonalisationError(
                    f"{name!r} is not personalised; personalised: {[s.name for s in self.specs]}"
                )
            if not spec.per_muscle:
                items: list[tuple[str | None, float]] = [(None, float(v))]  # type: ignore[arg-type]
            elif isinstance(v, Mapping):
                for m in v:
                    if m not in self.muscle_names:
                        raise UnknownMuscleError(m, self.muscle_names, f"parameter {name!r}")
                items = [(m, float(x)) for m, x in v.items()]
            elif isinstance(v, int | float):
                items = [(m, float(v)) for m in self.muscle_names]
            else:
                seq = [float(x) for x in v]  # type: ignore[union-attr]
                if len(seq) != self.n_muscles:
                    raise ValueError(
                        f"parameter {name!r}: {len(seq)} values for {self.n_muscles} muscles"
                    )
                items = list(zip(self.muscle_names, seq, strict=True))
            for m, x in items:
                spec.check(x, m, where=f"subject {subject}")
                frac = (x - spec.lower) / (spec.upper - spec.lower)
                updates[index[(name, m)]] = _logit(
                    min(max(frac, _BOUND_MARGIN), 1.0 - _BOUND_MARGIN)
                )
        with torch.no_grad():
            for col, raw in updates.items():
                self.raw[subject, col] = raw

    def recentre(
        self,
        subject: int,
        values: Mapping[str, float | Sequence[float] | Mapping[str, float]],
    ) -> None:
        """Move one subject's prior centre *and* start to ``values`` (as :meth:`set_values`),
        e.g. the strength expected from body mass. Raises as :meth:`set_values`."""
        self.set_values(subject, values)
        cols = [i for i, (name, _) in enumerate(self.columns) if name in values]
        with torch.no_grad():
            self.centre[subject, cols] = self.bounded(subject)[0, cols].to(self.centre)

    def expect_strength(self, body_mass_kg: Sequence[float | None]) -> list[float | None]:
        """Centre (and start) each subject's ``max_isometric_force`` factors on the strength
        expected from its body mass, ``(m / m_ref) ** k`` (``strength_from_body_mass``; F0 ∝
        m^(2/3) by geometric similarity, Jaric 2002, Sports Med 32:615), clipped to the bounds.

        Args:
            body_mass_kg: one per subject row (kg); None: unknown, that subject keeps the
                initial value.

        Returns:
            The factor set per subject (None where none was).
        """
        if len(body_mass_kg) != self.n_subjects:
            raise ValueError(f"{len(body_mass_kg)} body masses for {self.n_subjects} subject rows")
        spec = self._spec.get("max_isometric_force")
        if self.strength_from_body_mass is None or spec is None:
            return [None] * self.n_subjects
        ref, exponent = self.strength_from_body_mass
        out: list[float | None] = []
        for i, mass in enumerate(body_mass_kg):
            if mass is None or not (math.isfinite(float(mass)) and float(mass) > 0):
                out.append(None)
                continue
            factor = float(np.clip((float(mass) / ref) ** exponent, spec.lower, spec.upper))
            self.recentre(i, {"max_isometric_force": factor})
            out.append(factor)
        return out

    def expect_subjects(
        self,
        body_mass_kg: Sequence[float | None] | None,
        uncalibrated: Sequence[Sequence[bool] | None] | None,
    ) -> None:
        """What is known of each subject row before the fit: its body mass (kg, None: unknown;
        :meth:`expect_strength`) and its uncalibrated muscles (:meth:`expect_uncalibrated_gains`);
        None: nothing of that kind."""
        if body_mass_kg is not None:
            self.expect_strength(body_mass_kg)
        if uncalibrated is not None:
            released = self.expect_uncalibrated_gains(uncalibrated)
            if released:
                log.info(
                    "EMG gains without a prior (envelopes not in fractions of an MVIC): %s",
                    ", ".join(released),
                )

    def expect_uncalibrated_gains(self, uncalibrated: Sequence[Sequence[bool] | None]) -> list[str]:
        """Leave the ``emg_gain`` of each subject's uncalibrated muscles without a prior
        (uniform over its bounds) when :attr:`uncalibrated_gain_prior` is ``"uniform"``.

        An envelope divided by an MVIC reference is a fraction of the muscle's maximal
        excitation, so a gain near 1 is expected; one divided by the subject's peak over its
        trials (the peak dynamic method, Burden 2010, J Electromyogr Kinesiol 20:1023) is a
        fraction of the largest excitation those trials happened to demand, and the gain is
        that excitation: anything within the bounds. A prior centred on 1 would then pull every
        such gain up and the strengths down (only their product enters the moment).

        Args:
            uncalibrated: one per subject row, ``(M,)`` bool in :attr:`muscle_names` order
                (True: a measured muscle whose envelopes are not in fractions of an MVIC), or
                None (all calibrated).

        Returns:
            ``"subject/muscle"`` labels of the released gains, by row index (``"0/BIClong"``).
        """
        if len(uncalibrated) != self.n_subjects:
            raise ValueError(f"{len(uncalibrated)} calibration masks for {self.n_subjects} rows")
        released: list[str] = []
        if self.uncalibrated_gain_prior != "uniform":
            return released
        cols = {m: i for i, (name, m) in enumerate(self.columns) if name == "emg_gain"}
        for row, mask in enumerate(uncalibrated):
            if mask is None:
                continue
            if len(mask) != self.n_muscles:
                raise ValueError(f"a calibration mask of {len(mask)} for {self.n_muscles} muscles")
            for m, flag in zip(self.muscle_names, mask, strict=True):
                if flag and m in cols:
                    self.prior_width[row, cols[m]] = math.inf
                    released.append(f"{row}/{m}")
        return released

    def copy_subject(self, subject: int, into: PersonalisedParameters, row: int = 0) -> None:
        """Copy one subject's values and prior (centre and widths) into ``row`` of a table of
        the same layout."""
        if into.columns != self.columns:
            raise PersonalisationError("copy_subject: the tables' parameters differ")
        with torch.no_grad():
            into.raw[row] = self.raw[subject].to(into.raw)
            into.centre[row] = self.centre[subject].to(into.centre)
            into.prior_width[row] = self.prior_width[subject].to(into.prior_width)

    def subject(self, subject: int) -> SubjectParameters:
        """One subject's values as plain numbers (:class:`SubjectParameters`)."""
        with torch.no_grad():
            values = self.values([subject])
        out: dict[str, np.ndarray | float] = {}
        for spec in self.specs:
            v = values[spec.name][0].detach().cpu().double().numpy()
            out[spec.name] = v.copy() if spec.per_muscle else float(v)
        nominal = {
            s.name: np.array(_row(self._nominal64[s.name], subject))
            for s in self.specs
            if s.relative
        }
        return SubjectParameters(self.muscle_names, out, self.specs, nominal)


def _row(values: np.ndarray, subject: int) -> np.ndarray:
    """A subject's ``(M,)`` row of per-row values ``(S, M)``; shared ``(M,)`` values as they are."""
    return values[subject] if values.ndim == 2 else values


def _nominal_values(value: Any, name: str, n_subjects: int, n_muscles: int) -> Tensor:
    """A nominal muscle property as a float64 CPU tensor: ``(M,)`` shared by every row, or
    ``(S, M)`` one row per subject's own model."""
    value = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if value.dim() == 2:
        if tuple(value.shape) != (n_subjects, n_muscles):
            raise ValueError(
                f"nominal {name}: shape {tuple(value.shape)}, expected (M={n_muscles},) or "
                f"(S={n_subjects}, M={n_muscles})"
            )
        return value.clone()
    return torch.broadcast_to(value, (n_muscles,)).clone()


# --------------------------------------------------------------------------------------
# Export to .osim
# --------------------------------------------------------------------------------------


def _muscle_elements(root: ET.Element) -> dict[str, ET.Element]:
    """Muscles of a model: elements in a ForceSet's objects that have max_isometric_force."""
    out = {}
    for force_set in root.iter("ForceSet"):
        objects = force_set.find("objects")
        if objects is None:
            continue
        for el in objects:
            if el.find("max_isometric_force") is not None and el.get("name"):
                out[el.get("name")] = el
    return out


def export_personalised_osim(
    src_osim: str | os.PathLike[str],
    params_for_subject: SubjectParameters,
    out_path: str | os.PathLike[str],
    posture: Mapping[str, float] | None = None,
) -> Path:
    """Write a copy of ``src_osim`` with one subject's personalised muscle properties.

    For each muscle of ``params_for_subject``, sets the OpenSim properties it personalises
    (``max_isometric_force``, ``optimal_fiber_length``, ``tendon_slack_length``, ... as
    ``.osim value × factor`` for relative parameters; ``activation_time_constant`` and
    ``deactivation_time_constant`` from ``tau_act_s``/``tau_deact_s``). Parameters OpenSim does
    not have (EMG gain, shape factor, delay) are not written. Everything else is copied as is.
    The file is written atomically (temporary file, then rename).

    The relative factors apply to the values in ``src_osim``: export from the same model the
    nominal values came from.

    ``posture`` (the subject's held coordinates, as its elbow was sampled) becomes the default
    value of each coordinate, so the model opens in the posture it was fitted in. As where the
    elbow is sampled (:func:`nmm.opensim.geometry_sampling.held_values`), a coordinate the model
    lacks (a welded joint) is skipped and one it locks keeps its own value.

    Args:
        src_osim: source model.
        params_for_subject: :meth:`PersonalisedParameters.subject`.
        out_path: the new ``.osim``.
        posture: ``{coordinate: value}`` (rad or m); None: the model's own default pose.

    Returns:
        ``out_path`` as a Path.

    Raises:
        ParameterBoundsError: a value outside its bounds (nothing is written).
        UnknownMuscleError: a muscle is not in ``src_osim``.
        ValueError: ``src_osim`` is missing or not an OpenSim model file.
    """
    src = Path(src_osim).expanduser().resolve()
    params_for_subject.check(where=str(src))
    if not src.is_file():
        raise ValueError(f"{src}: no such file")
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))
    try:
        tree = ET.parse(src, parser=parser)
    except ET.ParseError as exc:
        raise ValueError(f"{src}: not an XML file ({exc})") from exc
    root = tree.getroot()
    if root.tag != "OpenSimDocument" or root.find("Model") is None:
        raise ValueError(f"{src}: not an OpenSim model (no <OpenSimDocument><Model>)")
    muscles = _muscle_elements(root)
    properties = params_for_subject.osim_properties()
    for name in properties:
        if name not in muscles:
            raise UnknownMuscleError(name, list(muscles), str(src))
    for name, props in properties.items():
        element = muscles[name]
        for prop, value in props.items():
            child = element.find(prop)
            if child is None:
                log.warning(
                    "%s: muscle %s (%s) has no property %s; not written",
                    src,
                    name,
                    element.tag,
                    prop,
                )
                continue
            child.text = repr(float(value))
    _set_default_pose(root, posture or {}, src)
    with atomic_path(out_path) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return Path(out_path)


def _set_default_pose(root: ET.Element, posture: Mapping[str, float], src: Path) -> None:
    """Set ``<default_value>`` of each coordinate of ``posture`` (rad or m) in a parsed
    ``.osim`` (``root``); coordinates absent from it or locked in it are left alone."""
    coordinates = {c.get("name"): c for c in root.iter("Coordinate")}
    for name, value in posture.items():
        element = coordinates.get(name)
        if element is None:
            log.info("%s: no coordinate %s (welded); its held value is not written", src, name)
            continue
        if (element.findtext("locked") or "").strip().lower() == "true":
            continue
        default = element.find("default_value")
        if default is None:
            default = ET.SubElement(element, "default_value")
        default.text = repr(float(value))
