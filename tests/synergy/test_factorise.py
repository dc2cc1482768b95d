"""NMF and PCA (nmm.synergy.factorise) against scikit-learn, exactly-low-rank data, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import NMF, PCA

from nmm.synergy.factorise import FactorisationError, nmf, pca, vaf


def _low_rank(rng: np.random.Generator, t: int = 800, m: int = 4, k: int = 2) -> np.ndarray:
    c = np.abs(np.sin(np.linspace(0, 6 * np.pi, t)[:, None] * (1 + np.arange(k)) / 2)) ** 2
    w = rng.uniform(0.05, 1.0, (k, m))
    return c @ w


def test_nmf_recovers_exactly_low_rank_data():
    rng = np.random.default_rng(0)
    x = _low_rank(rng)
    f = nmf(x, 2, replicates=5, max_iter=3000, tol=1e-10)
    assert f.vaf > 0.9999
    assert (f.commands >= 0).all() and (f.weights >= 0).all()
    np.testing.assert_allclose(f.weights.sum(axis=1), 1.0)  # SynX's scaling of commands
    np.testing.assert_allclose(f.reconstruct(), x, atol=5e-3 * x.max())
    c, w = f  # unpacks as (commands, weights)
    assert c.shape == (x.shape[0], 2) and w.shape == (2, x.shape[1])


def test_pca_recovers_exactly_low_rank_data_with_its_offset():
    rng = np.random.default_rng(1)
    x = _low_rank(rng, k=2) + rng.uniform(0, 1, 4)  # rank 2 about a constant offset
    f = pca(x, 2)
    np.testing.assert_allclose(f.reconstruct(), x, atol=1e-10)
    np.testing.assert_allclose(f.weights @ f.weights.T, np.eye(2), atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_nmf_fits_as_well_as_sklearn():
    rng = np.random.default_rng(2)
    x = _low_rank(rng, m=4, k=2) + 0.05 * np.abs(rng.normal(size=(800, 4)))
    for k in (1, 2, 3):
        ours = nmf(x, k, replicates=10, max_iter=2000, tol=1e-8)
        sk = NMF(k, init="nndsvda", max_iter=5000, tol=1e-10, random_state=0)
        c = sk.fit_transform(x)
        theirs = vaf(x, c @ sk.components_)
        assert ours.vaf >= theirs - 1e-3, (k, ours.vaf, theirs)


def test_pca_equals_sklearn():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4)) @ rng.normal(size=(4, 4))
    ours = pca(x, 2)
    sk = PCA(2).fit(x)
    np.testing.assert_allclose(np.abs(ours.weights), np.abs(sk.components_), atol=1e-10)
    np.testing.assert_allclose(
        ours.reconstruct(), sk.inverse_transform(sk.transform(x)), atol=1e-10
    )
    # MATLAB's sign convention: the largest loading of each component is positive
    assert all(w[np.argmax(np.abs(w))] > 0 for w in ours.weights)


@pytest.mark.parametrize("fn", [nmf, pca])
def test_bad_input_is_a_clear_error(fn):
    x = np.abs(np.random.default_rng(4).normal(size=(50, 4)))
    with pytest.raises(FactorisationError, match="5 synergies asked for 4 measured"):
        fn(x, 5)
    with pytest.raises(FactorisationError, match="no measured channel"):
        fn(np.zeros((50, 0)), 1)
    bad = x.copy()
    bad[7, 2] = np.nan
    with pytest.raises(FactorisationError, match=r"non-finite.*sample 7, channel 2"):
        fn(bad, 2)
    with pytest.raises(FactorisationError, match="choose 1 <= k"):
        fn(x, 0)


def test_nmf_refuses_negative_values():
    x = np.random.default_rng(5).normal(size=(50, 4))
    with pytest.raises(FactorisationError, match="non-negative"):
        nmf(x, 2)
