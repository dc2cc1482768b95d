"""Confidence intervals of the classifier's metrics by the subject-cluster bootstrap.

Subjects, not contractions, are the independent units: every replicate draws whole subjects
with the shared draws of :func:`nmm.bootstrap.cluster_counts` (Field & Welsh 2007), so the
NMM and painsig draw the same subjects for the same seed, and the interval is the percentile
interval of :func:`nmm.bootstrap.percentile_interval`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from nmm.bootstrap import cluster_counts, percentile_interval
from painsig.inputs import as_1d, check_finite_or_nan, n_rows
from painsig.metrics import METRIC_NAMES, MetricFn, binary_metrics
from painsig.plain import finite_or_none, to_plain

__all__ = ["ConfidenceInterval", "bootstrap_ci", "fraction_classified_positive"]


@dataclass(frozen=True)
class ConfidenceInterval:
    """Percentile bootstrap interval ``[low, high]`` around the point ``estimate``.

    ``n_valid`` of ``n_boot`` replicates defined the metric (a replicate drawing subjects of
    one class only has no balanced accuracy or AUC); ``distribution`` holds them, (n_valid,).
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_boot: int
    n_valid: int
    distribution: np.ndarray

    def as_list(self) -> list[float | None]:
        """``[low, high]`` with NaN as None (for JSON)."""
        return [finite_or_none(self.low), finite_or_none(self.high)]


def _bootstrap_named(
    metric: str,
    counts: np.ndarray,
    subj: np.ndarray,
    pos: np.ndarray,
    hit: np.ndarray,
    score: np.ndarray,
) -> np.ndarray:
    """Metric of every replicate from per-subject sufficient statistics, (n_boot,)."""
    n_subj = counts.shape[1]

    def per_subject(mask: np.ndarray) -> np.ndarray:
        return np.bincount(subj, weights=mask.astype(np.float64), minlength=n_subj)

    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "roc_auc":
            return _bootstrap_auc(counts, subj, pos, score)
        n_pos, n_neg = counts @ per_subject(pos), counts @ per_subject(~pos)
        tp, tn = counts @ per_subject(pos & hit), counts @ per_subject(~pos & hit)
        sens = np.where(n_pos > 0, tp / n_pos, np.nan)
        spec = np.where(n_neg > 0, tn / n_neg, np.nan)
        if metric == "accuracy":
            return (tp + tn) / (n_pos + n_neg)
        if metric == "sensitivity":
            return sens
        if metric == "specificity":
            return spec
        return 0.5 * (sens + spec)


def _bootstrap_auc(
    counts: np.ndarray, subj: np.ndarray, pos: np.ndarray, score: np.ndarray
) -> np.ndarray:
    """Weighted Mann-Whitney AUC per replicate; a subject drawn k times weighs k."""
    _, inv = np.unique(score, return_inverse=True)
    n_subj, n_unique = counts.shape[1], int(inv.max()) + 1
    # (n_unique, n_subj) sample counts per distinct score value and subject, sparse.
    pos_m = sparse.csr_matrix(
        (np.ones(int(pos.sum())), (inv[pos], subj[pos])), shape=(n_unique, n_subj)
    )
    neg_m = sparse.csr_matrix(
        (np.ones(int((~pos).sum())), (inv[~pos], subj[~pos])), shape=(n_unique, n_subj)
    )
    out = np.empty(counts.shape[0])
    chunk = max(1, 4_000_000 // max(n_unique, 1))
    for start in range(0, counts.shape[0], chunk):
        w = counts[start : start + chunk].T  # (n_subj, chunk)
        posw, negw = pos_m @ w, neg_m @ w  # (n_unique, chunk)
        below = np.cumsum(negw, axis=0) - negw
        num = np.einsum("uc,uc->c", posw, below + 0.5 * negw)
        den = posw.sum(axis=0) * negw.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + chunk] = np.where(den > 0, num / den, np.nan)
    return out


def bootstrap_ci(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike,
    groups: npt.ArrayLike,
    metric: str | MetricFn = "balanced_accuracy",
    *,
    pos_label: Any = None,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> ConfidenceInterval:
    """Confidence interval of a metric by a subject-level cluster bootstrap.

    Subjects, not contractions, are the independent units (contractions of one subject are
    correlated, Becker et al. 2026 treat them as independent): each replicate draws
    n_subjects subjects with replacement and takes *all* out-of-fold predictions of every
    drawn subject (a subject drawn twice counts twice). The interval is the percentile
    interval of the replicates (Field & Welsh 2007). It covers the sampling of subjects given
    the fitted fold models, not the variability of training; with ~15 subjects it is
    approximate and tends to be narrow.

    Args:
        y_true, y_pred, y_score, groups: (n,) labels, predicted labels, scores (probability
            of ``pos_label``) and subject ids, e.g. the fields of a :class:`CVResult`.
        metric: One of :data:`METRIC_NAMES` (vectorised over replicates from per-subject
            counts, exact), or a callable ``f(y_true, y_pred, y_score) -> float`` evaluated
            on each resampled data set (slower; a ValueError in it makes that replicate NaN).
        pos_label: The painful class (default: 1 / True for 0/1 or bool labels).
        n_boot: Number of replicates (>= 1).
        confidence: Coverage of the interval in (0, 1); 0.95 gives the 2.5 and 97.5 %
            percentiles.
        random_state: Seed; the same seed draws the same subjects for every metric.

    Returns:
        :class:`ConfidenceInterval`; NaN bounds if no replicate defined the metric. Replicates
        where the metric is undefined (e.g. only one class drawn) are dropped, with a warning
        when more than 10 % are.
    """
    yt, yp, ys, g, pos_label = _checked_predictions(
        y_true, y_pred, y_score, groups, pos_label, n_boot, confidence
    )
    subjects, subj = np.unique(g, return_inverse=True)
    counts = cluster_counts(subjects.size, int(n_boot), random_state)

    if isinstance(metric, str):
        if metric not in METRIC_NAMES:
            raise ValueError(f"metric must be one of {METRIC_NAMES} or a callable, got {metric!r}")
        estimate = binary_metrics(yt, yp, ys, pos_label)[metric]
        reps = _bootstrap_named(metric, counts, subj, yt == pos_label, yp == yt, ys)
    else:
        estimate = _call_metric(metric, yt, yp, ys)
        reps = _callable_replicates(metric, counts, subj, yt, yp, ys)

    valid = reps[np.isfinite(reps)]
    if valid.size < 0.9 * reps.size:
        warnings.warn(
            f"bootstrap of {metric if isinstance(metric, str) else 'metric'}: only "
            f"{valid.size} of {reps.size} replicates defined the metric (too few subjects "
            "of one class?); the interval is unreliable",
            RuntimeWarning,
            stacklevel=2,
        )
    low, high = percentile_interval(valid, confidence) if valid.size else (math.nan, math.nan)
    return ConfidenceInterval(
        estimate=float(estimate),
        low=low,
        high=high,
        confidence=float(confidence),
        n_boot=int(n_boot),
        n_valid=int(valid.size),
        distribution=valid,
    )


def _checked_predictions(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike,
    groups: npt.ArrayLike,
    pos_label: Any,
    n_boot: int,
    confidence: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any]:
    """The (n,) inputs of :func:`bootstrap_ci` checked (one length, not empty, a usable
    ``n_boot`` and ``confidence``), scores as float64, and the positive class resolved."""
    yt = as_1d(y_true, "y_true")
    yp = as_1d(y_pred, "y_pred")
    ys = as_1d(y_score, "y_score").astype(np.float64)
    g = as_1d(groups, "groups")
    if not yt.shape == yp.shape == ys.shape == g.shape:
        raise ValueError(
            f"y_true, y_pred, y_score, groups must have one length, got {yt.shape}, "
            f"{yp.shape}, {ys.shape}, {g.shape}"
        )
    if yt.size == 0:
        raise ValueError("no predictions to bootstrap")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if isinstance(n_boot, bool) or int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    classes = np.unique(yt)
    if pos_label is None:
        if not (classes.dtype.kind in "biuf" and set(classes.tolist()) <= {0, 1}):
            raise ValueError(
                f"pos_label (the painful class) is required for labels {classes.tolist()!r}"
            )
        pos_label = True if classes.dtype.kind == "b" else 1
    return yt, yp, ys, g, pos_label


def _callable_replicates(
    metric: MetricFn,
    counts: np.ndarray,
    subj: np.ndarray,
    yt: np.ndarray,
    yp: np.ndarray,
    ys: np.ndarray,
) -> np.ndarray:
    """``metric`` on each replicate's resampled data, (n_boot,): a subject drawn k times
    (``counts`` (n_boot, n_subjects)) contributes all its rows k times."""
    members = [np.flatnonzero(subj == s) for s in range(counts.shape[1])]
    reps = np.empty(counts.shape[0])
    for b, row in enumerate(counts.astype(np.intp)):
        idx = np.concatenate([np.tile(members[s], k) for s, k in enumerate(row) if k])
        reps[b] = _call_metric(metric, yt[idx], yp[idx], ys[idx])
    return reps


def _call_metric(fn: MetricFn, yt: np.ndarray, yp: np.ndarray, ys: np.ndarray) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(yt, yp, ys))
    except ValueError:
        return math.nan


def fraction_classified_positive(
    estimator: BaseEstimator,
    X_third: Any,  # noqa: N803
    groups_third: npt.ArrayLike,
    n_boot: int = 1000,
    *,
    pos_label: Any = None,
    confidence: float = 0.95,
    random_state: int | None = 0,
) -> dict[str, Any]:
    """Fraction of a third condition's epochs (e.g. post-placebo) classified as painful.

    Becker et al. (2026) report 52.8 % of post-isotonic contractions classified painful,
    without an interval. Here the interval comes from a subject-level cluster bootstrap:
    replicates draw subjects with replacement and pool all their epochs.

    Args:
        estimator: A classifier already fitted (e.g. on pre vs post-hypertonic).
        X_third: (n, n_features) epochs of the third condition; none were used in training.
        groups_third: (n,) subject ids.
        n_boot: Bootstrap replicates.
        pos_label: The painful class; defaults to ``estimator.classes_[1]`` for a binary
            classifier.
        confidence: Coverage of the interval.
        random_state: Seed of the bootstrap.

    Returns:
        JSON-serialisable ``{"fraction", "ci" ([low, high]), "confidence", "n_boot",
        "n_samples", "n_subjects", "pos_label", "per_subject" ({subject: fraction})}``.
    """
    check_is_fitted(estimator)
    n = n_rows(X_third)
    groups = as_1d(groups_third, "groups_third")
    if groups.size != n:
        raise ValueError(f"groups_third has {groups.size} entries but X_third has {n} rows")
    if n == 0:
        raise ValueError("X_third is empty")
    check_finite_or_nan(X_third)
    classes = np.asarray(estimator.classes_)
    if pos_label is None:
        if classes.size != 2:
            raise ValueError("pos_label is required for a classifier with more than two classes")
        pos_label = classes[1]
    elif pos_label not in classes.tolist():
        raise ValueError(f"pos_label {pos_label!r} is not one of {classes.tolist()!r}")
    positive = np.asarray(estimator.predict(X_third)) == pos_label
    subjects, subj = np.unique(groups, return_inverse=True)
    per_subject_pos = np.bincount(subj, weights=positive.astype(np.float64))
    per_subject_n = np.bincount(subj).astype(np.float64)
    counts = cluster_counts(subjects.size, int(n_boot), random_state)
    low, high = percentile_interval(
        (counts @ per_subject_pos) / (counts @ per_subject_n), confidence
    )
    return to_plain(
        {
            "fraction": float(positive.mean()),
            "ci": [float(low), float(high)],
            "confidence": confidence,
            "n_boot": int(n_boot),
            "n_samples": n,
            "n_subjects": int(subjects.size),
            "pos_label": pos_label,
            "per_subject": dict(
                zip(subjects.tolist(), (per_subject_pos / per_subject_n).tolist(), strict=True)
            ),
        }
    )
