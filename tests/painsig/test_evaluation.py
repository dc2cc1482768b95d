"""Tests for the classifier's evaluation (painsig.cv, .metrics, .intervals, .permutation,
.split_inflation, .evaluation, .figures): grouped CV, metrics, cluster bootstrap, permutation
chance level, the random-split leak of Becker et al. (2026), reports and figures."""

# ruff: noqa: N806 - X, X_inf, ... follow scikit-learn's naming of the feature matrix

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.exceptions import NotFittedError
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    recall_score,
    roc_auc_score,
)

from painsig import permutation
from painsig.classifier import PainClassifier
from painsig.cv import grouped_cross_validate
from painsig.evaluation import evaluate
from painsig.figures import plot_confusion_matrix
from painsig.intervals import bootstrap_ci, fraction_classified_positive
from painsig.metrics import METRIC_NAMES, binary_metrics
from painsig.permutation import permutation_chance_level
from painsig.split_inflation import random_split_inflation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_model() -> PainClassifier:
    return PainClassifier(n_estimators=30, max_depth=3, n_jobs=1)


def cohort(
    seed: int,
    *,
    n_subjects: int = 12,
    per_subject: int = 30,
    n_features: int = 4,
    design: str = "within",
    shift: float = 0.0,
    fingerprint: float = 2.0,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Synthetic epochs: every subject adds its own offset (fingerprint, SD ``fingerprint``)
    to every feature, plus unit noise; ``shift`` moves feature 0 of painful epochs.

    ``design="within"``: each subject has half painful, half non-painful epochs (pre/post).
    ``design="between"``: each subject has a single label, half the subjects painful.
    """
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), per_subject)
    if design == "within":
        half = np.r_[np.zeros(per_subject // 2), np.ones(per_subject - per_subject // 2)]
        y = np.concatenate([rng.permutation(half) for _ in range(n_subjects)]).astype(int)
    else:
        half = np.r_[np.zeros(n_subjects // 2), np.ones(n_subjects - n_subjects // 2)]
        y = rng.permutation(half).astype(int)[groups]
    offsets = rng.normal(0.0, fingerprint, size=(n_subjects, n_features))
    X = offsets[groups] + rng.normal(size=(groups.size, n_features))
    X[:, 0] += shift * y
    columns = [f"f{j}" for j in range(n_features)]
    return pd.DataFrame(X, columns=columns), y, groups


# --------------------------------------------------------------------------- folds


@pytest.mark.parametrize("scheme", ["logo", "group_kfold"])
def test_grouped_folds_keep_subjects_apart(scheme):
    X, y, g = cohort(0, n_subjects=8, per_subject=20)
    cv = grouped_cross_validate(small_model(), X, y, g, scheme, n_splits=4)
    assert len(cv.folds) == (8 if scheme == "logo" else 4)
    for fold in cv.folds:
        assert not set(fold.train_subjects) & set(fold.test_subjects)
        assert fold.shared_subjects == ()
        assert fold.to_dict()["n_shared_subjects"] == 0
        assert fold.n_train + fold.n_test == y.size
        assert sum(fold.test_class_counts.values()) == fold.n_test
        assert sum(fold.train_class_counts.values()) == fold.n_train
        if scheme == "logo":
            assert len(fold.test_subjects) == 1
    # Every sample tested exactly once, every subject in exactly one test fold.
    np.testing.assert_array_equal(cv.sample_index, np.arange(y.size))
    tested = [s for fold in cv.folds for s in fold.test_subjects]
    assert sorted(tested) == list(range(8))
    np.testing.assert_array_equal(cv.y_true, y)
    np.testing.assert_array_equal(cv.groups, g)
    # Class counts summed over test folds equal the data's.
    for label in (0, 1):
        assert sum(f.test_class_counts[label] for f in cv.folds) == int((y == label).sum())


def test_random_split_is_the_papers_leaky_split():
    X, y, g = cohort(1, n_subjects=6, per_subject=50)
    cv = grouped_cross_validate(small_model(), X, y, g, "random", random_state=3)
    (fold,) = cv.folds
    assert fold.n_test == 90 and fold.n_train == 210  # 70/30 of 300
    assert set(fold.shared_subjects) == set(range(6))  # every subject on both sides
    assert fold.test_class_counts == {0: 45, 1: 45}  # stratified
    assert cv.y_true.size == 90
    assert np.all(np.diff(cv.sample_index) > 0)


def test_pooled_metrics_match_sklearn():
    X, y, g = cohort(2, shift=1.5, fingerprint=1.0)
    cv = grouped_cross_validate(small_model(), X, y, g, "logo")
    m = cv.metrics
    assert m["accuracy"] == pytest.approx(accuracy_score(cv.y_true, cv.y_pred), abs=1e-12)
    assert m["balanced_accuracy"] == pytest.approx(
        balanced_accuracy_score(cv.y_true, cv.y_pred), abs=1e-12
    )
    assert m["sensitivity"] == pytest.approx(
        recall_score(cv.y_true, cv.y_pred, pos_label=1), abs=1e-12
    )
    assert m["specificity"] == pytest.approx(
        recall_score(cv.y_true, cv.y_pred, pos_label=0), abs=1e-12
    )
    assert m["roc_auc"] == pytest.approx(roc_auc_score(cv.y_true, cv.y_score), abs=1e-12)
    # The scores are the probabilities that gave the predictions.
    np.testing.assert_array_equal(cv.y_pred == 1, cv.y_score > 0.5)


def test_binary_metrics_ties_single_class_and_string_labels():
    yt = np.array(["pain", "pain", "pre", "pre", "pre"])
    yp = np.array(["pain", "pre", "pre", "pre", "pain"])
    ys = np.array([0.9, 0.5, 0.5, 0.1, 0.5])  # ties between classes count 1/2
    m = binary_metrics(yt, yp, ys, "pain")
    assert m["sensitivity"] == 0.5 and m["specificity"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(yt == "pain", ys))
    one = binary_metrics(np.ones(4), np.array([1, 0, 1, 1]), np.full(4, 0.7), 1)
    assert one["sensitivity"] == 0.75 and one["accuracy"] == 0.75
    assert math.isnan(one["specificity"]) and math.isnan(one["balanced_accuracy"])
    assert math.isnan(one["roc_auc"])


def test_loso_single_class_folds_have_no_balanced_accuracy():
    X, y, g = cohort(3, n_subjects=6, design="between")
    cv = grouped_cross_validate(small_model(), X, y, g, "logo")
    for fold in cv.folds:
        assert math.isnan(fold.metrics["balanced_accuracy"])
        assert math.isnan(fold.metrics["roc_auc"])
        assert fold.to_dict()["balanced_accuracy"] is None
    assert math.isfinite(cv.metrics["balanced_accuracy"])  # pooled is defined


# --------------------------------------------------------------------------- chance and leak


def test_no_signal_scores_at_chance_under_grouped_cv():
    """Subject fingerprints but labels unrelated to the features: grouped CV is at chance
    and the permutation test does not reject."""
    X, y, g = cohort(4, design="within", fingerprint=2.0)
    for scheme in ("logo", "group_kfold"):
        cv = grouped_cross_validate(small_model(), X, y, g, scheme)
        ba = cv.metrics["balanced_accuracy"]
        assert 0.35 < ba < 0.65, (scheme, ba)
    perm = permutation_chance_level(small_model(), X, y, g, "group_kfold", n_permutations=19)
    assert perm.strategy == "within_subjects"
    assert perm.null.shape == (19,)
    assert abs(perm.chance_level - 0.5) < 0.1
    assert perm.p_value > 0.05
    assert perm.p_value == (1 + np.sum(perm.null >= perm.observed)) / 20


def test_random_split_leaks_subject_identity():
    """Labels constant within subject, features carry only a subject fingerprint: the
    paper's random split scores far above chance, grouped CV does not, and a
    subject-level permutation test of the random split sees through the leak."""
    X, y, g = cohort(0, design="between", n_features=5, fingerprint=3.0)
    out = random_split_inflation(small_model(), X, y, g, "group_kfold", n_splits=4)
    assert out["random_balanced_accuracy"] > 0.85
    assert out["grouped_balanced_accuracy"] < 0.7
    assert out["inflation"] > 0.25
    assert out["inflation"] == pytest.approx(
        out["random_balanced_accuracy"] - out["grouped_balanced_accuracy"]
    )
    json.dumps(out, allow_nan=False)
    perm = permutation_chance_level(small_model(), X, y, g, "random", n_permutations=19)
    assert perm.strategy == "between_subjects"
    assert perm.observed == pytest.approx(out["random_balanced_accuracy"])
    assert perm.chance_level > 0.75  # the leak makes "chance" high under the random split
    assert perm.p_value > 0.05


def test_real_signal_detected_by_loso_report():
    X, y, g = cohort(1, design="within", shift=1.5, fingerprint=1.0)
    report = evaluate(small_model(), X, y, g, "logo", n_boot=200, n_permutations=19)
    json.dumps(report, allow_nan=False)
    for key in (
        "cv", "n_samples", "n_subjects", "class_counts", "accuracy", "balanced_accuracy",
        "balanced_accuracy_ci", "sensitivity", "specificity", "roc_auc", "roc_auc_ci",
        "chance_level", "permutation_p_value", "per_fold",
    ):  # fmt: skip
        assert key in report, key
    assert report["cv"] == "logo" and report["n_subjects"] == 12
    assert report["n_samples"] == report["n_evaluated"] == 360
    assert report["class_counts"] == {"0": 180, "1": 180}
    assert report["balanced_accuracy"] > 0.6
    low, high = report["balanced_accuracy_ci"]
    assert 0.5 < low <= report["balanced_accuracy"] <= high
    assert report["roc_auc_ci"][0] > 0.5
    for name in METRIC_NAMES:
        lo, hi = report[f"{name}_ci"]
        assert lo <= report[name] <= hi, name
    assert report["permutation_p_value"] == pytest.approx(1 / 20)
    assert abs(report["chance_level"] - 0.5) < 0.1
    assert len(report["per_fold"]) == 12
    for fold in report["per_fold"]:
        assert len(fold["test_subjects"]) == 1
        assert not set(fold["train_subjects"]) & set(fold["test_subjects"])
    assert report["hyperparameters"]["n_estimators"] == 30


# --------------------------------------------------------------------------- bootstrap


def _predictions(seed: int, n_subjects: int = 10, per: int = 20):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects), per)
    y = np.tile(np.r_[np.zeros(per // 2), np.ones(per // 2)], n_subjects).astype(int)
    skill = rng.normal(0.5, 1.0, size=n_subjects)[groups]  # subject-correlated quality
    score = 1 / (1 + np.exp(-(skill * (2 * y - 1) + rng.normal(size=y.size))))
    score = np.round(score, 2)  # ties
    return y, (score > 0.5).astype(int), score, groups


@pytest.mark.parametrize(
    ("metric", "fn"),
    [
        ("balanced_accuracy", lambda t, p, s: balanced_accuracy_score(t, p)),
        ("accuracy", lambda t, p, s: accuracy_score(t, p)),
        ("sensitivity", lambda t, p, s: recall_score(t, p)),
        ("roc_auc", lambda t, p, s: roc_auc_score(t, s)),
    ],
)
def test_fast_cluster_bootstrap_equals_resampling_with_sklearn(metric, fn):
    y, pred, score, groups = _predictions(5)
    fast = bootstrap_ci(y, pred, score, groups, metric, n_boot=150, random_state=7)
    slow = bootstrap_ci(y, pred, score, groups, fn, n_boot=150, random_state=7)
    np.testing.assert_allclose(fast.distribution, slow.distribution, rtol=0, atol=1e-12)
    assert fast.estimate == pytest.approx(slow.estimate, abs=1e-12)
    assert (fast.low, fast.high) == pytest.approx((slow.low, slow.high), abs=1e-12)
    assert fast.low <= fast.estimate <= fast.high
    assert fast.n_valid == 150


def test_cluster_bootstrap_wider_than_iid_when_subjects_correlate():
    y, pred, score, groups = _predictions(6)
    cluster = bootstrap_ci(y, pred, score, groups, n_boot=400)
    iid = bootstrap_ci(y, pred, score, np.arange(y.size), n_boot=400)
    assert cluster.high - cluster.low > 1.5 * (iid.high - iid.low)
    again = bootstrap_ci(y, pred, score, groups, n_boot=400)
    assert (again.low, again.high) == (cluster.low, cluster.high)  # seeded


def test_bootstrap_drops_undefined_replicates_with_warning():
    # Two subjects, one per class: half the replicates draw a single class.
    y = np.r_[np.zeros(10), np.ones(10)].astype(int)
    groups = np.r_[np.zeros(10), np.ones(10)]
    with pytest.warns(RuntimeWarning, match="replicates"):
        ci = bootstrap_ci(y, y, y.astype(float), groups, n_boot=100)
    assert 0 < ci.n_valid < 100
    assert ci.distribution.size == ci.n_valid


# --------------------------------------------------------------------------- permutation


def test_permutations_respect_the_design():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), [3, 4, 5, 3, 4, 5])
    between = np.array([0, 1, 1, 0, 0, 1])[groups]
    within = rng.integers(0, 2, groups.size)
    assert permutation._permutation_strategy(between, groups) == "between_subjects"
    assert permutation._permutation_strategy(within, groups) == "within_subjects"
    changed = False
    for _ in range(20):
        p = permutation._permute_labels(between, groups, "between_subjects", rng)
        per_subject = [np.unique(p[groups == s]) for s in range(6)]
        assert all(u.size == 1 for u in per_subject)
        assert sorted(int(u[0]) for u in per_subject) == [0, 0, 0, 1, 1, 1]
        q = permutation._permute_labels(within, groups, "within_subjects", rng)
        for s in range(6):
            assert np.sort(q[groups == s]).tolist() == np.sort(within[groups == s]).tolist()
        changed |= not np.array_equal(q, within)
    assert changed


# --------------------------------------------------------------------------- placebo


def test_fraction_classified_positive():
    X, y, _ = cohort(2, shift=1.5, fingerprint=1.0)
    model = small_model().fit(X, y)
    X3, _, g3 = cohort(9, n_subjects=5, shift=0.0, fingerprint=1.0)
    out = fraction_classified_positive(model, X3, g3 + 100, n_boot=300)
    json.dumps(out, allow_nan=False)
    expected = float(np.mean(model.predict(X3) == 1))
    assert out["fraction"] == pytest.approx(expected)
    assert out["ci"][0] <= out["fraction"] <= out["ci"][1]
    assert out["n_subjects"] == 5 and out["n_samples"] == 150 and out["pos_label"] == 1
    assert np.mean(list(out["per_subject"].values())) == pytest.approx(expected)
    with pytest.raises(NotFittedError):
        fraction_classified_positive(small_model(), X3, g3)
    with pytest.raises(ValueError, match="groups_third"):
        fraction_classified_positive(model, X3, g3[:-1])


# --------------------------------------------------------------------------- bad input


def test_bad_input_raises_clear_errors():
    X, y, g = cohort(0, n_subjects=4, per_subject=10)
    model = small_model()
    with pytest.raises(ValueError, match="exactly two classes"):
        grouped_cross_validate(model, X, np.ones_like(y), g)
    with pytest.raises(ValueError, match="groups has 39 entries but X has 40 rows"):
        grouped_cross_validate(model, X, y, g[:-1])
    with pytest.raises(ValueError, match="y has 39"):
        evaluate(model, X, y[:-1], g)
    X_inf = X.copy()
    X_inf.iloc[3, 2] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        grouped_cross_validate(model, X_inf, y, g)
    with pytest.raises(ValueError, match="pos_label"):
        grouped_cross_validate(model, X, np.where(y == 1, "pain", "pre"), g)
    with pytest.raises(ValueError, match="scheme"):
        grouped_cross_validate(model, X, y, g, "kfold")
    with pytest.raises(ValueError, match="n_splits"):
        grouped_cross_validate(model, X, y, g, "group_kfold", n_splits=5)
    with pytest.raises(ValueError, match="grouped scheme"):
        random_split_inflation(model, X, y, g, "random")
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(y, y, y, g, confidence=95)


def test_string_labels_with_pos_label():
    X, y, g = cohort(2, n_subjects=6, shift=2.0, fingerprint=0.5)
    labels = np.where(y == 1, "pain", "pre")
    cv = grouped_cross_validate(small_model(), X, labels, g, "logo", pos_label="pain")
    assert cv.pos_label == "pain"
    assert cv.metrics["roc_auc"] == pytest.approx(roc_auc_score(cv.y_true == "pain", cv.y_score))
    assert cv.metrics["balanced_accuracy"] > 0.7


# --------------------------------------------------------------------------- figures


def test_confusion_matrix_png_atomic(tmp_path: Path):
    path = tmp_path / "figs" / "cm.png"
    y = np.array([0, 0, 1, 1, 1])
    out = plot_confusion_matrix(y, np.array([0, 1, 1, 1, 0]), [0, 1], path)
    assert out == path
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    first = path.read_bytes()
    plot_confusion_matrix(y, y, [0, 1], path, display_labels=["pre", "pain"], title="t")
    assert path.read_bytes()[:8] == PNG_SIGNATURE and path.read_bytes() != first
    assert [p.name for p in path.parent.iterdir()] == ["cm.png"]


def test_failed_save_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch):
    path = tmp_path / "cm.png"
    path.write_bytes(b"old")

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Figure, "savefig", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        plot_confusion_matrix([0, 1], [0, 1], [0, 1], path)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cm.png"]
