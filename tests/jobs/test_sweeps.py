"""Real multiruns of the apps, as a user starts them: the submitit launcher runs jobs through its
local executor, and a failed job neither stops the sweep nor goes unreported by nmm-aggregate."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml

from nmm.jobs.aggregate import aggregate

from .conftest import PAINSIG_FAST, job_metrics, run_app


@pytest.mark.slow
def test_a_failed_job_does_not_stop_the_sweep(tmp_path, shared_data):
    # Hydra's basic sweeper runs batches in turn and raises after a batch with a failure: with
    # batches of one job and the failing job first, nothing else would run without the record.
    sweep = tmp_path / "sweep"
    proc = run_app(
        "scripts.pain",
        [
            "-m",
            "experiment=synthetic_painsig",
            "data.coordinate=no_such_angle,elbow_flexion",  # job 0: a bad value
            "hydra.sweeper.max_batch_size=1",
            f"hydra.sweep.dir={sweep}",
            f"paths.shared_data={shared_data}",
            *PAINSIG_FAST,
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = job_metrics(sweep)
    assert metrics["0"]["status"] == "failed" and "no_such_angle" in metrics["0"]["error"]
    assert "Traceback" in metrics["0"]["traceback"]
    assert metrics["1"]["status"] == "completed" and 0 <= metrics["1"]["balanced_accuracy"] <= 1
    assert not list(sweep.glob("*/run.lock"))  # each job released its own folder's lock

    proc = run_app("scripts.aggregate", [f"sweep_dir={sweep}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 completed, 1 failed" in proc.stdout and "no_such_angle" in proc.stdout
    summary = (sweep / "aggregate" / "summary.md").read_text()
    assert "data.coordinate=no_such_angle" in summary.split("## Failed jobs")[1]


@pytest.mark.slow
def test_submitit_local_executor_runs_the_sweep(tmp_path, shared_data):
    sweep = tmp_path / "sweep"
    proc = run_app(
        "scripts.pain",
        [
            "-m",
            "experiment=synthetic_painsig",
            "seed=0",
            "hydra/launcher=slurm_local",
            f"hydra.sweep.dir={sweep}",
            f"paths.shared_data={shared_data}",
            *PAINSIG_FAST,
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Submitit 'local' sweep output dir" in proc.stderr + proc.stdout
    metrics = job_metrics(sweep)["0"]
    assert metrics["status"] == "completed"
    # the job ran in submitit's own process, under a submitit job id, with its logs kept
    job_id = metrics["job"]["id"]
    logs = sweep / ".submitit" / job_id
    assert (logs / f"{job_id}_0_log.out").is_file() and list(logs.glob("*_result.pkl"))
    assert "seed=0" in metrics["job"]["overrides"]


@pytest.mark.slow
class _Exploit:
    """Unpickling this creates a file."""

    def __init__(self, target) -> None:
        self.target = str(target)

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_aggregate_reports_a_failed_app_without_the_record_and_unpickles_nothing(tmp_path):
    # An app whose main raises (no nmm.jobs.sweep): Hydra keeps the error only in submitit's
    # result pickle, which nmm-aggregate never unpickles (a file in a sweep folder may run code
    # when unpickled): the job is reported failed, with its missing record as the reason.
    app = tmp_path / "app.py"
    app.write_text(
        "import hydra\n"
        "@hydra.main(version_base='1.3', config_path=None, config_name=None)\n"
        "def main(cfg):\n"
        "    if cfg.x == 2:\n"
        "        raise ValueError('x must not be 2')\n"
        "    open('metrics.json', 'w').write('{\"value\": %d}' % cfg.x)\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    sweep = tmp_path / "sweep"
    proc = run_app(
        "app",
        [
            "-m",
            "+x=1,2",
            "hydra/launcher=submitit_local",
            f"hydra.sweep.dir={sweep}",
            "hydra.job.chdir=true",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode != 0 and "x must not be 2" in proc.stderr  # Hydra stops with it
    assert yaml.safe_load((sweep / "1" / ".hydra" / "overrides.yaml").read_text()) == ["+x=2"]
    planted = tmp_path / "planted_by_a_pickle"
    pickles = list((sweep / ".submitit").rglob("*_result.pkl"))
    assert pickles  # submitit wrote its results, here made hostile
    for pkl in pickles:
        pkl.write_bytes(pickle.dumps(_Exploit(planted)))
    result = aggregate(sweep, figures=False)
    assert result["n_completed"] == 1 and result["n_failed"] == 1
    assert result["failed"][0]["reason"].startswith("no metrics.json")
    assert not planted.exists()
    assert json.loads((sweep / "0" / "metrics.json").read_text()) == {"value": 1}
