"""The ordinary least-squares slope of an index across a session's contractions, with its
confidence interval (Student's t on n − 2 degrees of freedom)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from painsig.registry import FeatureError

__all__ = ["Slope", "ols_slope"]


@dataclass(frozen=True)
class Slope:
    """y = intercept + slope · x fitted by OLS.

    slope: units of y per unit of x (per contraction, or per s when x is time); low, high: its
    two-sided ``ci`` interval; stderr: its standard error; n: the finite (x, y) pairs used.
    """

    slope: float
    low: float
    high: float
    intercept: float
    stderr: float
    n: int
    ci: float


def ols_slope(y: npt.ArrayLike, x: npt.ArrayLike | None = None, ci: float = 0.95) -> Slope:
    """OLS slope of ``y`` (n,) on ``x`` (n,; None: the contraction index 0 .. n − 1).

    slope = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², SE = sqrt(RSS / (n − 2) / Σ(x − x̄)²), interval
    slope ± t_{(1 + ci)/2, n − 2} · SE. Pairs with a NaN are dropped (a contraction whose index
    could not be computed). Raises FeatureError for fewer than 3 finite pairs, x constant,
    shapes that differ, inf, or ci outside (0, 1).
    """
    yv = np.asarray(y, dtype=float)
    xv = np.arange(yv.size, dtype=float) if x is None else np.asarray(x, dtype=float)
    if yv.ndim != 1 or xv.shape != yv.shape:
        raise FeatureError(f"x and y must be 1-D of one length, got {xv.shape} and {yv.shape}")
    if np.isinf(xv).any() or np.isinf(yv).any():
        raise FeatureError("x and y must not hold inf")
    if not 0 < ci < 1:
        raise FeatureError(f"ci must be in (0, 1), got {ci!r}")
    keep = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[keep], yv[keep]
    if xv.size < 3:
        raise FeatureError(f"a slope with an interval needs 3 or more values, got {xv.size}")
    if np.ptp(xv) == 0:
        raise FeatureError("x is constant: no slope")
    fit = stats.linregress(xv, yv)
    half = stats.t.ppf(0.5 + ci / 2, xv.size - 2) * fit.stderr
    return Slope(
        float(fit.slope),
        float(fit.slope - half),
        float(fit.slope + half),
        float(fit.intercept),
        float(fit.stderr),
        int(xv.size),
        ci,
    )
