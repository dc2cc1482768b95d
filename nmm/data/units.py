"""Units the data model accepts, their canonical spelling and conversions to SI."""

from __future__ import annotations

import math

from nmm.data.errors import DataValidationError

# canonical unit -> accepted spellings
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "s": ("s", "sec"),
    "V": ("V", "volt"),
    "mV": ("mV",),
    "uV": ("uV", "µV", "μV"),
    "1": ("1", "", "-", "a.u.", "normalised", "normalized"),
    "rad": ("rad",),
    "rad/s": ("rad/s",),
    "rad/s^2": ("rad/s^2", "rad/s²", "rad/s2"),
    "deg": ("deg", "°", "degrees"),
    "deg/s": ("deg/s",),
    "deg/s^2": ("deg/s^2", "deg/s²"),
    "N·m": ("N·m", "N*m", "Nm", "N.m", "N m"),
    "N": ("N",),
    "kg": ("kg",),
    "m": ("m",),
    "mm": ("mm",),
    "m/s": ("m/s",),
    "m/s^2": ("m/s^2", "m/s²"),
}
_CANONICAL = {s: c for c, spellings in _SPELLINGS.items() for s in spellings}
KNOWN_UNITS = frozenset(_SPELLINGS)

# unit -> (SI unit, factor): value_SI = factor * value
_TO_SI: dict[str, tuple[str, float]] = {
    "mV": ("V", 1e-3),
    "uV": ("V", 1e-6),
    "deg": ("rad", math.pi / 180.0),
    "deg/s": ("rad/s", math.pi / 180.0),
    "deg/s^2": ("rad/s^2", math.pi / 180.0),
    "mm": ("m", 1e-3),
}


def canonical_unit(unit: str, *, source: str | None = None, channel: str | None = None) -> str:
    """Canonical spelling of `unit`; DataValidationError for a unit the data model does not know."""
    try:
        return _CANONICAL[unit.strip()]
    except KeyError:
        raise DataValidationError(
            f"unknown unit '{unit}' (known: {', '.join(sorted(KNOWN_UNITS))})",
            source=source,
            channel=channel,
        ) from None


def si_factor(unit: str) -> tuple[str, float]:
    """(SI unit, factor) such that value_in_SI = factor * value_in_`unit`."""
    unit = canonical_unit(unit)
    return _TO_SI.get(unit, (unit, 1.0))
