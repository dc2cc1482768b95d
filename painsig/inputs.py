"""Checks of the classifier inputs shared by CV, intervals and permutations.

Conventions: ``X`` is (n_samples, n_features), an array or DataFrame (one row per epoch); ``y``
is (n_samples,) with exactly two classes; ``groups`` is (n_samples,) subject ids. The positive
class ``pos_label`` is "painful"; for 0/1 or bool labels it defaults to 1 / True, for other
labels it must be given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["as_1d", "check_finite_or_nan", "check_xyg", "n_rows", "resolve_pos_label"]


def as_1d(a: npt.ArrayLike, name: str) -> np.ndarray:
    """``a`` as a (n,) array (a (n, 1) column is flattened); ValueError naming ``name``."""
    arr = np.asarray(a)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    return arr


def n_rows(X: Any) -> int:  # noqa: N803
    """Rows of the 2-D ``X`` (n_samples, n_features); ValueError for another shape."""
    shape = getattr(X, "shape", None)
    if shape is None:
        X = np.asarray(X)  # noqa: N806
        shape = X.shape
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {tuple(shape)}")
    return int(shape[0])


def check_finite_or_nan(X: Any) -> None:  # noqa: N803
    """ValueError if ``X`` is not numeric or holds inf (NaN, a missing value, is allowed)."""
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


def resolve_pos_label(classes: np.ndarray, pos_label: Any) -> Any:
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


def check_xyg(
    X: Any,  # noqa: N803
    y: npt.ArrayLike,
    groups: npt.ArrayLike,
    pos_label: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Validate X, y, groups; return (y, groups, classes (2,), pos_label)."""
    n = n_rows(X)
    y = as_1d(y, "y")
    groups = as_1d(groups, "groups")
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
    check_finite_or_nan(X)
    classes = np.unique(y)
    if classes.size != 2:
        raise ValueError(
            "evaluation needs exactly two classes in y (painful / not painful); got "
            f"{classes.size}: {classes.tolist()!r}"
        )
    return y, groups, classes, resolve_pos_label(classes, pos_label)
