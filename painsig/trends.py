"""Trends of a session index across a patient's sessions (issue 21, item 3).

Each index of :mod:`painsig.session` is one estimate per session with a standard error and the
contraction-level values behind it. Across the sessions of one subject:

- **slope**: Theil–Sen (the median of the pairwise slopes; Sen 1968, J. Am. Stat. Assoc.
  63:1379-1389) of the session estimates on the session number, with its interval from
  :func:`scipy.stats.theilslopes` (Kendall's-tau based, Sen 1968): robust to one aberrant session
  and needing no distribution of the estimates;
- **change from the first session**: latest − first estimate, tested by Welch's z on the two
  estimates and their standard errors, z = (v_last − v_first) / sqrt(se_first² + se_last²),
  two-sided p = 2 Φ(−|z|) (for a mean over contractions this is Welch's t with large
  samples; for a slope across contractions, the difference of two OLS slopes);
- **baseline band**: mean ± ``n_sd`` · SD (ddof 1) of the estimates of the first ``k`` sessions,
  the patient's own baseline; the latest session is flagged when its estimate lies outside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["BaselineBand", "Change", "IndexTrend", "TrendError", "index_trend", "session_numbers"]


class TrendError(ValueError):
    """Sessions that cannot give a trend (fewer than 2, a baseline of fewer than 2)."""


@dataclass(frozen=True)
class BaselineBand:
    """The band [low, high] (the index's units) from the first ``k`` sessions' estimates
    (mean ± n_sd · SD); ``outside``: the latest estimate lies outside it (None when the
    latest session is itself one of the k baseline sessions)."""

    low: float
    high: float
    k: int
    n_sd: float
    outside: bool | None


@dataclass(frozen=True)
class Change:
    """Latest − first session estimate (the index's units), Welch's z and its two-sided p."""

    difference: float
    z: float
    p_value: float


@dataclass(frozen=True)
class IndexTrend:
    """The trend of one index over n sessions: Theil–Sen ``slope`` (units per session) with
    its ``ci`` interval [low, high], the change from the first session, the baseline band."""

    slope: float
    low: float
    high: float
    ci: float
    n_sessions: int
    change: Change
    band: BaselineBand


def _welch_change(first: float, first_se: float, last: float, last_se: float) -> Change:
    """Welch's z on two independent estimates with their standard errors."""
    difference = last - first
    scale = math.hypot(first_se, last_se)
    if not (math.isfinite(scale) and scale > 0):
        return Change(difference, math.nan, math.nan)
    z = difference / scale
    return Change(difference, z, float(2 * stats.norm.sf(abs(z))))


def _band(estimates: np.ndarray, k: int, n_sd: float) -> BaselineBand:
    """Mean ± n_sd · SD of the first k estimates, and whether the latest lies outside."""
    base = estimates[:k]
    centre, sd = float(np.mean(base)), float(np.std(base, ddof=1))
    low, high = centre - n_sd * sd, centre + n_sd * sd
    latest = float(estimates[-1])
    outside = None if estimates.size <= k else bool(latest < low or latest > high)
    return BaselineBand(low, high, k, n_sd, outside)


def index_trend(
    session_numbers: npt.ArrayLike,
    estimates: npt.ArrayLike,
    stderrs: npt.ArrayLike,
    k: int = 2,
    n_sd: float = 2.0,
    ci: float = 0.95,
) -> IndexTrend:
    """The trend of one index of one subject.

    session_numbers (n,): the sessions' order (1, 2, ...; any increasing numbers, e.g. days);
    estimates (n,): the index per session; stderrs (n,): their standard errors. Sessions whose
    estimate is NaN are dropped. Raises TrendError for fewer than 2 sessions, ``k`` < 2 (an SD
    needs two baseline sessions) or ``k`` above the number of sessions.
    """
    x = np.asarray(session_numbers, dtype=float)
    y = np.asarray(estimates, dtype=float)
    se = np.asarray(stderrs, dtype=float)
    if not (x.shape == y.shape == se.shape and x.ndim == 1):
        raise TrendError(
            f"sessions, estimates and stderrs differ: {x.shape}, {y.shape}, {se.shape}"
        )
    keep = np.isfinite(y)
    x, y, se = x[keep], y[keep], se[keep]
    if y.size < 2:
        raise TrendError(f"a trend needs 2 or more sessions with a value, got {y.size}")
    if np.any(np.diff(x) <= 0):
        raise TrendError(f"session numbers must increase, got {x.tolist()}")
    if not 2 <= k <= y.size:
        raise TrendError(f"baseline sessions k = {k}: need 2 <= k <= {y.size} (the sessions)")
    fit = stats.theilslopes(y, x, alpha=ci)
    return IndexTrend(
        float(fit.slope),
        float(fit.low_slope),
        float(fit.high_slope),
        ci,
        int(y.size),
        _welch_change(float(y[0]), float(se[0]), float(y[-1]), float(se[-1])),
        _band(y, k, n_sd),
    )


def session_numbers(sessions: Sequence[str]) -> np.ndarray:
    """The sessions' labels as numbers (``"1"``, ``"2"``, ``"10"`` -> 1, 2, 10) when all are
    integers, else their order 1..n as given."""
    try:
        return np.array([int(s) for s in sessions], dtype=float)
    except ValueError:
        return np.arange(1, len(sessions) + 1, dtype=float)
