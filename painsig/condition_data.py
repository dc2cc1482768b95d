"""Features, condition and subject labels checked and aligned for the statistics between two
conditions, one feature column at a time after the NaN policy, and per-subject aggregates."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = [
    "Agg",
    "ConditionData",
    "FeatureColumn",
    "NanPolicy",
    "check_choice",
    "feature_column",
    "prepare_conditions",
    "subject_means",
    "subject_names",
]

logger = logging.getLogger(__name__)

NanPolicy = Literal["drop", "raise"]
Agg = Literal["mean", "median"]


@dataclass
class ConditionData:
    """Checked inputs: ``features`` (n, n_features), ``condition`` (n,) labels, ``subject_codes``
    (n,) int codes whose labels are ``subject_labels``, the compared conditions ``a`` and
    ``b``, and the feature ``columns``."""

    features: pd.DataFrame
    condition: np.ndarray
    subject_codes: np.ndarray  # int codes, one per row
    subject_labels: pd.Index  # label of each code
    a: Hashable
    b: Hashable
    columns: list[Hashable] = field(default_factory=list)


def _labels(values: pd.Series | npt.ArrayLike, name: str, features: pd.DataFrame) -> np.ndarray:
    """``values`` as (n,) labels aligned with ``features``; ValueError naming ``name``."""
    if isinstance(values, pd.Series) and not values.index.equals(features.index):
        raise ValueError(
            f"{name}.index does not match features.index; align them first or pass "
            f"{name}.to_numpy() to use the row order"
        )
    arr = values.to_numpy() if isinstance(values, pd.Series | pd.Index) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.shape[0] != len(features):
        raise ValueError(f"{name} has length {arr.shape[0]} but features has {len(features)} rows")
    missing = pd.isna(arr)
    if missing.any():
        raise ValueError(f"{name} has {int(missing.sum())} missing labels (NaN/None)")
    return arr


def prepare_conditions(
    features: pd.DataFrame,
    condition: pd.Series | npt.ArrayLike,
    subject: pd.Series | npt.ArrayLike,
    a: Hashable,
    b: Hashable,
) -> ConditionData:
    """Check and align the features (numeric, unique columns), the condition and subject
    labels (one per row, none missing) and the conditions ``a`` != ``b`` (both present)."""
    if not isinstance(features, pd.DataFrame):
        raise ValueError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    if features.shape[1] == 0:
        raise ValueError("features has no columns")
    if len(features) == 0:
        raise ValueError("features has no rows")
    bad = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    bad += [c for c in features.columns if pd.api.types.is_bool_dtype(features[c])]
    if bad:
        raise ValueError(f"feature columns must be numeric (not bool); offending: {bad}")
    if features.columns.has_duplicates:
        raise ValueError("feature column names must be unique")
    cond = _labels(condition, "condition", features)
    subj = _labels(subject, "subject", features)
    if a == b:
        raise ValueError(f"conditions a and b must differ, both are {a!r}")
    present = pd.unique(cond)
    for label, which in ((a, "a"), (b, "b")):
        if not np.any(cond == label):
            raise ValueError(
                f"condition {which}={label!r} not present in condition; "
                f"labels present: {sorted(map(str, present))}"
            )
    codes, uniques = pd.factorize(subj)
    return ConditionData(
        features=features,
        condition=cond,
        subject_codes=codes,
        subject_labels=pd.Index(uniques),
        a=a,
        b=b,
        columns=list(features.columns),
    )


def check_choice(value: object, name: str, allowed: tuple[str, ...]) -> None:
    """ValueError naming the option ``name`` if ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


@dataclass
class FeatureColumn:
    """One feature's finite values and labels, after the NaN policy."""

    x: np.ndarray
    cond: np.ndarray
    codes: np.ndarray
    n_dropped: int
    notes: list[str]


def feature_column(inp: ConditionData, col: Hashable, nan_policy: NanPolicy) -> FeatureColumn:
    """The finite values of ``col`` in conditions a and b; NaN/inf are dropped with a logged
    warning and a note (``nan_policy="drop"``) or raise (``"raise"``)."""
    values = inp.features[col].to_numpy(dtype=float)
    in_ab = (inp.condition == inp.a) | (inp.condition == inp.b)
    bad = in_ab & ~np.isfinite(values)
    notes: list[str] = []
    n_bad = int(bad.sum())
    if n_bad:
        n_bad_a = int((bad & (inp.condition == inp.a)).sum())
        n_bad_b = n_bad - n_bad_a
        msg = (
            f"feature {col!r}: {n_bad} contraction(s) with NaN/inf values "
            f"({inp.a!r}: {n_bad_a}, {inp.b!r}: {n_bad_b})"
        )
        if nan_policy == "raise":
            raise ValueError(msg + "; drop them or use nan_policy='drop'")
        logger.warning("%s dropped for this feature", msg)
        notes.append(f"dropped {n_bad} NaN/inf contraction(s)")
    keep = in_ab & np.isfinite(values)
    return FeatureColumn(
        x=values[keep],
        cond=inp.condition[keep],
        codes=inp.subject_codes[keep],
        n_dropped=n_bad,
        notes=notes,
    )


def _per_subject(x: np.ndarray, codes: np.ndarray, agg: Agg) -> pd.Series:
    """Aggregate of x per subject code, indexed by code (sorted)."""
    return pd.Series(x).groupby(codes, sort=True).agg(agg)


def subject_means(
    column: FeatureColumn, inp: ConditionData, agg: Agg
) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Per-subject aggregates and contraction counts for condition a and b."""
    is_a = column.cond == inp.a
    is_b = ~is_a
    sa = _per_subject(column.x[is_a], column.codes[is_a], agg)
    sb = _per_subject(column.x[is_b], column.codes[is_b], agg)
    ca = pd.Series(column.codes[is_a]).value_counts().sort_index()
    cb = pd.Series(column.codes[is_b]).value_counts().sort_index()
    return sa, sb, ca, cb


def subject_names(inp: ConditionData, codes: pd.Index | np.ndarray) -> list[str]:
    """The subject labels of ``codes``, as text."""
    return [str(inp.subject_labels[c]) for c in codes]
