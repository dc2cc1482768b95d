"""Job states of a SLURM sweep on a cluster without accounting: ``squeue`` instead of ``sacct``.

While a sweep runs, the process that submitted it (Hydra's submitit launcher) waits for each
job's result file and, now and then, asks SLURM for the jobs' states: submitit (1.5) asks
``sacct``. A cluster without an accounting database (``AccountingStorageType=
accounting_storage/none``: small lab clusters, the local cluster of ``.ci/slurm/up.sh``) answers
every call with an error, printed at each poll ("Slurm accounting storage is disabled" and
submitit's warnings); a job that ends without writing its result (cancelled, killed, its node
lost) then keeps the sweep waiting, its state never known.

:class:`SlurmPolling`, a Hydra callback that ``conf/hydra/launcher/slurm.yaml`` adds, asks
``sacct`` once before the sweep is submitted. When it answers, submitit polls as usual. When it
fails, one log line says so, and :class:`SqueueWatcher` polls ``squeue``, which lists pending and
running jobs and, for ``MinJobAge`` seconds after their end (300 s by default), their final
state (``squeue --states=all``).
"""

from __future__ import annotations

import logging
import subprocess
import time
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig
from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

__all__ = ["FINAL_STATES", "SlurmPolling", "SqueueWatcher", "accounting_error"]

log = logging.getLogger(__name__)

#: squeue's states of a job that has ended (squeue(1), JOB STATE CODES). Any other state
#: (PENDING, RUNNING, REQUEUED, REQUEUE_HOLD, SUSPENDED, ...) is a job that may still run.
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "TIMEOUT",
    }
)

_COLUMNS = "JobID|State|NodeList"  # the columns submitit reads from sacct's --parsable2 output
_FORMAT = "%i|%T|%N"  # the same from squeue: job id (array tasks as <id>_<task>), state, nodes


def accounting_error(timeout_s: float = 30) -> str | None:
    """None when ``sacct`` answers a query, else its error (first line)."""
    try:
        done = subprocess.run(
            ["sacct", "--noheader", "--allocations", "--starttime=now"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{type(exc).__name__}: {exc}"
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines()
    return lines[0] if lines else f"sacct exited with status {done.returncode}"


class SqueueWatcher(SlurmInfoWatcher):
    """submitit's watcher of SLURM job states, asking ``squeue`` instead of ``sacct``.

    Polls at 2, 4, 8, ... s after the last submission, then every ``delay_s`` seconds at most
    (submitit's schedule); keep ``delay_s`` below the cluster's MinJobAge, or a job that ended
    without a result may leave squeue unseen. A failed ``squeue`` call (e.g. every job already
    gone from it) keeps the states last seen and logs at DEBUG level only. A job is done when
    its state is in :data:`FINAL_STATES`."""

    def _make_command(self) -> list[str] | None:
        ids = sorted({job.split("_")[0] for job in self._registered - self._finished})
        if not ids:
            return None
        return [
            "squeue",
            "--noheader",
            "--array",
            "--states=all",
            f"--jobs={','.join(ids)}",
            f"--format={_FORMAT}",
        ]

    def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
        """``squeue`` lines (see :data:`_FORMAT`) as submitit's job id -> {column: value}."""
        text = string.decode() if isinstance(string, bytes) else string
        return super().read_info(f"{_COLUMNS}\n{text}")

    def update(self) -> None:
        """One ``squeue`` call for every job not yet finished; marks the finished ones."""
        command = self._make_command()
        if command is None:
            return
        self._num_calls += 1
        done = subprocess.run(command, capture_output=True, check=False)
        if done.returncode == 0:
            self._output = done.stdout
            self._info_dict.update(self.read_info(done.stdout))
        else:
            log.debug("squeue failed (%s): job states kept", done.stderr.decode().strip())
        self._last_status_check = time.time()
        for job in self._registered - self._finished:
            if self.is_done(job, mode="cache"):
                self._finished.add(job)

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        return self.get_state(job_id, mode=mode).upper() in FINAL_STATES


class SlurmPolling(Callback):
    """Hydra callback: before a SLURM sweep is submitted, polls with ``squeue``
    (:class:`SqueueWatcher`, every ``delay_s`` s at most) where ``sacct`` fails, saying so in
    one log line; leaves submitit's ``sacct`` polling where it answers."""

    def __init__(self, delay_s: int = 60) -> None:
        self.delay_s = delay_s

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        error = accounting_error()
        if error is None:
            return
        # submitit's SLURM jobs share one watcher, a class attribute read by every job
        SlurmJob.watcher = SqueueWatcher(delay_s=self.delay_s)
        log.info(
            "sacct cannot report job states on this cluster (%s): the sweep's jobs are "
            "followed with squeue instead",
            error,
        )
