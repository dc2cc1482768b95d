"""An `nmm-compare` sweep sent to a real SLURM cluster through `hydra/launcher=slurm`: its
`nmm-aggregate` summary equals the same sweep run by Hydra's basic launcher in one process, a
job that fails is reported while the others finish, and the sweep's log says once, not at every
poll, that the cluster keeps no accounting."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from nmm.jobs.aggregate import aggregate
from nmm.jobs.slurm_polling import accounting_error
from tests.jobs.conftest import job_metrics, run_app

from .conftest import finish, running, slurm_launcher, train_fast

# two jobs that complete and one that fails (its seed is refused by the config check)
SEEDS = "seed=0,1,-1"


def compare_fast(geometry_cache: Path) -> list[str]:
    """nmm-compare on one subject with the tiny NMM: seconds per job, every stage run (one
    figure per method and protocol: the default six took a third of a job's time)."""
    fast = [o for o in train_fast(geometry_cache) if o != "evaluate.write_outputs=false"]
    return [
        *fast,
        "evaluate.max_figures=1",
        "subject=S02",
        "mse.steps=5",
        "mse.nmf.replicates=2",
        "compare.n_boot=100",
        "compare.max_overlays=1",
    ]


@pytest.fixture(scope="module")
def sweeps(slurm_partition, geometry_cache, tmp_path_factory) -> dict[str, Path | str]:
    """The sweep on SLURM and with the basic launcher, started together; their folders and the
    SLURM sweep's log (the launching process's output)."""
    root = tmp_path_factory.mktemp("sweeps")
    args = ["-m", SEEDS, *compare_fast(geometry_cache)]
    slurm, basic = root / "slurm", root / "basic"
    name = f"nmm-test-{root.name}"
    with running(name) as start:
        procs = {
            "slurm": start(
                "scripts.compare",
                [*args, *slurm_launcher(slurm_partition, name), f"hydra.sweep.dir={slurm}"],
                root,
                root / "slurm.log",
            ),
            "basic": start(
                "scripts.compare", [*args, f"hydra.sweep.dir={basic}"], root, root / "basic.log"
            ),
        }
        logs = {k: finish(p, root / f"{k}.log", timeout_s=240) for k, p in procs.items()}
    return {"slurm": slurm, "basic": basic, "slurm_log": logs["slurm"]}


def _summary_without_times(sweep: Path) -> list[dict[str, str]]:
    """summary.csv of ``aggregate`` without the wall-time columns (which differ run to run)."""
    aggregate(sweep, figures=False)
    text = (sweep / "aggregate" / "summary.csv").read_text()
    return [
        {k: v for k, v in row.items() if "wall_s" not in k}
        for row in csv.DictReader(io.StringIO(text))
    ]


@pytest.mark.slow
def test_the_slurm_sweep_summary_equals_the_basic_launchers(sweeps):
    metrics = job_metrics(sweeps["slurm"])
    # each job ran as a task of one SLURM job array (submitit's ids <array>_<task>)
    array_ids = {m["job"]["id"].split("_")[0] for m in metrics.values()}
    assert len(array_ids) == 1 and all("_" in m["job"]["id"] for m in metrics.values())
    slurm, basic = _summary_without_times(sweeps["slurm"]), _summary_without_times(sweeps["basic"])
    assert len(slurm) == 1 and slurm[0]["n_runs"] == "2"
    assert float(slurm[0]["nmm.hidden_rmse_mean.mean"]) > 0  # metrics, not empty cells
    assert slurm == basic


@pytest.mark.slow
def test_a_failed_job_is_reported_while_the_others_finish(sweeps, tmp_path):
    metrics = job_metrics(sweeps["slurm"])
    assert [metrics[j]["status"] for j in ("0", "1", "2")] == ["completed", "completed", "failed"]
    proc = run_app("scripts.aggregate", [f"sweep_dir={sweeps['slurm']}", "figures=false"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "3 jobs, 2 completed, 1 failed" in proc.stdout
    assert "failed 2: ConfigError: config key 'seed': -1" in proc.stdout


@pytest.mark.slow
def test_polling_without_accounting_says_so_once(sweeps):
    log = sweeps["slurm_log"]
    sacct_lines = [line for line in log.splitlines() if "sacct" in line]
    assert "Bypassing" not in log  # submitit's warning at every failed sacct poll
    if accounting_error() is None:  # a cluster with accounting: submitit's own polling
        assert not sacct_lines, "\n".join(sacct_lines)
        return
    assert len(sacct_lines) == 1, "\n".join(sacct_lines)
    assert "followed with squeue" in sacct_lines[0]
    assert log.count("accounting storage is disabled") <= 1  # sacct's own message, once
