"""Fixtures of the tests against a real SLURM cluster (the single-node one of ``make slurm-up``,
which ``.ci/run`` starts): the cluster's ``debug`` partition, or a skip saying why there is none;
the launcher settings of a job on it; a process of a Hydra app followed to its end."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import app_env, geometry_cache, train_fast

__all__ = ["geometry_cache", "train_fast"]

CLUSTER = "nmm-local"  # .ci/slurm/slurm_conf.sh's ClusterName
PARTITION = "debug"
# states of a node that takes jobs (sinfo %T; a suffix such as `*` marks a node not responding)
USABLE = ("idle", "mixed", "allocated", "completing")


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    """The ``debug`` partition of the local test cluster (``make slurm-up``, ClusterName
    nmm-local) with a node that takes jobs; the test skips, saying why, where there is none.
    Jobs are never sent to another cluster (a lab's own, reached from a login node)."""
    if shutil.which("scontrol") is None or shutil.which("sinfo") is None:
        pytest.skip("no SLURM client here (scontrol, sinfo); `make slurm-up` starts a cluster")
    ping = _ask(["scontrol", "ping"])  # fails at once where no controller answers
    if ping.returncode != 0:
        pytest.skip(f"no SLURM controller answers ({ping.stdout.strip()}); `make slurm-up`")
    config = _ask(["scontrol", "show", "config"]).stdout
    cluster = re.search(r"^ClusterName\s*=\s*(\S+)", config, re.MULTILINE)
    if not cluster or cluster.group(1) != CLUSTER:
        name = cluster.group(1) if cluster else "unknown"
        pytest.skip(f"the SLURM cluster here is {name!r}, not {CLUSTER!r} of `make slurm-up`")
    states = _ask(["sinfo", "--noheader", f"--partition={PARTITION}", "--format=%T"]).stdout.split()
    if not any(s.rstrip("*~#!%$@^-") in USABLE for s in states):
        pytest.skip(f"SLURM partition {PARTITION!r} has no node that takes jobs (sinfo: {states})")
    return PARTITION


def _ask(command: list[str]) -> subprocess.CompletedProcess:
    """A SLURM client command's answer (30 s at most: an empty answer after that)."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(command, 1, "no answer in 30 s", "")


def slurm_launcher(partition: str, name: str) -> list[str]:
    """Overrides that send a sweep's jobs to ``partition`` as SLURM jobs named ``name``: one CPU,
    no GPU, 1 GB each."""
    return [
        "hydra/launcher=slurm",
        f"hydra.launcher.partition={partition}",
        f"hydra.launcher.name={name}",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
    ]


@contextmanager
def running(name: str) -> Iterator[Callable[..., subprocess.Popen]]:
    """:func:`start_app` for a ``with`` block: at its end, every process it started that still
    runs is killed, and SLURM jobs named ``name`` are cancelled (a failed test leaves none)."""
    procs: list[subprocess.Popen] = []

    def start(*args: Any) -> subprocess.Popen:
        procs.append(start_app(*args))
        return procs[-1]

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        subprocess.run(["scancel", f"--name={name}"], capture_output=True, check=False)


def start_app(module: str, args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    """``python -m <module> <args>`` started in ``cwd`` (one thread, the shared folders of the
    tests' process), its stdout and stderr into ``log``. SLURM jobs inherit this environment."""
    env = app_env()
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=cwd, env=env, stdout=out, stderr=out
        )


def finish(proc: subprocess.Popen, log: Path, timeout_s: float) -> str:
    """Wait for ``proc`` (killed after ``timeout_s``); asserts it exited 0; returns its log."""
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{proc.args[2]} exited {proc.returncode}:\n{text[-3000:]}"
    return text


def wait_for(condition, timeout_s: float, what: str, every_s: float = 0.2):
    """Poll ``condition()`` until it returns something true (returned); fails after
    ``timeout_s`` naming ``what``."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    pytest.fail(f"{what}: not within {timeout_s:.0f} s")
