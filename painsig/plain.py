"""Plain-Python values for reports: numpy scalars and arrays to Python, NaN/inf to None, keys to
str, so a result can be written as strict JSON by the app that writes the run folder."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["finite_or_none", "to_plain"]


def finite_or_none(v: float) -> float | None:
    """``v`` as a float, None when it is NaN or infinite."""
    return float(v) if math.isfinite(v) else None


def to_plain(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays to Python, NaN/inf to None, keys to str."""
    if isinstance(obj, Mapping):
        return {str(to_plain(k)): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return finite_or_none(obj)
    return obj
