"""The feature table joins per-channel features with who/when columns, per subject MVIC."""

from __future__ import annotations

import numpy as np
import pytest

from painsig.features import approximate_entropy, variance
from painsig.segment import Epoch
from painsig.table import META_COLUMNS, feature_columns, feature_table


def epoch(subject, values, condition="pain", start=0.0):
    values = np.asarray(values, dtype=float)
    return Epoch(
        subject,
        "t1",
        "1",
        condition,
        start,
        start + len(values) / 100.0,
        values,
        ("BIClong", "TRIlong"),
        100.0,
    )


def test_columns_values_and_per_subject_mvic():
    rng = np.random.default_rng(0)
    eps = [epoch("S01", rng.random((80, 2))), epoch("S02", 2 * rng.random((90, 2)), "baseline")]
    table = feature_table(
        eps,
        mvic={"S01": {"BIClong": 2.0, "TRIlong": 1.0}, "S02": {"BIClong": 4.0, "TRIlong": 1.0}},
        names=["var", "peak", "apen"],
    )
    assert list(table.columns) == [
        *META_COLUMNS,
        "BIClong_var",
        "BIClong_peak",
        "BIClong_apen",
        "TRIlong_var",
        "TRIlong_peak",
        "TRIlong_apen",
    ]
    assert feature_columns(table)[0] == "BIClong_var"
    x = eps[1].values[:, 0]
    assert table.loc[1, "BIClong_var"] == pytest.approx(variance(x))
    assert table.loc[1, "BIClong_peak"] == pytest.approx(np.max(np.abs(x)) / 4.0)
    assert table.loc[1, "BIClong_apen"] == pytest.approx(approximate_entropy(x))
    assert table.loc[1, "condition"] == "baseline"
    assert table.loc[0, "duration_s"] == pytest.approx(0.8)


def test_epoch_invalid_on_one_channel_is_dropped_everywhere(caplog):
    good = np.random.default_rng(1).random((50, 2))
    bad = good.copy()
    bad[10, 1] = np.nan
    table = feature_table([epoch("S01", good), epoch("S01", bad)], names=["var", "rms"])
    assert list(table.index) == [0]
    assert "dropped" in caplog.text


def test_no_epochs_and_missing_mvic_are_errors():
    with pytest.raises(ValueError, match="no epochs"):
        feature_table([])
    with pytest.raises(ValueError, match="no MVIC reference for subject 'S01'"):
        feature_table([epoch("S01", np.ones((30, 2)))], mvic={"S02": {}}, names=["peak"])
