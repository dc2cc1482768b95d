"""Tests for painsig.explain: TreeSHAP values against XGBoost's own contributions and a
brute-force Shapley computation, the summary table and the figures."""

# ruff: noqa: N806 - X, X_inf, ... follow scikit-learn's naming of the feature matrix

from __future__ import annotations

import itertools
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from painsig.classifier import PainClassifier
from painsig.explain import plot_shap_bar, plot_shap_beeswarm, shap_summary_table, shap_values

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _data(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``int`` pushes towards pain, ``peak`` (weaker) away from it, the rest is noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=["peak", "int", "var", "apen"])
    logit = 2.5 * X["int"] - 1.0 * X["peak"] + 0.5 * rng.normal(size=n)
    return X, (logit > 0).astype(int).to_numpy()


@pytest.fixture(scope="module")
def fitted() -> tuple[PainClassifier, pd.DataFrame]:
    X, y = _data()
    X.iloc[::13, 2] = np.nan  # missing values follow XGBoost's default directions
    return PainClassifier(n_estimators=40, max_depth=3).fit(X, y), X


def test_shap_equals_xgboost_pred_contribs(fitted):
    model, X = fitted
    values, expected = shap_values(model, X)
    assert values.shape == X.shape and values.dtype == np.float64
    contribs = model.booster_.predict(xgb.DMatrix(X.to_numpy()), pred_contribs=True)
    np.testing.assert_allclose(values, contribs[:, :-1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(contribs[:, -1], expected, rtol=0, atol=1e-5)
    # Local accuracy: contributions plus the expectation give the margin.
    np.testing.assert_allclose(
        values.sum(axis=1) + expected, model.decision_function(X), rtol=0, atol=1e-5
    )


def _tree_expectation(tree: pd.DataFrame, x: np.ndarray, known: frozenset[int]) -> float:
    """E[tree(x) | x_S] the TreeSHAP way: follow x on features in ``known``, otherwise average
    the children weighted by their cover."""
    nodes = tree.set_index("ID")

    def walk(node_id: str) -> float:
        node = nodes.loc[node_id]
        if node["Feature"] == "Leaf":
            return float(node["Gain"])
        j = int(node["Feature"][1:])
        if j in known:
            value = x[j]
            if np.isnan(value):
                return walk(node["Missing"])
            go_yes = np.float32(value) < np.float32(node["Split"])
            return walk(node["Yes"] if go_yes else node["No"])
        yes, no = nodes.loc[node["Yes"]], nodes.loc[node["No"]]
        total = yes["Cover"] + no["Cover"]
        return (yes["Cover"] * walk(node["Yes"]) + no["Cover"] * walk(node["No"])) / total

    return walk(f"{int(tree['Tree'].iloc[0])}-0")


def test_shap_equals_brute_force_shapley():
    """Independent of shap and of XGBoost's pred_contribs: exact Shapley values of the
    cover-weighted conditional expectation, by enumerating all feature subsets."""
    X, y = _data(200, seed=1)
    X = X.iloc[:, :3]
    model = PainClassifier(n_estimators=4, max_depth=2).fit(X, y)
    trees = [t for _, t in model.booster_.trees_to_dataframe().groupby("Tree")]
    values, expected = shap_values(model, X.iloc[:5])
    n_feat = X.shape[1]
    everything = frozenset(range(n_feat))
    for i in range(5):
        x = X.to_numpy()[i]

        def v(subset: frozenset[int], x=x) -> float:
            return sum(_tree_expectation(t, x, subset) for t in trees)

        base = model.decision_function(X.iloc[[i]])[0] - v(everything)
        assert v(frozenset()) + base == pytest.approx(expected, abs=1e-5)
        for j in range(n_feat):
            others = [k for k in range(n_feat) if k != j]
            phi = 0.0
            for size in range(n_feat):
                weight = math.factorial(size) * math.factorial(n_feat - size - 1)
                weight /= math.factorial(n_feat)
                for subset in itertools.combinations(others, size):
                    s = frozenset(subset)
                    phi += weight * (v(s | {j}) - v(s))
            assert values[i, j] == pytest.approx(phi, abs=1e-5), (i, j)


def test_summary_table_ranks_and_directions(fitted):
    model, X = fitted
    values, _ = shap_values(model, X)
    table = shap_summary_table(values, X)
    assert list(table.index[:2]) == ["int", "peak"]
    assert table.index.name == "feature"
    assert list(table["rank"]) == [1, 2, 3, 4]
    assert table["share"].sum() == pytest.approx(1.0)
    assert (np.diff(table["mean_abs_shap"].to_numpy()) <= 0).all()
    np.testing.assert_allclose(
        table.loc[X.columns, "mean_abs_shap"], np.abs(values).mean(axis=0), rtol=1e-12
    )
    assert table.loc["int", "direction"] == "higher → pain"
    assert table.loc["peak", "direction"] == "higher → no pain"
    assert table.loc["int", "spearman_rho"] > 0.8
    assert table.loc["int", "share"] > 0.5
    named = shap_summary_table(
        values, X.to_numpy(), feature_names=list(X.columns), positive="post", negative="pre"
    )
    assert named.loc["peak", "direction"] == "higher → pre"
    default = shap_summary_table(values, X.to_numpy())
    assert default.index[0] == "x1"


def test_summary_table_constant_feature_has_no_direction():
    values = np.column_stack([np.linspace(-1, 1, 20), np.zeros(20)])
    X = np.column_stack([np.linspace(0, 1, 20), np.ones(20)])
    table = shap_summary_table(values, X)
    assert table.loc["x1", "direction"] == "none"
    assert math.isnan(table.loc["x1", "spearman_rho"])
    assert table.loc["x0", "share"] == 1.0


def test_plots_are_pngs_written_atomically(fitted, tmp_path: Path):
    model, X = fitted
    values, _ = shap_values(model, X)
    open_before = plt.get_fignums()
    bee = plot_shap_beeswarm(values, X, tmp_path / "out" / "beeswarm.png", title="SHAP")
    bar = plot_shap_bar(values, X, tmp_path / "out" / "bar.png")
    for path in (bee, bar):
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        assert path.stat().st_size > 5000
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bar.png", "beeswarm.png"]
    assert plt.get_fignums() == open_before  # nothing left open in pyplot


def test_shape_mismatch_and_multiclass(fitted):
    model, X = fitted
    values, _ = shap_values(model, X)
    with pytest.raises(ValueError, match="shape"):
        shap_summary_table(values[:-1], X)
    with pytest.raises(ValueError, match="feature names"):
        shap_summary_table(values, X, feature_names=["a"])
    y3 = np.digitize(X["int"], [-0.5, 0.5])
    multi = PainClassifier(n_estimators=10, max_depth=2).fit(X, y3)
    v3, e3 = shap_values(multi, X)
    assert v3.shape == (*X.shape, 3) and e3.shape == (3,)
    np.testing.assert_allclose(v3.sum(axis=1) + e3, multi.decision_function(X), atol=1e-5)
    with pytest.raises(ValueError, match="binary"):
        shap_summary_table(v3, X)
