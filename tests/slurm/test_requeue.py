"""An nmm-train job on a real SLURM cluster, requeued by `scontrol requeue` mid-training (as a
preemption would), resumes from its last checkpoint (`ckpt_path=last`) and finishes with the
metrics of the same run left alone."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch

from .conftest import finish, running, slurm_launcher, train_fast, wait_for

EPOCHS = 60  # ~10 s of tiny training on one core: time to requeue it between two epochs


def train_args(geometry_cache: Path) -> list[str]:
    """nmm-train on one subject with the tiny NMM, a checkpoint after every epoch (the default
    callbacks; no logger) and resumption from the last one."""
    fast = [o for o in train_fast(geometry_cache) if not o.startswith(("callbacks=", "trainer."))]
    return [
        *fast,
        "subject=S02",
        f"trainer.max_epochs={EPOCHS}",
        "trainer.enable_progress_bar=false",
        "ckpt_path=last",
    ]


def _squeue(job: str, field: str) -> str:
    """One field of ``job`` in squeue (%T state, %r reason); "" once squeue forgets it."""
    done = subprocess.run(
        ["squeue", "--noheader", "--array", "--states=all", f"--jobs={job}", f"--format={field}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def _requeue_and_release(job: str, last: Path) -> tuple[str, int]:
    """``scontrol requeue`` the running ``job``, then end the hold SLURM puts on a requeued job
    (state PENDING, reason BeginTime: about two minutes) by setting its start time to now.
    Returns the reason squeue gave while it was held, and the epoch of ``last`` then (what the
    job resumes from)."""
    subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True)
    # the job ends first (COMPLETING: SIGTERM, then SIGKILL after KillWait) and is then pending
    wait_for(lambda: _squeue(job, "%T") == "PENDING", 60, f"requeued job {job} pending again")
    held = _squeue(job, "%r")
    epoch = torch.load(last, weights_only=True)["epoch"]
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    return held, epoch


@pytest.mark.slow
def test_a_requeued_job_resumes_from_its_last_checkpoint(slurm_partition, geometry_cache, tmp_path):
    sweep, alone = tmp_path / "sweep", tmp_path / "alone"
    args = train_args(geometry_cache)
    name = f"nmm-test-{tmp_path.name}"
    slurm = [*slurm_launcher(slurm_partition, name), f"hydra.sweep.dir={sweep}"]
    with running(name) as start:
        on_slurm = start(
            "scripts.train", ["-m", "seed=0", *args, *slurm], tmp_path, tmp_path / "slurm.log"
        )
        reference = start(
            "scripts.train", ["seed=0", *args, f"run_dir={alone}"], tmp_path, tmp_path / "alone.log"
        )
        last = sweep / "0" / "checkpoints" / "last.ckpt"
        wait_for(last.is_file, 120, f"the job's first checkpoint {last}", every_s=0.1)
        # submitit's folder of the job, named by its SLURM job id
        job = wait_for(lambda: _job_folder(sweep), 10, "submitit's folder of the job")
        held, resumed_epoch = _requeue_and_release(job.name, last)
        finish(on_slurm, tmp_path / "slurm.log", timeout_s=240)
        finish(reference, tmp_path / "alone.log", timeout_s=240)

    assert held == "BeginTime"  # the hold SLURM puts on a requeued job (docs/slurm.md)
    assert resumed_epoch < EPOCHS - 1  # killed mid-training
    job_log = "".join(p.read_text() for p in sorted(job.glob("*_log.*")))
    assert f"Restored all states from the checkpoint at {last}" in job_log
    resumed = json.loads((sweep / "0" / "metrics.json").read_text())
    whole = json.loads((alone / "metrics.json").read_text())
    assert resumed["status"] == "completed" and resumed["job"]["id"] == job.name
    assert resumed["fit"]["global_steps"] == whole["fit"]["global_steps"]
    assert _scores(resumed) == _scores(whole)


def _job_folder(sweep: Path) -> Path | None:
    """``<sweep>/.submitit/<job id>`` of a one-job sweep (None until submitted)."""
    folders = [p for p in (sweep / ".submitit").glob("*") if p.is_dir()]
    return folders[0] if len(folders) == 1 else None


def _scores(metrics: dict) -> str:
    """The per-subject scores of a run's metrics.json, without wall times, as JSON text (NaN
    intervals compare equal)."""
    scores = {k: v for k, v in metrics["per_subject"].items() if "wall_s" not in k}
    return json.dumps(scores, sort_keys=True)
