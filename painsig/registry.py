"""The feature registry: a painsig feature is one function plus one :class:`FeatureSpec`.

A spec carries everything the rest of the package needs to know about a feature: its column
name, its unit, the parameters it reads (with defaults and checks), and its validity rules (the
fewest samples an epoch must hold, whether it needs a reference amplitude such as the MVIC, the
lowest sampling rate it is defined at). :func:`painsig.features.extract_features` and
:func:`painsig.table.feature_table` compute whatever :data:`painsig.features.FEATURES` holds;
the config (``painsig.features.names``) selects features by name and sets their parameters by
their keys (``painsig.features.apen_m``), and the SHAP tables name columns
``<channel>_<feature>`` from the same names. Adding a feature therefore touches one module::

    @FEATURES.feature("iemg", unit="units of x · s", min_samples=1)
    def integrated_emg(epoch: FeatureInput) -> float:
        return float(np.sum(np.abs(epoch.x)) / epoch.fs)

Parameters are flat keys shared by name: the entropies both read ``apen_m`` and
``apen_r_factor``, so a :class:`Param` registered twice must be the same object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "FeatureError",
    "FeatureInput",
    "FeatureRegistry",
    "FeatureSpec",
    "Param",
    "UnknownFeatureError",
    "as_epoch",
]


class FeatureError(ValueError):
    """Invalid input for a feature: bad epoch (empty, too short, NaN/inf), fs, MVIC or option."""


class UnknownFeatureError(FeatureError):
    """Feature names (or parameter keys) that no registry entry defines.

    ``unknown``: the names asked for that do not exist; ``known``: the registered ones.
    """

    def __init__(self, what: str, unknown: Sequence[str], known: Sequence[str]) -> None:
        self.unknown = tuple(unknown)
        self.known = tuple(known)
        super().__init__(f"unknown {what} {list(self.unknown)}; valid names: {self.known}")


def as_epoch(x: npt.ArrayLike, min_len: int = 1, why: str = "") -> np.ndarray:
    """``x`` as a finite float64 array of shape (N,) with N >= ``min_len``, else FeatureError.

    ``why`` names the rule that sets ``min_len`` in the message (e.g. "for 'apen'").
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise FeatureError(f"epoch must be 1-D, got shape {a.shape}")
    if a.size == 0:
        raise FeatureError("epoch is empty")
    if a.size < min_len:
        reason = f" ({why})" if why else ""
        raise FeatureError(f"epoch too short: {a.size} samples, need at least {min_len}{reason}")
    if not np.isfinite(a).all():
        raise FeatureError("epoch contains NaN or infinite values")
    return a


@dataclass(frozen=True)
class Param:
    """A feature parameter: its config key, default, meaning/unit, and its check.

    ``check(value)`` returns the value to use or raises :class:`FeatureError`.
    """

    name: str
    default: Any
    doc: str
    check: Callable[[Any], Any] = lambda v: v


@dataclass(frozen=True)
class FeatureInput:
    """What a feature function reads: one epoch of one channel and its context.

    x: (N,) float64, finite, N >= the feature's ``min_samples``, in recording units.
    fs: sampling rate, Hz. reference: reference amplitude (MVIC) in units of x, NaN when none.
    params: every parameter of the computed features, checked, by key.
    """

    x: np.ndarray
    fs: float = math.nan
    reference: float = math.nan
    params: Mapping[str, Any] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per epoch for results several features share (one Welch PSD
        gives MNF and MDF, one set of template matches gives ApEn and SampEn)."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]


@dataclass(frozen=True)
class FeatureSpec:
    """One registered feature.

    compute: ``f(FeatureInput) -> float`` (an int for counts).
    unit: unit of the value (for tables and docs).
    params: the parameters ``compute`` reads from ``FeatureInput.params``.
    min_samples: fewest samples of a valid epoch, an int or ``f(params) -> int``.
    needs_reference: needs a reference amplitude (the MVIC of the channel).
    min_rate_hz: lowest sampling rate, Hz, at which the feature is defined (0: any).
    """

    name: str
    compute: Callable[[FeatureInput], float]
    unit: str
    params: tuple[Param, ...] = ()
    min_samples: int | Callable[[Mapping[str, Any]], int] = 1
    needs_reference: bool = False
    min_rate_hz: float = 0.0

    def samples_needed(self, params: Mapping[str, Any]) -> int:
        """Fewest samples of a valid epoch under ``params``."""
        return self.min_samples(params) if callable(self.min_samples) else int(self.min_samples)


class FeatureRegistry:
    """Named :class:`FeatureSpec` entries in registration order (the default column order)."""

    def __init__(self) -> None:
        self._specs: dict[str, FeatureSpec] = {}

    def register(self, spec: FeatureSpec) -> FeatureSpec:
        """Add ``spec``; a duplicate name or a clashing parameter key is an error."""
        if spec.name in self._specs:
            raise ValueError(f"feature {spec.name!r} is already registered")
        known = self.params()
        for p in spec.params:
            if p.name in known and known[p.name] is not p:
                raise ValueError(
                    f"feature {spec.name!r}: parameter {p.name!r} is already defined by another "
                    "feature; share its Param object"
                )
        self._specs[spec.name] = spec
        return spec

    def feature(
        self, name: str, **rules: Any
    ) -> Callable[[Callable[[FeatureInput], float]], Callable[[FeatureInput], float]]:
        """Decorator: register the function as the feature ``name`` (``rules``: the other
        :class:`FeatureSpec` fields)."""

        def add(compute: Callable[[FeatureInput], float]) -> Callable[[FeatureInput], float]:
            self.register(FeatureSpec(name, compute, **rules))
            return compute

        return add

    def unregister(self, name: str) -> FeatureSpec:
        """Remove and return the feature ``name``."""
        return self._specs.pop(name)

    @contextmanager
    def registered(self, spec: FeatureSpec) -> Iterator[FeatureSpec]:
        """``spec`` registered for the duration of a ``with`` block (tests, experiments)."""
        self.register(spec)
        try:
            yield spec
        finally:
            self.unregister(spec.name)

    def names(self) -> tuple[str, ...]:
        """Every registered feature name, in registration order."""
        return tuple(self._specs)

    def params(self) -> dict[str, Param]:
        """Every parameter of the registered features, by key."""
        return {p.name: p for spec in self._specs.values() for p in spec.params}

    def spec(self, name: str) -> FeatureSpec:
        """The entry of ``name``; :class:`UnknownFeatureError` naming the known ones."""
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownFeatureError("feature names", [name], self.names()) from None

    def select(self, names: Sequence[str] | None, has_reference: bool) -> tuple[FeatureSpec, ...]:
        """The entries of ``names`` in that order; ``None``: all, less those that need a
        reference when there is none. Unknown, duplicate or no names, or a feature that needs
        a missing reference, raise :class:`FeatureError`."""
        if names is None:
            return tuple(s for s in self._specs.values() if has_reference or not s.needs_reference)
        resolved = tuple(names)
        unknown = sorted(set(resolved) - set(self._specs))
        if unknown:
            raise UnknownFeatureError("feature names", unknown, self.names())
        if len(set(resolved)) != len(resolved):
            raise FeatureError(f"duplicate feature names in {list(resolved)}")
        if not resolved:
            raise FeatureError("names must not be empty")
        specs = tuple(self._specs[n] for n in resolved)
        for s in specs:
            if s.needs_reference and not has_reference:
                raise FeatureError(f"feature {s.name!r} requires mvic (its reference amplitude)")
        return specs

    def available(self, names: Sequence[str] | None, has_reference: bool) -> tuple[str, ...]:
        """``names`` (None: all) less the features that need a reference when there is none."""
        wanted = self.names() if names is None else tuple(names)
        return tuple(
            n
            for n in wanted
            if has_reference or n not in self._specs or not self._specs[n].needs_reference
        )

    def checked_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Every registered parameter: ``given`` values checked, defaults for the rest.

        Keys that no feature reads raise :class:`UnknownFeatureError`.
        """
        known = self.params()
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UnknownFeatureError("feature parameters", unknown, tuple(known))
        return {k: p.check(given[k]) if k in given else p.default for k, p in known.items()}

    def check_rate(self, specs: Sequence[FeatureSpec], fs: float) -> None:
        """FeatureError if ``fs`` (Hz) is below a feature's ``min_rate_hz``."""
        for s in specs:
            if fs < s.min_rate_hz:
                raise FeatureError(
                    f"feature {s.name!r} needs a sampling rate of at least {s.min_rate_hz:g} Hz, "
                    f"got {fs:g} Hz"
                )

    @staticmethod
    def samples_needed(specs: Sequence[FeatureSpec], params: Mapping[str, Any]) -> tuple[int, str]:
        """Fewest samples an epoch needs for all ``specs``, and which feature sets it."""
        need, why = 1, ""
        for s in specs:
            n = s.samples_needed(params)
            if n > need:
                need, why = n, f"for {s.name!r}"
        return need, why
