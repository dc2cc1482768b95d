"""Permutation chance level and p-value of the grouped-CV balanced accuracy.

Reference: Ojala M., Garriga G.C. (2010). Permutation tests for studying classifier
performance. J Mach Learn Res 11:1833-1863 (p = (1 + #null >= observed) / (1 + n)).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator

from painsig.cv import grouped_cross_validate
from painsig.inputs import check_xyg
from painsig.schemes import Scheme

__all__ = ["PermutationResult", "permutation_chance_level"]

logger = logging.getLogger(__name__)


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
    y, groups, _, pos_label = check_xyg(X, y, groups, pos_label)
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
