"""Agreement between a prediction and its reference series: RMSE, Pearson r, R².

One definition of each for every part of the project that scores a series (the NMM against the
ground truth, the OpenSim twin against the torch elbow, the synthetic cohort's trivial guesses).
Inputs are arrays of one shape, e.g. ``(T,)`` samples of an excitation (0-1) or a torque (N·m);
the result is in the inputs' unit (RMSE) or dimensionless (r, R²).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["pearson_r", "r2_score", "rmse"]


def rmse(pred: npt.ArrayLike, true: npt.ArrayLike) -> float:
    """Root-mean-square error, in the unit of the inputs."""
    return float(np.sqrt(np.mean((np.asarray(pred) - np.asarray(true)) ** 2)))


def pearson_r(pred: npt.ArrayLike, true: npt.ArrayLike) -> float:
    """Pearson correlation (NaN when either series is constant)."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    sp, st = p.std(), t.std()
    if sp == 0 or st == 0:
        return float("nan")
    return float(np.mean((p - p.mean()) * (t - t.mean())) / (sp * st))


def r2_score(pred: npt.ArrayLike, true: npt.ArrayLike) -> float:
    """Coefficient of determination 1 - SS_res/SS_tot (NaN when the truth is constant)."""
    t = np.asarray(true, float)
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0:
        return float("nan")
    return 1.0 - float(np.sum((np.asarray(pred, float) - t) ** 2)) / ss_tot
