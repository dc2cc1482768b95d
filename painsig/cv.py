"""Subject-grouped cross-validation: the splits, the fold models and their out-of-fold output.

Becker et al. (2026) train on a random 70 % of the contractions and test on the other 30 %, so
every subject appears in both parts and the model can recognise the subject instead of the
pain. The default here is leave-one-subject-out (``scheme="logo"``) or stratified grouped
K-fold (``"group_kfold"``); the paper's split is the explicit scheme ``"random"``
(:mod:`painsig.split_inflation` measures how much it inflates the score).

Metrics are pooled over all out-of-fold predictions: under leave-one-subject-out a test fold
often holds one class only, where balanced accuracy and AUC are undefined. Per-fold metrics
are kept in :class:`FoldResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import LeaveOneGroupOut, StratifiedGroupKFold, train_test_split
from sklearn.utils import _safe_indexing

from painsig.inputs import check_xyg
from painsig.metrics import binary_metrics
from painsig.plain import to_plain
from painsig.schemes import SCHEMES, Scheme

__all__ = ["CVResult", "FoldResult", "class_counts", "grouped_cross_validate"]


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
        return to_plain(
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


def class_counts(labels: np.ndarray, classes: np.ndarray) -> dict[Any, int]:
    """How many of ``labels`` (n,) fall in each of ``classes``, by class."""
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
    y, groups, classes, pos_label = check_xyg(X, y, groups, pos_label)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    folds: list[FoldResult] = []
    for k, (train, test) in enumerate(
        _splits(y, groups, scheme, n_splits, random_state, test_size)
    ):
        pred, score = _fit_and_predict(estimator, X, y, train, test, pos_label, k, scheme)
        parts.append((test, pred, score, np.full(test.size, k)))
        folds.append(_fold_result(k, train, test, y, groups, classes, pred, score, pos_label))
    return _pooled(parts, folds, scheme, y, groups, classes, pos_label)


def _fit_and_predict(
    estimator: BaseEstimator,
    X: Any,  # noqa: N803
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    pos_label: Any,
    k: int,
    scheme: str,
) -> tuple[np.ndarray, np.ndarray]:
    """A clone of ``estimator`` fitted on the rows ``train``; its predicted labels and
    probabilities of ``pos_label`` on the rows ``test``, (n_test,) each."""
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
    return np.asarray(model.predict(X_test)), score


def _fold_result(
    k: int,
    train: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    pred: np.ndarray,
    score: np.ndarray,
    pos_label: Any,
) -> FoldResult:
    """The record of fold ``k``: its subjects, sizes, class counts and test metrics."""
    train_subj, test_subj = np.unique(groups[train]), np.unique(groups[test])
    return FoldResult(
        fold=k,
        train_subjects=tuple(train_subj.tolist()),
        test_subjects=tuple(test_subj.tolist()),
        shared_subjects=tuple(np.intersect1d(train_subj, test_subj).tolist()),
        n_train=int(train.size),
        n_test=int(test.size),
        train_class_counts=class_counts(y[train], classes),
        test_class_counts=class_counts(y[test], classes),
        metrics=binary_metrics(y[test], pred, score, pos_label),
    )


def _pooled(
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    folds: list[FoldResult],
    scheme: str,
    y: np.ndarray,
    groups: np.ndarray,
    classes: np.ndarray,
    pos_label: Any,
) -> CVResult:
    """The folds' (test rows, predictions, scores, fold index) in row order, with pooled
    metrics; a grouped scheme must have tested every row exactly once."""
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
