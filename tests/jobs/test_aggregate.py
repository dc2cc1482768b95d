"""nmm-aggregate on sweep folders written here: grouping by the non-seed overrides, Student-t
intervals checked against scipy, failures and their reasons, single-run folders."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from nmm.jobs.aggregate import aggregate, flatten_metrics, parse_overrides, t_interval


def write_job(sweep: Path, num: int, overrides: list[str], metrics: dict | None) -> Path:
    """A job folder as Hydra and nmm.jobs.sweep leave it."""
    job = sweep / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    return job


def scipy_interval(values, level):
    x = np.asarray(values, float)
    return stats.t.interval(level, x.size - 1, loc=x.mean(), scale=stats.sem(x))


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [0.12, 0.15, 0.11, 0.19, 0.14], [5.0, 5.5]])
def test_t_interval_equals_scipy(values, level):
    mean, low, high, n = t_interval(values, level)
    ref_low, ref_high = scipy_interval(values, level)
    assert n == len(values) and mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx((ref_low, ref_high), rel=1e-12)


def test_t_interval_by_hand_and_edge_cases():
    # [1, 2, 3]: mean 2, s 1, t_{0.975, 2} = 4.302653 -> 2 ± 4.302653/√3
    mean, low, high, _ = t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    mean, low, high, n = t_interval([0.7, math.nan])  # NaN values are not runs
    assert (mean, n) == (0.7, 1) and math.isnan(low) and math.isnan(high)
    assert t_interval([])[3] == 0


def test_overrides_parse_with_hydra_grammar():
    got = parse_overrides(["subject=S01", "+local=cluster", "subjects=[S01,S02]", "seed=2"])
    assert got == {"subject": "S01", "local": "cluster", "subjects": "[S01,S02]", "seed": "2"}


def test_default_metrics_are_numbers_two_levels_deep():
    metrics = {
        "seed": 1,
        "status": "completed",
        "balanced_accuracy": 0.8,
        "targets_met": True,
        "loso": {"hidden_rmse_mean": 0.05, "per_muscle": {"BRA": {"rmse": 0.1}}, "ok": False},
        "job": {"num": 3},
    }
    assert flatten_metrics(metrics) == {"balanced_accuracy": 0.8, "loso.hidden_rmse_mean": 0.05}
    chosen = flatten_metrics(metrics, ["loso.per_muscle.BRA.rmse", "missing.key"])
    assert chosen["loso.per_muscle.BRA.rmse"] == 0.1 and math.isnan(chosen["missing.key"])


def test_sweep_summary_groups_over_seeds_and_lists_failures(tmp_path):
    sweep = tmp_path / "multirun" / "2026-01-01_00-00-00"
    rmse = {("S01", 0): 0.10, ("S01", 1): 0.12, ("S01", 2): 0.17, ("S02", 0): 0.30}
    num = 0
    for (subject, seed), value in rmse.items():
        metrics = {"seed": seed, "status": "completed", "loso": {"hidden_rmse_mean": value}}
        write_job(sweep, num, ["fold=loso", f"subject={subject}", f"seed={seed}"], metrics)
        num += 1
    failed = {"status": "failed", "error": "ValueError: subjects=['S09'] not in the cohort"}
    write_job(sweep, num, ["fold=loso", "subject=S09", "seed=0"], failed)
    write_job(sweep, num + 1, ["fold=loso", "subject=S02", "seed=1"], None)  # killed

    result = aggregate(sweep, seed_key="seed", ci=0.95)
    out = sweep / "aggregate"
    assert result["n_jobs"] == 6 and result["n_completed"] == 4 and result["n_failed"] == 2
    assert result["group_by"] == ["subject"]
    reasons = {f["job"]: f["reason"] for f in result["failed"]}
    assert reasons["4"].startswith("ValueError: subjects=['S09']")
    assert "no metrics.json" in reasons["5"]

    with (out / "summary.csv").open() as f:
        rows = {r["subject"]: r for r in csv.DictReader(f)}
    s01 = rows["S01"]
    ref_low, ref_high = scipy_interval([0.10, 0.12, 0.17], 0.95)
    assert float(s01["loso.hidden_rmse_mean.mean"]) == pytest.approx(0.13)
    assert float(s01["loso.hidden_rmse_mean.ci_low"]) == pytest.approx(ref_low)
    assert float(s01["loso.hidden_rmse_mean.ci_high"]) == pytest.approx(ref_high)
    assert (s01["n_runs"], s01["n_failed"]) == ("3", "0")
    s02 = rows["S02"]  # one completed run: a mean, no interval; its killed twin counted failed
    assert float(s02["loso.hidden_rmse_mean.mean"]) == pytest.approx(0.30)
    assert s02["loso.hidden_rmse_mean.ci_low"] == "" and (s02["n_runs"], s02["n_failed"]) == (
        "1",
        "1",
    )
    assert rows["S09"]["n_runs"] == "0"

    with (out / "runs.csv").open() as f:
        runs = list(csv.DictReader(f))
    assert [r["job"] for r in runs] == ["0", "1", "2", "3", "4", "5"]
    assert runs[2]["seed"] == "2" and float(runs[2]["loso.hidden_rmse_mean"]) == 0.17
    md = (out / "summary.md").read_text()
    assert "Common overrides: `fold=loso`" in md and "| 4 | fold=loso subject=S09" in md
    figure = out / "figures" / "loso.hidden_rmse_mean.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "aggregate.json").read_text())["n_failed"] == 2
    # run again: the aggregate folder is not taken for a job
    assert aggregate(sweep)["n_jobs"] == 6


def test_single_run_folders_take_their_differing_config_keys(tmp_path):
    for name, window in (("a", 0.5), ("b", 1.0)):
        run = tmp_path / name
        run.mkdir()
        config = {"seed": 0, "run_dir": str(run), "model": {"window_s": window, "d_model": 16}}
        (run / "config.yaml").write_text(yaml.safe_dump(config))
        (run / "metrics.json").write_text(json.dumps({"per_subject": {"torque_r2": window}}))
    result = aggregate(tmp_path, out_dir=tmp_path / "agg", figures=False)
    assert result["group_by"] == ["model.window_s"] and result["n_completed"] == 2
    with (tmp_path / "agg" / "summary.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["model.window_s"] for r in rows] == ["0.5", "1.0"]


def test_missing_sweep_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        aggregate(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no job folders"):
        aggregate(tmp_path)
