"""Binary classification metrics of out-of-fold predictions (painful = the positive class)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from painsig.inputs import as_1d

__all__ = ["METRIC_NAMES", "MetricFn", "binary_metrics"]

#: Metrics computed by :func:`binary_metrics` and bootstrapped fast by
#: :func:`painsig.intervals.bootstrap_ci`.
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "roc_auc",
)

#: A metric callable for :func:`bootstrap_ci`: ``f(y_true, y_pred, y_score) -> float``.
MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def binary_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike,
    pos_label: Any,
) -> dict[str, float]:
    """Accuracy, balanced accuracy, sensitivity, specificity and ROC AUC, all (n,) inputs.

    sensitivity = recall of ``pos_label`` (TP / (TP + FN)); specificity = recall of the other
    class (TN / (TN + FP)); balanced accuracy = (sensitivity + specificity) / 2, equal to
    :func:`sklearn.metrics.balanced_accuracy_score` when both classes occur in ``y_true``;
    ROC AUC of ``y_score`` (higher = more positive), ties counted as 1/2. A metric that needs
    a class absent from ``y_true`` is NaN (instead of sklearn's warning and fallback).
    """
    yt = as_1d(y_true, "y_true")
    yp = as_1d(y_pred, "y_pred")
    ys = as_1d(y_score, "y_score").astype(np.float64)
    if not yt.shape == yp.shape == ys.shape:
        raise ValueError(f"shapes differ: {yt.shape}, {yp.shape}, {ys.shape}")
    pos = yt == pos_label
    hit = yp == yt
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    sens = float(hit[pos].mean()) if n_pos else math.nan
    spec = float(hit[~pos].mean()) if n_neg else math.nan
    return {
        "accuracy": float(hit.mean()) if yt.size else math.nan,
        "balanced_accuracy": 0.5 * (sens + spec),
        "sensitivity": sens,
        "specificity": spec,
        "roc_auc": _auc(ys, pos) if n_pos and n_neg else math.nan,
    }


def _auc(score: np.ndarray, pos: np.ndarray) -> float:
    """Mann-Whitney AUC of ``score`` for the boolean labels ``pos``, ties counted 1/2."""
    _, inv = np.unique(score, return_inverse=True)
    negw = np.bincount(inv[~pos], minlength=inv.max() + 1).astype(np.float64)
    posw = np.bincount(inv[pos], minlength=inv.max() + 1).astype(np.float64)
    below = np.cumsum(negw) - negw
    return float(posw @ (below + 0.5 * negw) / (posw.sum() * negw.sum()))
