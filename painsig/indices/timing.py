"""Onset timing between muscles: the lag of one muscle's burst onset on another's, per
contraction, from the bursts of :mod:`painsig.bursts`.

For each onset t_A of the reference muscle, the lag is t_B − t_A, with t_B the onset of the
other muscle nearest t_A within ``max_lag_s``; NaN where the other muscle has none (it did not
take part in that contraction). A positive lag: B switched on after A.
"""

from __future__ import annotations

import math

import numpy as np

from painsig.bursts import Bursts
from painsig.registry import FeatureError

__all__ = ["onset_lags"]


def onset_lags(reference: Bursts, other: Bursts, max_lag_s: float) -> np.ndarray:
    """Lags (K,) s of ``other``'s onsets on each of the K onsets of ``reference`` (both on one
    clock), NaN where ``other`` has no onset within ``max_lag_s`` s."""
    if not (math.isfinite(max_lag_s) and max_lag_s > 0):
        raise FeatureError(f"max_lag_s must be a positive number of s, got {max_lag_s!r}")
    lags = np.full(len(reference), np.nan)
    if len(other) == 0:
        return lags
    for k, t_a in enumerate(reference.onset_s):
        nearest = other.onset_s[np.argmin(np.abs(other.onset_s - t_a))]
        if abs(nearest - t_a) <= max_lag_s:
            lags[k] = nearest - t_a
    return lags
