"""SHAP explanations of a fitted :class:`painsig.classifier.PainClassifier`.

Becker et al. (2026), "Can Machines Identify Pain Effects?", explain their XGBoost model with
SHAP (low peak and high INT point to pain; peak and INT rank first, ApEn carries ~12 % of the
weight). This module computes exact TreeSHAP values (Lundberg et al. 2020) with
:class:`shap.TreeExplainer` on the fitted XGBoost booster, summarises them per feature (mean
|SHAP|, share of the total, direction of effect) and draws the usual beeswarm and bar plots.

Conventions: ``X`` is (n, n_features), array or DataFrame with the columns the model was fit
on; SHAP values are in the model's margin units (log-odds of the positive class
``classes_[1]``, "pain") and satisfy ``values.sum(axis=1) + expected_value ==
decision_function(X)`` (local accuracy). The explanation describes the model, not causation,
and a model fit on data with leakage (see :mod:`painsig.evaluation`) explains the leak.

References:

- Lundberg S.M., Erion G., Chen H., et al. (2020). From local explanations to global
  understanding with explainable AI for trees. Nat Mach Intell 2:56-67 (TreeSHAP).
- Becker et al. (2026). Can Machines Identify Pain Effects? Bioengineering 13(2):141.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from scipy.stats import spearmanr
from sklearn.utils.validation import check_is_fitted

from nmm.reports.figures import save_figure
from painsig.classifier import PainClassifier

with warnings.catch_warnings():
    # shap 0.51 calls Colormap.set_bad/set_over/set_under at import, which matplotlib 3.11
    # flags as pending deprecations; the noise is shap's, not ours.
    warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
    import shap

__all__ = ["plot_shap_bar", "plot_shap_beeswarm", "shap_summary_table", "shap_values"]


def shap_values(model: PainClassifier, X: Any) -> tuple[np.ndarray, float | np.ndarray]:  # noqa: N803
    """Exact TreeSHAP values of a fitted :class:`PainClassifier` on ``X``.

    Args:
        model: Fitted classifier (its ``booster_`` is explained).
        X: (n, n_features) array or DataFrame; validated like ``model.predict`` (same
            columns, no inf).

    Returns:
        ``(values, expected_value)``. Binary model: values (n, n_features) float64 in
        log-odds of ``model.classes_[1]``, expected_value a float (the mean margin of the
        background, here XGBoost's tree-path expectation). Multiclass model: values
        (n, n_features, n_classes), expected_value (n_classes,). In both cases
        ``values.sum(axis=1) + expected_value == model.decision_function(X)`` up to float32
        rounding of XGBoost's leaf values.
    """
    check_is_fitted(model)
    data = model._check_X(X)
    explainer = shap.TreeExplainer(model.booster_)
    values = np.asarray(explainer.shap_values(data), dtype=np.float64)
    expected = np.asarray(explainer.expected_value, dtype=np.float64)
    if model.classes_.size == 2:
        return values, float(expected.reshape(-1)[0])
    return values, expected


def _feature_names(X: Any, n_features: int, names: Sequence[str] | None) -> list[str]:  # noqa: N803
    if names is not None:
        names = [str(n) for n in names]
    elif isinstance(X, pd.DataFrame):
        names = [str(c) for c in X.columns]
    else:
        names = [f"x{i}" for i in range(n_features)]
    if len(names) != n_features:
        raise ValueError(f"{len(names)} feature names for {n_features} features")
    return names


def _check_pair(values: npt.ArrayLike, X: Any) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
    v = np.asarray(values, dtype=np.float64)
    data = np.asarray(X, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(
            f"values must be (n, n_features) SHAP values of a binary model, got shape {v.shape}"
        )
    if data.shape != v.shape:
        raise ValueError(f"X has shape {data.shape} but values has shape {v.shape}")
    return v, data


def shap_summary_table(
    values: npt.ArrayLike,
    X: Any,  # noqa: N803
    feature_names: Sequence[str] | None = None,
    *,
    positive: str = "pain",
    negative: str = "no pain",
) -> pd.DataFrame:
    """Global importance and direction of each feature, sorted by importance.

    Args:
        values: (n, n_features) SHAP values of a binary model (log-odds of the positive class).
        X: (n, n_features) the explained feature values (array or DataFrame).
        feature_names: Names; default the DataFrame's columns, else ``x0, x1, ...``.
        positive, negative: Names of the classes used in the direction labels.

    Returns:
        DataFrame indexed by feature name (index name ``"feature"``), one row per feature,
        sorted by ``mean_abs_shap`` descending, columns: ``mean_abs_shap`` (mean |SHAP|,
        log-odds), ``share`` (its fraction of the sum over features; sums to 1),
        ``spearman_rho`` (rank correlation between the feature value and its SHAP value,
        NaN rows of X left out; NaN when either is constant), ``direction``
        (``"higher → pain"`` if rho > 0, ``"higher → no pain"`` if rho < 0, else
        ``"none"``) and ``rank`` (1 = most important). The direction is a monotone summary
        and says nothing about non-monotone effects.
    """
    v, data = _check_pair(values, X)
    names = _feature_names(X, v.shape[1], feature_names)
    mean_abs = np.abs(v).mean(axis=0)
    total = mean_abs.sum()
    share = mean_abs / total if total > 0 else np.full_like(mean_abs, math.nan)
    rho = np.full(v.shape[1], math.nan)
    for j in range(v.shape[1]):
        ok = np.isfinite(data[:, j])
        x, s = data[ok, j], v[ok, j]
        if x.size > 2 and np.ptp(x) > 0 and np.ptp(s) > 0:
            rho[j] = float(spearmanr(x, s).statistic)
    direction = np.where(
        rho > 0, f"higher → {positive}", np.where(rho < 0, f"higher → {negative}", "none")
    )
    table = pd.DataFrame(
        {
            "mean_abs_shap": mean_abs,
            "share": share,
            "spearman_rho": rho,
            "direction": direction,
        },
        index=pd.Index(names, name="feature"),
    )
    table = table.sort_values("mean_abs_shap", ascending=False, kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table


def _explanation(values: np.ndarray, data: np.ndarray, names: list[str]) -> shap.Explanation:
    return shap.Explanation(
        values=values,
        base_values=np.zeros(values.shape[0]),
        data=data,
        feature_names=names,
    )


def plot_shap_beeswarm(
    values: npt.ArrayLike,
    X: Any,  # noqa: N803
    path: str | os.PathLike[str],
    feature_names: Sequence[str] | None = None,
    *,
    max_display: int = 20,
    title: str | None = None,
) -> Path:
    """SHAP beeswarm (one dot per epoch and feature, coloured by feature value) as a PNG.

    ``values`` and ``X`` are (n, n_features); drawn with :func:`shap.plots.beeswarm` on a
    standalone :class:`matplotlib.figure.Figure` (never registered with pyplot, so nothing
    is left open) and written atomically. Returns the path.
    """
    v, data = _check_pair(values, X)
    names = _feature_names(X, v.shape[1], feature_names)
    k = min(max_display, v.shape[1])
    fig = Figure(figsize=(8.0, 0.45 * k + 1.8))
    ax = fig.add_subplot()
    shap.plots.beeswarm(
        _explanation(v, data, names), max_display=max_display, ax=ax, show=False, plot_size=None
    )
    ax.set_xlabel("SHAP value (log-odds of pain)")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def plot_shap_bar(
    values: npt.ArrayLike,
    X: Any,  # noqa: N803
    path: str | os.PathLike[str],
    feature_names: Sequence[str] | None = None,
    *,
    max_display: int = 20,
    title: str | None = None,
) -> Path:
    """Bar plot of mean |SHAP| per feature (global importance) as a PNG.

    ``values`` and ``X`` are (n, n_features); drawn with :func:`shap.plots.bar` on a
    standalone :class:`matplotlib.figure.Figure` and written atomically. Returns the path.
    """
    v, data = _check_pair(values, X)
    names = _feature_names(X, v.shape[1], feature_names)
    k = min(max_display, v.shape[1])
    fig = Figure(figsize=(8.0, 0.45 * k + 1.8))
    ax = fig.add_subplot()
    shap.plots.bar(_explanation(v, data, names), max_display=max_display, ax=ax, show=False)
    ax.set_xlabel("mean |SHAP value| (log-odds of pain)")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
