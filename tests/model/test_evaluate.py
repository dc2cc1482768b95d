"""Protocol summaries (nmm.model.evaluate.summarise_cells) against direct computations."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from nmm.bootstrap import cluster_bootstrap_ci
from nmm.model.evaluate import DEFAULT_TARGETS, summarise_cells


def _cells() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for s in ["S01", "S02", "S03", "S04", "S05"]:
        for load in (0.0, 2.0, 4.0):
            for m, share in (("BRA", 0.7), ("TRImed", 0.5)):
                base = 0.02 + 0.02 * load / 4 + 0.005 * rng.random()
                rows.append(
                    {
                        "subject": s,
                        "load_kg": load,
                        "muscle": m,
                        "rmse": share * base * (1 + 0.1 * rng.standard_normal()),
                        "pearson_r": 0.95,
                        "r2": 0.8,
                        "torque_r2": 0.99,
                        "baseline_rmse": base,
                        "baseline_pearson_r": 0.93,
                    }
                )
    return rows


def test_summary_ratios_targets_and_subject_bootstrap_intervals() -> None:
    rows = _cells()
    t = np.linspace(0.0, 1.0, 50)
    recs = [SimpleNamespace(torque=np.sin(t), trial=SimpleNamespace(torque=np.sin(t) + 0.01))]
    out = summarise_cells(rows, recs, DEFAULT_TARGETS)
    rmse = np.array([r["rmse"] for r in rows])
    base = np.array([r["baseline_rmse"] for r in rows])
    subjects = np.array([r["subject"] for r in rows])
    assert out["rmse_ratio_to_baseline"] == pytest.approx(rmse.mean() / base.mean())
    low, high = out["rmse_ratio_to_baseline_ci95"]
    assert (low, high) == pytest.approx(
        cluster_bootstrap_ci(rmse, subjects, denominator=base, n_boot=2000, seed=0)
    )
    assert low < out["rmse_ratio_to_baseline"] < high
    bra = out["per_muscle"]["BRA"]
    sel = np.array([r["muscle"] == "BRA" for r in rows])
    assert bra["rmse_ratio_to_baseline"] == pytest.approx(rmse[sel].mean() / base[sel].mean())
    assert bra["rmse_ratio_to_baseline_ci95"][0] < bra["rmse_ratio_to_baseline"]
    # BRA near 0.7 of the baseline misses the 0.6 target, TRImed near 0.5 meets it, and the
    # protocol meets it only when every hidden muscle does
    assert not bra["targets_met"]["rmse_ratio_to_baseline"]
    assert out["per_muscle"]["TRImed"]["targets_met"]["rmse_ratio_to_baseline"]
    assert not out["targets_met"]["rmse_ratio_to_baseline"]
    assert out["targets_met"]["pearson_r"] and out["targets_met"]["torque_r2"]
