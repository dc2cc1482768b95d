"""Pain classifier: a scikit-learn estimator around :class:`xgboost.XGBClassifier`.

Becker et al. (2026), "Can Machines Identify Pain Effects?", classify contractions as painful
(post-hypertonic saline) or not (pre-injection) with XGBoost and explain the model with SHAP,
but report no hyperparameters. :class:`PainClassifier` makes every hyperparameter an explicit
constructor argument (so :meth:`get_params` records them for a report), behaves like any
scikit-learn classifier (``clone``, pipelines, cross-validation, ``check_estimator``) and
exposes the fitted booster for :mod:`painsig.explain`.

Conventions: ``X`` has shape ``(n_samples, n_features)`` (array or DataFrame, one row per
epoch, e.g. the output of :func:`painsig.features.extract_features`); ``y`` has shape
``(n_samples,)`` with any hashable labels (strings, ints, bools). Two classes train a
``binary:logistic`` model, three or more a ``multi:softprob`` model. NaN in ``X`` is allowed
(XGBoost learns a default direction for missing values); ``inf`` is rejected.

Reference: Chen T., Guestrin C. (2016). XGBoost: A scalable tree boosting system. KDD '16.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xgboost as xgb
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from nmm.atomic import atomic_write_text

__all__ = ["PainClassifier", "SavedModelError"]

#: The saved model's format name and version (:meth:`PainClassifier.save`).
MODEL_FORMAT = "painsig-classifier"
MODEL_VERSION = 1


class SavedModelError(ValueError):
    """A saved model file that cannot be read as a :class:`PainClassifier` (names the file)."""


class PainClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees (XGBoost, ``tree_method="hist"``) for painful vs not painful.

    Args:
        n_estimators: Number of boosting rounds (trees per class).
        max_depth: Maximum tree depth.
        learning_rate: Shrinkage (XGBoost ``eta``).
        subsample: Fraction of rows sampled per tree, in (0, 1].
        colsample_bytree: Fraction of features sampled per tree, in (0, 1].
        min_child_weight: Minimum sum of Hessian (for log-loss: p(1-p), times sample weight)
            in a leaf.
        reg_lambda: L2 penalty on leaf weights.
        random_state: Seed of XGBoost's row/column sampling; fits are deterministic given it.
        n_jobs: Threads XGBoost uses; ``None`` means all cores.
        device: ``"cpu"`` or ``"cuda"`` (XGBoost warns and trains on the CPU without a GPU).

    Attributes (after :meth:`fit`):
        classes_: (n_classes,) the sorted unique training labels.
        n_features_in_: Number of features seen in fit.
        feature_names_in_: (n_features,) column names, only when fit on a DataFrame with
            string column names.
        model_: The fitted :class:`xgboost.XGBClassifier` (trained on encoded labels
            0..n_classes-1 and a float64 array, so its own feature names are ``f0, f1, ...``).
        booster_: ``model_.get_booster()``, the :class:`xgboost.Booster` for SHAP.

    NaN is a legal feature value (missing); ``inf`` raises :class:`ValueError`.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int = 4,
        learning_rate: float = 0.1,
        subsample: float = 1.0,
        colsample_bytree: float = 1.0,
        min_child_weight: float = 1.0,
        reg_lambda: float = 1.0,
        random_state: int | None = 0,
        n_jobs: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.device = device

    def __sklearn_tags__(self):  # sklearn's Tags type is private, so no annotation
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        X: npt.ArrayLike,  # noqa: N803 - scikit-learn's naming
        y: npt.ArrayLike,
        sample_weight: npt.ArrayLike | None = None,
    ) -> PainClassifier:
        """Fit on ``X`` (n_samples, n_features) and labels ``y`` (n_samples,).

        ``sample_weight`` (n_samples,) is optional and non-negative. Raises ValueError when
        ``y`` (or the samples with positive weight) holds a single class, when ``X`` contains
        inf, or when the shapes disagree. Returns ``self``.
        """
        X, y = validate_data(  # noqa: N806
            self, X, y, reset=True, dtype=np.float64, ensure_all_finite=False
        )
        _reject_inf(X)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        y_enc = encoder.transform(y)
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(
                sample_weight, X, dtype=np.float64, ensure_non_negative=True
            )
        present = np.unique(y_enc if weight is None else y_enc[weight > 0])
        if present.size < 2:
            where = "" if weight is None else " with positive sample weight"
            raise ValueError(
                f"PainClassifier needs at least two classes in y{where}; got only class "
                f"{self.classes_[present].tolist()!r}. A classifier can't train on one class."
            )
        if present.size < self.classes_.size:
            raise ValueError(
                "every class in y needs a sample with positive sample weight; classes "
                f"{np.setdiff1d(self.classes_, self.classes_[present]).tolist()!r} have none"
            )
        model = xgb.XGBClassifier(**self._xgb_params(self.classes_.size))
        with self._threads():
            model.fit(X, y_enc, sample_weight=weight)
        self.model_ = model
        self.booster_ = model.get_booster()
        return self

    def _threads(self) -> AbstractContextManager[None]:
        """XGBoost's global thread count set to ``n_jobs`` for the duration of a call.

        ``XGBClassifier(n_jobs=...)`` bounds the training threads, but building the DMatrix
        (e.g. setting labels) runs on the global pool of all cores; on a busy machine those
        OpenMP threads contend with other processes (a fit measured 80 ms instead of 11 ms
        on 2 loaded cores).
        """
        n = self.n_jobs if self.n_jobs is not None and self.n_jobs > 0 else 0
        return xgb.config_context(nthread=n)

    def _xgb_params(self, n_classes: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "reg_lambda": self.reg_lambda,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
            "device": self.device,
            "tree_method": "hist",
        }
        if n_classes > 2:
            params.update(objective="multi:softprob", num_class=n_classes)
        else:
            params.update(objective="binary:logistic")
        return params

    # ------------------------------------------------------------------ prediction

    def _check_X(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N802, N803
        check_is_fitted(self)
        X = validate_data(  # noqa: N806
            self, X, reset=False, dtype=np.float64, ensure_all_finite=False
        )
        _reject_inf(X)
        return X

    def decision_function(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N803
        """Raw margins (log-odds), float64: shape (n_samples,) for two classes (positive =
        ``classes_[1]``), (n_samples, n_classes) otherwise."""
        X = self._check_X(X)  # noqa: N806
        with self._threads():
            margin = self.model_.predict(X, output_margin=True)
        return np.asarray(margin, dtype=np.float64)

    def predict_proba(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N803
        """Class probabilities (n_samples, n_classes), float64, columns in ``classes_`` order.

        Computed in float64 from :meth:`decision_function` (sigmoid / softmax), so they rank
        samples exactly as the margins do.
        """
        margin = self.decision_function(X)
        if margin.ndim == 1:
            p1 = expit(margin)
            return np.column_stack([1.0 - p1, p1])
        return softmax(margin, axis=1)

    def predict(self, X: npt.ArrayLike) -> np.ndarray:  # noqa: N803
        """Predicted labels (n_samples,): the class with the largest margin (p > 0.5 for two
        classes)."""
        margin = self.decision_function(X)
        index = (margin > 0).astype(np.intp) if margin.ndim == 1 else margin.argmax(axis=1)
        return self.classes_[index]

    # ------------------------------------------------------------------ saved model

    def save(self, path: str | os.PathLike[str], context: Mapping[str, str] | None = None) -> Path:
        """The fitted model as one JSON file (no pickle): the hyperparameters, the classes,
        the feature names, XGBoost's own JSON model and ``context`` (how the training
        contractions were made, e.g. ``{"segmenter": "kinematic"}``; read back as
        ``context_``), written atomically. Labels must be strings, integers or booleans."""
        check_is_fitted(self)
        classes = self.classes_.tolist()
        if not all(isinstance(c, str | int | bool) for c in classes):
            raise TypeError(f"labels {classes!r} are not all str, int or bool: not saveable")
        names = getattr(self, "feature_names_in_", None)
        document = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "params": self.get_params(),
            "classes": classes,
            "n_features_in": int(self.n_features_in_),
            "feature_names_in": None if names is None else [str(n) for n in names],
            "xgboost": json.loads(bytes(self.booster_.save_raw("json"))),
            "context": {str(k): str(v) for k, v in (context or {}).items()},
        }
        return atomic_write_text(path, json.dumps(document))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PainClassifier:
        """A model written by :meth:`save`; SavedModelError naming the file otherwise."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SavedModelError(f"{path}: cannot read a saved classifier ({exc})") from exc
        if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
            raise SavedModelError(f"{path}: not a {MODEL_FORMAT} file")
        if document.get("version") != MODEL_VERSION:
            raise SavedModelError(
                f"{path}: version {document.get('version')!r}, expected {MODEL_VERSION}"
            )
        try:
            model = cls(**document["params"])
            model.classes_ = np.asarray(document["classes"])
            model.n_features_in_ = int(document["n_features_in"])
            if document["feature_names_in"] is not None:
                model.feature_names_in_ = np.asarray(document["feature_names_in"], dtype=object)
            context = document.get("context", {})  # absent in files saved before it
            if not isinstance(context, dict):
                raise TypeError(f"context is a {type(context).__name__}, not a mapping")
            model.context_ = {str(k): str(v) for k, v in context.items()}
            booster = xgb.XGBClassifier(**model._xgb_params(model.classes_.size))
            booster.load_model(bytearray(json.dumps(document["xgboost"]).encode()))
        except (KeyError, TypeError, ValueError, xgb.core.XGBoostError) as exc:
            raise SavedModelError(f"{path}: malformed saved classifier ({exc})") from exc
        model.model_ = booster
        model.booster_ = booster.get_booster()
        return model


def _reject_inf(X: np.ndarray) -> None:  # noqa: N803
    if np.isinf(X).any():
        rows, cols = np.nonzero(np.isinf(X))
        raise ValueError(
            f"X contains infinite values ({rows.size} entries, first at row {rows[0]}, "
            f"column {cols[0]}); use NaN for a missing feature value, or drop the epoch"
        )
