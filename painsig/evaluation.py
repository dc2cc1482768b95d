"""Honest evaluation of a pain classifier: subject-grouped cross-validation, pooled metrics,
subject-level cluster-bootstrap confidence intervals and a permutation chance level, in one
report (:func:`evaluate`).

Becker et al. (2026), "Can Machines Identify Pain Effects?", train on a random 70 % of the
contractions and test on the other 30 %, so every subject appears in both parts and the model
can recognise the subject instead of the pain. The parts, each in its own module:

- :mod:`painsig.cv`: leave-one-subject-out or grouped K-fold CV (the paper's split only as
  the explicit scheme ``"random"``), out-of-fold predictions and per-fold class counts;
- :mod:`painsig.metrics`: balanced accuracy, sensitivity, specificity, ROC AUC;
- :mod:`painsig.intervals`: their subject-cluster bootstrap intervals (:mod:`nmm.bootstrap`);
- :mod:`painsig.permutation`: the permutation chance level and p-value;
- :mod:`painsig.split_inflation`: how much the random split inflates the score;
- :mod:`painsig.figures`: the confusion matrix.

Conventions: ``X`` is (n_samples, n_features), ``y`` (n_samples,) with two classes, ``groups``
(n_samples,) subject ids, ``pos_label`` the painful class (:mod:`painsig.inputs`).

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

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.base import BaseEstimator

from painsig.cv import CVResult, class_counts, grouped_cross_validate
from painsig.inputs import check_xyg
from painsig.intervals import bootstrap_ci
from painsig.metrics import METRIC_NAMES
from painsig.permutation import PermutationResult, permutation_chance_level
from painsig.plain import to_plain
from painsig.schemes import Scheme

__all__ = ["evaluate"]

#: The report's permutation entries when no permutation test is run.
_NO_PERMUTATIONS: dict[str, Any] = {
    "chance_level": None,
    "permutation_p_value": None,
    "permutation_strategy": None,
    "n_permutations": 0,
    "permutation_null": [],
}


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
    y, groups, classes, pos_label = check_xyg(X, y, groups, pos_label)
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
        "class_counts": class_counts(y, classes),
    }
    report.update(_metric_intervals(cv, pos_label, n_boot, confidence, random_state))
    if n_permutations:
        report.update(
            _permutation_entries(
                permutation_chance_level(
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
            )
        )
    else:
        report.update(_NO_PERMUTATIONS)
    report.update(_fold_entries(cv))
    report.update(_estimator_entries(estimator))
    return to_plain(report)


def _metric_intervals(
    cv: CVResult, pos_label: Any, n_boot: int, confidence: float, seed: int | None
) -> dict[str, Any]:
    """Each pooled metric and its subject-cluster bootstrap interval ``<name>_ci``, then
    ``confidence``, ``n_boot`` and ``ci_method``."""
    out: dict[str, Any] = {}
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
            random_state=seed,
        )
        out[name] = cv.metrics[name]
        out[f"{name}_ci"] = ci.as_list()
    out.update(
        confidence=confidence,
        n_boot=n_boot,
        ci_method="subject-level cluster bootstrap, percentile interval",
    )
    return out


def _permutation_entries(perm: PermutationResult) -> dict[str, Any]:
    """The report's entries of a :class:`painsig.permutation.PermutationResult`."""
    return {
        "chance_level": perm.chance_level,
        "permutation_p_value": perm.p_value,
        "permutation_strategy": perm.strategy,
        "n_permutations": perm.n_permutations,
        "permutation_null": perm.null.tolist(),
    }


def _fold_entries(cv: CVResult) -> dict[str, Any]:
    """Mean balanced accuracy over the folds that hold both classes, and every fold's record."""
    per_fold_ba = [f.metrics["balanced_accuracy"] for f in cv.folds]
    defined = [v for v in per_fold_ba if math.isfinite(v)]
    return {
        "per_fold_balanced_accuracy_mean": float(np.mean(defined)) if defined else None,
        "per_fold": [f.to_dict() for f in cv.folds],
    }


def _estimator_entries(estimator: BaseEstimator) -> dict[str, Any]:
    """The estimator's class name and its hyperparameters (non-scalars as their repr)."""
    return {
        "estimator": type(estimator).__name__,
        "hyperparameters": {
            k: v if isinstance(v, (str, int, float, bool, type(None))) else repr(v)
            for k, v in estimator.get_params(deep=False).items()
        },
    }
