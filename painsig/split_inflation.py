"""How much the paper's random contraction-level split inflates the score.

Becker et al. (2026) split contractions 70/30 at random, so every subject is in both parts;
their "sensitivity" of 73.3 % is the accuracy of that split. This compares it with a
subject-grouped scheme on the same data and estimator.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy.typing as npt
from sklearn.base import BaseEstimator

from painsig.cv import CVResult, grouped_cross_validate
from painsig.plain import to_plain

__all__ = ["random_split_inflation"]


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
    return to_plain(
        {
            "grouped_scheme": scheme,
            "grouped_balanced_accuracy": g_ba,
            "random_balanced_accuracy": r_ba,
            "inflation": r_ba - g_ba,
            "grouped_roc_auc": grouped.metrics["roc_auc"],
            "random_roc_auc": rand.metrics["roc_auc"],
        }
    )
