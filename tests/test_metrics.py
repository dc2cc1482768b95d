"""nmm.metrics against independent implementations (NumPy's corrcoef, scikit-learn)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import mean_squared_error
from sklearn.metrics import r2_score as sk_r2_score

from nmm.metrics import pearson_r, r2_score, rmse

RNG = np.random.default_rng(0)
TRUE = RNG.random(200)
PRED = TRUE + 0.1 * RNG.standard_normal(200)


def test_metrics_match_independent_implementations() -> None:
    assert rmse(PRED, TRUE) == pytest.approx(math.sqrt(mean_squared_error(TRUE, PRED)))
    assert pearson_r(PRED, TRUE) == pytest.approx(np.corrcoef(PRED, TRUE)[0, 1])
    assert r2_score(PRED, TRUE) == pytest.approx(sk_r2_score(TRUE, PRED))


def test_constant_series_give_nan() -> None:
    flat = np.ones(10)
    assert math.isnan(pearson_r(flat, np.arange(10.0)))
    assert math.isnan(r2_score(np.arange(10.0), flat))
    assert rmse(flat, flat) == 0.0
