"""Honest evaluation of a pain classifier: subject-grouped cross-validation, pooled metrics,
subject-level cluster-bootstrap confidence intervals and a permutation chance level.

Becker et al. (2026), "Can Machines Identify Pain Effects?", train on a random 70 % of the
contractions and test on the other 30 %, so every subject appears in both parts and the model
can recognise the subject instead of the pain (their "sensitivity" of 73.3 % is the accuracy
of that split). Here the default is leave-one-subject-out (``scheme="logo"``) or stratified
grouped K-fold (``"group_kfold"``); the paper's split is available only as the explicit
scheme ``"random"``, and :func:`random_split_inflation` measures how much it inflates the
score. Every result carries class counts per fold, balanced accuracy, sensitivity,
specificity and ROC AUC with confidence intervals, and a permutation chance level.

Conventions: ``X`` is (n_samples, n_features), an array or DataFrame (one row per epoch);
``y`` is (n_samples,) with exactly two classes; ``groups`` is (n_samples,) subject ids. The
positive class ``pos_label`` is "painful"; for 0/1 or bool labels it defaults to 1 / True,
for other labels it must be given. Scores ``y_score`` are the predicted probabilities of the
positive class.

Metrics are pooled over all out-of-fold predictions: under leave-one-subject-out a test fold
often holds one class only, where balanced accuracy and AUC are undefined. Pooling AUC over
folds mixes scores of different models; it is the usual choice for LOSO but assumes the
fold models are similarly calibrated. Per-fold balanced accuracy is reported where a fold
holds both classes.

References:

- Becker et al. (2026). Can Machines Identify Pain Effects? Bioengineering 13(2):141
  (the random 70/30 contraction-level split).
- Ojala M., Garriga G.C. (2010). Permutation tests for studying classifier performance.
  J Mach Learn Res 11:1833-1863 (permutation p-value, (1 + #null >= observed) / (1 + n)).
- Field C.A., Welsh A.H. (2007). Bootstrapping clustered data. J R Stat Soc B 69(3):369-390
  (resampling whole clusters, here subjects).
- Varoquaux G. (2018). Cross-validation failure: small sample sizes lead to large error
  bars. NeuroImage 180:68-77 (why the intervals matter).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, train_test_split
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from nmm.bootstrap import cluster_counts, percentile_interval
from nmm.reports.figures import save_figure

__all__ = [
    "METRIC_NAMES",
    "CVResult",
    "ConfidenceInterval",
    "FoldResult",
    "PermutationResult",
    "Scheme",
    "binary_metrics",
    "bootstrap_ci",
    "evaluate",
    "fraction_classified_positive",
    "grouped_cross_validate",
    "permutation_chance_level",
    "plot_confusion_matrix",
    "random_split_inflation",
]

logger = logging.getLogger(__name__)

Scheme = Literal["logo", "group_kfold", "random"]
SCHEMES: tuple[str, ...] = ("logo", "group_kfold", "random")

#: Metrics computed by :func:`binary_metrics` and bootstrapped fast by :func:`bootstrap_ci`.
METRIC_NAMES: tuple[str, ...] = (
    "accuracy",
    "balanced_accuracy",
    "sensitivity",
    "specificity",
    "roc_auc",
)

#: A metric callable for :func:`bootstrap_ci`: ``f(y_true, y_pred, y_score) -> float``.
MetricFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------- validation


def _as_1d(a: npt.ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    return arr


def _n_rows(X: Any) -> int:  # noqa: N803
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)  # noqa: N806
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(shape)}")
    return int(shape[0])


def _check_finite_or_nan(X: Any) -> None:  # noqa: N803
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X must be numeric: {exc}") from exc
    if np.isinf(values).any():
        rows, cols = np.nonzero(np.isinf(values))
        raise ValueError(
            f"X contains infinite values ({rows.size} entries, first at row {rows[0]}, "
            f"column {cols[0]}); use NaN for a missing feature value, or drop the epoch"
        )


def _resolve_pos_label(classes: np.ndarray, pos_label: Any) -> Any:
    """The positive ("painful") class among two sorted ``classes``."""
    if pos_label is not None:
        if pos_label not in classes.tolist():
            raise ValueError(
                f"pos_label {pos_label!r} is not one of the classes {classes.tolist()!r}"
            )
        return classes[classes.tolist().index(pos_label)]
    if classes.dtype.kind in "biuf" and set(classes.tolist()) <= {0, 1}:
        return classes[-1]
    raise ValueError(
        f"pos_label (the painful class) is required for labels {classes.tolist()!r}; "
        "it defaults to 1 only for 0/1 or bool labels"
    )


def _check_xyg(
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    pos_label: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Validate X, y, groups; return (y, groups, classes (2,), pos_label)."""
    n = _n_rows(X)
    y = _as_1d(y, "y")
    groups = _as_1d(groups, "groups")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} entries but X has {n} rows")
    if groups.shape[0] != n:
        raise ValueError(
            f"groups has {groups.shape[0]} entries but X has {n} rows; give one subject id "
            "per row of X"
        )
    if n == 0:
        raise ValueError("X is empty")
    if groups.dtype.kind == "f" and np.isnan(groups).any():
        raise ValueError("groups contains NaN; every row needs a subject id")
    _check_finite_or_nan(X)
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(
            "evaluation needs exactly two classes in y (painful / not painful); got "
            f"{classes.size}: {classes.tolist()!r}"
        )
    return y, groups, classes, _resolve_pos_label(classes, pos_label)


# --------------------------------------------------------------------------- metrics


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
    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_pred, "y_pred")
    ys = _as_1d(y_score, "y_score").astype(np.float64)
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


# --------------------------------------------------------------------------- CV


@dataclass(frozen=True)
class FoldResult:
    """One train/test split: subjects, sizes, class counts and the fold's own metrics.

    ``metrics`` holds :data:`METRIC_NAMES`; balanced accuracy, AUC and the recall of a class
    absent from the test part are NaN. ``shared_subjects`` lists subjects in both parts
    (empty for grouped schemes; all of them for the paper's random split).
    """

    fold: int
    train_subjects: tuple[Any, ...]
    test_subjects: tuple[Any, ...]
    shared_subjects: tuple[Any, ...]
    n_train: int
    n_test: int
    train_class_counts: dict[Any, int]
    test_class_counts: dict[Any, int]
    metrics: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable record (NaN -> None, labels as keys -> str)."""
        return _jsonable(
            {
                "fold": self.fold,
                "train_subjects": list(self.train_subjects),
                "test_subjects": list(self.test_subjects),
                "n_shared_subjects": len(self.shared_subjects),
                "n_train": self.n_train,
                "n_test": self.n_test,
                "train_class_counts": self.train_class_counts,
                "test_class_counts": self.test_class_counts,
                **self.metrics,
            }
        )


@dataclass(frozen=True)
class CVResult:
    """Out-of-fold predictions of :func:`grouped_cross_validate`.

    Arrays have shape (m,), one entry per evaluated sample, sorted by ``sample_index`` (row
    of X): m = n_samples for grouped schemes (every sample is tested once) and the test part
    for ``"random"``. ``y_score`` is the probability of ``pos_label``; ``fold`` the fold
    index that tested the sample. ``metrics`` are pooled over all m predictions.
    """

    scheme: str
    pos_label: Any
    classes: np.ndarray
    n_samples: int
    sample_index: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray
    groups: np.ndarray
    fold: np.ndarray
    folds: tuple[FoldResult, ...]
    metrics: dict[str, float] = field(default_factory=dict)


def _splits(
    y: np.ndarray,
    groups: np.ndarray,
    scheme: str,
    n_splits: int,
    random_state: int | None,
    test_size: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = np.unique(groups).size
    index = np.arange(y.size)
    if scheme == "logo":
        if n_groups < 2:
            raise ValueError("leave-one-subject-out needs at least two subjects in groups")
        return list(LeaveOneGroupOut().split(index, y, groups))
    if scheme == "group_kfold":
        if not 2 <= n_splits <= n_groups:
            raise ValueError(
                f"group_kfold needs 2 <= n_splits <= number of subjects ({n_groups}), "
                f"got n_splits={n_splits}"
            )
        cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
        return list(cv.split(index, y, groups))
    if scheme == "random":
        train, test = train_test_split(
            index, test_size=test_size, stratify=y, random_state=random_state
        )
        return [(np.sort(train), np.sort(test))]
    raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def _counts(labels: np.ndarray, classes: np.ndarray) -> dict[Any, int]:
    return {c: int((labels == c).sum()) for c in classes.tolist()}


def grouped_cross_validate(
    estimator: BaseEstimator,
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    scheme: Scheme = "logo",
    n_splits: int = 5,
    random_state: int | None = 0,
    *,
    pos_label: Any = None,
    test_size: float = 0.3,
) -> CVResult:
    """Cross-validate a classifier with subjects kept whole, collecting out-of-fold output.

    Args:
        estimator: Unfitted scikit-learn classifier with ``predict_proba`` (cloned per fold).
        X: (n_samples, n_features) array or DataFrame.
        y: (n_samples,) labels with exactly two classes.
        groups: (n_samples,) subject ids.
        scheme: ``"logo"`` leave-one-subject-out (:class:`LeaveOneGroupOut`);
            ``"group_kfold"`` :class:`StratifiedGroupKFold` with ``n_splits`` folds,
            shuffled with ``random_state``; ``"random"`` the contraction-level split of
            Becker et al. (2026): one stratified ``train_test_split`` with ``test_size``
            (0.3 = their 70/30), which puts every subject in train and test (leaky).
        n_splits: Folds for ``"group_kfold"``.
        random_state: Seed of the fold assignment (``group_kfold``, ``random``).
        pos_label: The painful class; defaults to 1 / True for 0/1 or bool labels.
        test_size: Test fraction of ``"random"``.

    Returns:
        :class:`CVResult` with out-of-fold predictions and pooled metrics.

    Raises:
        ValueError: on mismatched lengths, inf in X, a number of classes other than two,
            or a fold whose training part holds a single class.
    """
    y, groups, classes, pos_label = _check_xyg(X, y, groups, pos_label)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    folds: list[FoldResult] = []
    for k, (train, test) in enumerate(
        _splits(y, groups, scheme, n_splits, random_state, test_size)
    ):
        if np.unique(y[train]).size < 2:
            raise ValueError(
                f"fold {k} ({scheme}): the training part holds a single class "
                f"{np.unique(y[train]).tolist()!r}; use another scheme or more subjects"
            )
        model = clone(estimator).fit(_safe_indexing(X, train), y[train])
        X_test = _safe_indexing(X, test)  # noqa: N806
        model_classes = np.asarray(model.classes_).tolist()
        score = np.asarray(model.predict_proba(X_test), dtype=np.float64)[
            :, model_classes.index(pos_label)
        ]
        pred = np.asarray(model.predict(X_test))
        parts.append((test, pred, score, np.full(test.size, k)))
        train_subj, test_subj = np.unique(groups[train]), np.unique(groups[test])
        folds.append(
            FoldResult(
                fold=k,
                train_subjects=tuple(train_subj.tolist()),
                test_subjects=tuple(test_subj.tolist()),
                shared_subjects=tuple(np.intersect1d(train_subj, test_subj).tolist()),
                n_train=int(train.size),
                n_test=int(test.size),
                train_class_counts=_counts(y[train], classes),
                test_class_counts=_counts(y[test], classes),
                metrics=binary_metrics(y[test], pred, score, pos_label),
            )
        )
    index = np.concatenate([p[0] for p in parts])
    order = np.argsort(index, kind="stable")
    index = index[order]
    if scheme != "random" and not np.array_equal(index, np.arange(y.size)):
        raise RuntimeError("grouped CV did not test every sample exactly once")
    y_pred = np.concatenate([p[1] for p in parts])[order]
    y_score = np.concatenate([p[2] for p in parts])[order]
    fold = np.concatenate([p[3] for p in parts])[order]
    return CVResult(
        scheme=scheme,
        pos_label=pos_label,
        classes=classes,
        n_samples=int(y.size),
        sample_index=index,
        y_true=y[index],
        y_pred=y_pred,
        y_score=y_score,
        groups=groups[index],
        fold=fold,
        folds=tuple(folds),
        metrics=binary_metrics(y[index], y_pred, y_score, pos_label),
    )


# --------------------------------------------------------------------------- bootstrap


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
        return [_finite_or_none(self.low), _finite_or_none(self.high)]


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
    yt = _as_1d(y_true, "y_true")
    yp = _as_1d(y_pred, "y_pred")
    ys = _as_1d(y_score, "y_score").astype(np.float64)
    g = _as_1d(groups, "groups")
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
    subjects, subj = np.unique(g, return_inverse=True)
    counts = cluster_counts(subjects.size, int(n_boot), random_state)

    if isinstance(metric, str):
        if metric not in METRIC_NAMES:
            raise ValueError(f"metric must be one of {METRIC_NAMES} or a callable, got {metric!r}")
        estimate = binary_metrics(yt, yp, ys, pos_label)[metric]
        reps = _bootstrap_named(metric, counts, subj, yt == pos_label, yp == yt, ys)
    else:
        estimate = _call_metric(metric, yt, yp, ys)
        members = [np.flatnonzero(subj == s) for s in range(subjects.size)]
        reps = np.empty(counts.shape[0])
        for b, row in enumerate(counts.astype(np.intp)):
            idx = np.concatenate([np.tile(members[s], k) for s, k in enumerate(row) if k])
            reps[b] = _call_metric(metric, yt[idx], yp[idx], ys[idx])

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


def _call_metric(fn: MetricFn, yt: np.ndarray, yp: np.ndarray, ys: np.ndarray) -> float:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(fn(yt, yp, ys))
    except ValueError:
        return math.nan


# --------------------------------------------------------------------------- permutation


@dataclass(frozen=True)
class PermutationResult:
    """Permutation test of the balanced accuracy (Ojala & Garriga 2010, test 1).

    ``null`` (n_permutations,) holds the balanced accuracies of the same CV on permuted
    labels; ``chance_level`` is their mean; ``p_value`` = (1 + #{null >= observed}) /
    (1 + n_permutations). ``strategy`` says how labels were permuted: ``"between_subjects"``
    (each subject has one label; subjects' labels are permuted) or ``"within_subjects"``
    (labels shuffled within each subject, keeping each subject's class counts).
    """

    observed: float
    null: np.ndarray
    chance_level: float
    p_value: float
    strategy: str
    n_permutations: int


def _permutation_strategy(y: np.ndarray, groups: np.ndarray) -> str:
    _, subj = np.unique(groups, return_inverse=True)
    _, lab = np.unique(y, return_inverse=True)
    n_labels_per_subject = np.array([np.unique(lab[subj == s]).size for s in range(subj.max() + 1)])
    return "between_subjects" if (n_labels_per_subject == 1).all() else "within_subjects"


def _permute_labels(
    y: np.ndarray, groups: np.ndarray, strategy: str, rng: np.random.Generator
) -> np.ndarray:
    subjects, subj = np.unique(groups, return_inverse=True)
    if strategy == "between_subjects":
        first = np.array([np.flatnonzero(subj == s)[0] for s in range(subjects.size)])
        subject_label = y[first]
        return subject_label[rng.permutation(subjects.size)][subj]
    out = y.copy()
    for s in range(subjects.size):
        idx = np.flatnonzero(subj == s)
        out[idx] = y[rng.permutation(idx)]
    return out


def permutation_chance_level(
    estimator: BaseEstimator,
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    scheme: Scheme = "logo",
    n_permutations: int = 100,
    random_state: int | None = 0,
    *,
    n_splits: int = 5,
    test_size: float = 0.3,
    pos_label: Any = None,
    observed: float | None = None,
) -> PermutationResult:
    """Empirical chance level and p-value of the grouped-CV balanced accuracy.

    The labels are permuted in a way that keeps the dependence structure that the null
    hypothesis ("features carry no label information") leaves intact: if every subject has a
    single label (a between-subject design), whole subjects' labels are permuted among
    subjects; otherwise labels are shuffled within each subject. Each permutation reruns
    :func:`grouped_cross_validate` with the same scheme, splits seed and estimator
    (Ojala & Garriga 2010). For ``scheme="random"`` the null includes whatever the leaky
    split gains from subject identity, so its p-value is not inflated even though its score
    is.

    Args:
        estimator, X, y, groups, scheme, n_splits, test_size, pos_label: as in
            :func:`grouped_cross_validate`.
        n_permutations: Number of permutations (>= 1); the smallest possible p-value is
            1 / (n_permutations + 1).
        random_state: Seed of the CV splits and of the permutations.
        observed: Balanced accuracy of the unpermuted CV, if already computed.

    Returns:
        :class:`PermutationResult`.
    """
    y, groups, _, pos_label = _check_xyg(X, y, groups, pos_label)
    if (
        isinstance(n_permutations, bool)
        or int(n_permutations) != n_permutations
        or (n_permutations < 1)
    ):
        raise ValueError(f"n_permutations must be a positive integer, got {n_permutations!r}")
    kwargs: dict[str, Any] = {
        "scheme": scheme,
        "n_splits": n_splits,
        "random_state": random_state,
        "pos_label": pos_label,
        "test_size": test_size,
    }
    if observed is None:
        observed = grouped_cross_validate(estimator, X, y, groups, **kwargs).metrics[
            "balanced_accuracy"
        ]
    strategy = _permutation_strategy(y, groups)
    rng = np.random.default_rng(random_state)
    null = np.empty(int(n_permutations))
    for i in range(null.size):
        y_perm = _permute_labels(y, groups, strategy, rng)
        cv = grouped_cross_validate(estimator, X, y_perm, groups, **kwargs)
        null[i] = cv.metrics["balanced_accuracy"]
        logger.debug("permutation %d/%d: balanced accuracy %.3f", i + 1, null.size, null[i])
    p_value = (1.0 + float(np.sum(null >= observed))) / (1.0 + null.size)
    return PermutationResult(
        observed=float(observed),
        null=null,
        chance_level=float(np.mean(null)),
        p_value=p_value,
        strategy=strategy,
        n_permutations=int(null.size),
    )


# --------------------------------------------------------------------------- reports


def random_split_inflation(
    estimator: BaseEstimator,
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    scheme: Literal["logo", "group_kfold"] = "logo",
    *,
    n_splits: int = 5,
    test_size: float = 0.3,
    random_state: int | None = 0,
    pos_label: Any = None,
    grouped: CVResult | None = None,
) -> dict[str, Any]:
    """How much the paper's random contraction-level split inflates the score.

    Runs the grouped ``scheme`` and the 70/30 random split of Becker et al. (2026) with the
    same estimator and returns ``{"grouped_scheme", "grouped_balanced_accuracy",
    "random_balanced_accuracy", "inflation", "grouped_roc_auc", "random_roc_auc"}`` where
    ``inflation = random - grouped`` balanced accuracy (JSON-serialisable). ``grouped``: an
    already computed result of the grouped scheme (e.g. from :func:`evaluate`), reused as is.
    """
    if scheme not in ("logo", "group_kfold"):
        raise ValueError(f"scheme must be a grouped scheme ('logo', 'group_kfold'), got {scheme!r}")
    common: dict[str, Any] = {
        "random_state": random_state,
        "pos_label": pos_label,
        "test_size": test_size,
    }
    if grouped is None:
        grouped = grouped_cross_validate(estimator, X, y, groups, scheme, n_splits, **common)
    elif grouped.scheme != scheme:
        raise ValueError(f"grouped result is from scheme {grouped.scheme!r}, not {scheme!r}")
    rand = grouped_cross_validate(estimator, X, y, groups, "random", n_splits, **common)
    g_ba = grouped.metrics["balanced_accuracy"]
    r_ba = rand.metrics["balanced_accuracy"]
    return _jsonable(
        {
            "grouped_scheme": scheme,
            "grouped_balanced_accuracy": g_ba,
            "random_balanced_accuracy": r_ba,
            "inflation": r_ba - g_ba,
            "grouped_roc_auc": grouped.metrics["roc_auc"],
            "random_roc_auc": rand.metrics["roc_auc"],
        }
    )


def evaluate(
    estimator: BaseEstimator,
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    scheme: Scheme = "logo",
    *,
    n_splits: int = 5,
    pos_label: Any = None,
    n_boot: int = 1000,
    n_permutations: int = 100,
    confidence: float = 0.95,
    test_size: float = 0.3,
    random_state: int | None = 0,
    cv_result: CVResult | None = None,
) -> dict[str, Any]:
    """Full evaluation report as a JSON-serialisable dict (NaN -> None).

    Cross-validates with :func:`grouped_cross_validate` (or takes its result as ``cv_result``,
    computed with the same data and settings), adds subject-level cluster-bootstrap
    intervals (:func:`bootstrap_ci`) for every metric and, unless ``n_permutations=0``, the
    permutation chance level and p-value (:func:`permutation_chance_level`).

    Keys: ``cv`` (scheme), ``n_folds``, ``n_samples``, ``n_evaluated`` (out-of-fold
    predictions), ``n_subjects``, ``pos_label``, ``class_counts`` (whole data),
    ``accuracy``, ``balanced_accuracy``, ``sensitivity``, ``specificity``, ``roc_auc`` (pooled
    out-of-fold) and each with ``<name>_ci`` = [low, high]; ``confidence``, ``n_boot``,
    ``ci_method``; ``chance_level``, ``permutation_p_value``, ``permutation_strategy``,
    ``n_permutations``, ``permutation_null``; ``per_fold_balanced_accuracy_mean`` (over folds
    holding both classes); ``per_fold`` (list of :meth:`FoldResult.to_dict`); ``estimator``
    (class name) and ``hyperparameters`` (``get_params()``).
    """
    y, groups, classes, pos_label = _check_xyg(X, y, groups, pos_label)
    if cv_result is not None and cv_result.scheme != scheme:
        raise ValueError(f"cv_result is from scheme {cv_result.scheme!r}, not {scheme!r}")
    cv = cv_result or grouped_cross_validate(
        estimator,
        X,
        y,
        groups,
        scheme,
        n_splits,
        random_state,
        pos_label=pos_label,
        test_size=test_size,
    )
    report: dict[str, Any] = {
        "cv": scheme,
        "n_folds": len(cv.folds),
        "n_samples": int(y.size),
        "n_evaluated": int(cv.y_true.size),
        "n_subjects": int(np.unique(groups).size),
        "pos_label": pos_label,
        "class_counts": _counts(y, classes),
    }
    for name in METRIC_NAMES:
        ci = bootstrap_ci(
            cv.y_true,
            cv.y_pred,
            cv.y_score,
            cv.groups,
            name,
            pos_label=pos_label,
            n_boot=n_boot,
            confidence=confidence,
            random_state=random_state,
        )
        report[name] = cv.metrics[name]
        report[f"{name}_ci"] = ci.as_list()
    report.update(
        confidence=confidence,
        n_boot=n_boot,
        ci_method="subject-level cluster bootstrap, percentile interval",
    )
    if n_permutations:
        perm = permutation_chance_level(
            estimator,
            X,
            y,
            groups,
            scheme,
            n_permutations,
            random_state,
            n_splits=n_splits,
            test_size=test_size,
            pos_label=pos_label,
            observed=cv.metrics["balanced_accuracy"],
        )
        report.update(
            chance_level=perm.chance_level,
            permutation_p_value=perm.p_value,
            permutation_strategy=perm.strategy,
            n_permutations=perm.n_permutations,
            permutation_null=perm.null.tolist(),
        )
    else:
        report.update(
            chance_level=None,
            permutation_p_value=None,
            permutation_strategy=None,
            n_permutations=0,
            permutation_null=[],
        )
    per_fold_ba = [f.metrics["balanced_accuracy"] for f in cv.folds]
    defined = [v for v in per_fold_ba if math.isfinite(v)]
    report["per_fold_balanced_accuracy_mean"] = float(np.mean(defined)) if defined else None
    report["per_fold"] = [f.to_dict() for f in cv.folds]
    report["estimator"] = type(estimator).__name__
    report["hyperparameters"] = {
        k: v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
        for k, v in estimator.get_params(deep=False).items()
    }
    return _jsonable(report)


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
    n = _n_rows(X_third)
    groups = _as_1d(groups_third, "groups_third")
    if groups.size != n:
        raise ValueError(f"groups_third has {groups.size} entries but X_third has {n} rows")
    if n == 0:
        raise ValueError("X_third is empty")
    _check_finite_or_nan(X_third)
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
    return _jsonable(
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


# --------------------------------------------------------------------------- figures


def plot_confusion_matrix(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    labels: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    display_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Confusion matrix (rows: true, columns: predicted, in ``labels`` order) as a PNG.

    Each cell shows the count and the row percentage (recall of the true class). Drawn on a
    standalone :class:`matplotlib.figure.Figure` (Agg canvas, never registered with pyplot,
    so no figure is left open), saved atomically by :func:`nmm.reports.figures.save_figure`.
    """
    labels = list(labels)
    cm = confusion_matrix(_as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred"), labels=labels)
    row = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(row > 0, cm / row, 0.0)
    names = [str(v) for v in (display_labels if display_labels is not None else labels)]
    k = len(labels)
    fig = Figure(figsize=(1.6 * k + 2.0, 1.4 * k + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * frac[i, j]:.1f} %",
                ha="center",
                va="center",
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


# --------------------------------------------------------------------------- JSON


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _jsonable(obj: Any) -> Any:
    """Recursively convert numpy scalars/arrays to Python, NaN/inf to None, keys to str."""
    if isinstance(obj, Mapping):
        return {str(_jsonable(k)): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return _finite_or_none(obj)
    return obj
