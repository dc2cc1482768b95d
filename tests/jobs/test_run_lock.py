"""One run per folder (nmm.jobs.run_lock): a second process given a folder in use fails at once,
naming the folder and its owner; a lock left by a killed run is reported and taken over."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nmm.jobs.run_lock import LOCK_NAME, RunDirLockedError, acquire, release, run_lock

from .conftest import run_app

# A child process that takes the lock of argv[1], says so, and holds it until killed.
HOLDER = (
    "import sys, time\n"
    "from nmm.jobs.run_lock import acquire\n"
    "acquire(sys.argv[1])\n"
    "print('held', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture
def holder(tmp_path):
    """Start a process holding the lock of a run folder; yields (folder, process)."""
    folder = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        yield folder, proc
    finally:
        proc.kill()
        proc.wait()


def test_a_second_app_on_a_folder_in_use_fails_at_once(holder, tmp_path):
    folder, proc = holder
    t0 = time.perf_counter()
    # a real app (nmm-synth: light imports) given the folder another process holds
    done = run_app("scripts.synth", [f"run_dir={folder}", "synth=tiny"], cwd=tmp_path, timeout=60)
    wall = time.perf_counter() - t0
    assert done.returncode != 0
    assert "RunDirLockedError" in done.stderr
    assert f"run folder {folder} is in use by pid {proc.pid} on {socket.gethostname()}" in (
        done.stderr
    )
    assert "still going" in done.stderr
    assert not (folder / "config.yaml").exists()  # it wrote nothing
    assert proc.poll() is None  # and the owner runs on, its lock intact
    assert json.loads((folder / LOCK_NAME).read_text())["pid"] == proc.pid
    assert wall < 30


def test_a_lock_left_by_a_killed_run_is_reported_and_taken_over(holder, caplog):
    folder, proc = holder
    with pytest.raises(RunDirLockedError) as err:
        acquire(folder)
    assert err.value.folder == folder and err.value.owner["pid"] == proc.pid
    proc.send_signal(signal.SIGKILL)  # no chance to release
    proc.wait()
    assert (folder / LOCK_NAME).exists()
    with caplog.at_level(logging.WARNING, logger="nmm.jobs.run_lock"):
        me = acquire(folder)
    assert me["pid"] == os.getpid()
    assert json.loads((folder / LOCK_NAME).read_text())["token"] == me["token"]
    assert f"stale lock of pid {proc.pid}" in caplog.text
    assert f"process {proc.pid} is no longer running" in caplog.text
    assert [p.name for p in folder.iterdir()] == [LOCK_NAME]  # nothing left aside
    release(folder, me)
    assert not (folder / LOCK_NAME).exists()


def test_the_lock_is_released_on_normal_exit_and_on_exceptions(tmp_path):
    with run_lock(tmp_path / "a") as folder:
        assert (folder / LOCK_NAME).exists()
        with pytest.raises(RunDirLockedError):  # this very process cannot take it twice
            acquire(folder)
    assert not (folder / LOCK_NAME).exists()
    with pytest.raises(RuntimeError, match="the run failed"), run_lock(folder):
        raise RuntimeError("the run failed")
    assert not (folder / LOCK_NAME).exists()


def write_lock(folder: Path, **owner) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    base = {"pid": os.getpid(), "host": socket.gethostname(), "started": "then"}
    (folder / LOCK_NAME).write_text(json.dumps(base | owner))


def test_a_lock_of_another_host_is_refused_saying_what_to_do(tmp_path):
    write_lock(tmp_path, host="elsewhere", pid=1)
    with pytest.raises(RunDirLockedError, match="cannot be checked") as err:
        acquire(tmp_path)
    assert f"delete {tmp_path / LOCK_NAME}" in str(err.value)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times from /proc")
def test_a_reused_pid_does_not_keep_a_stale_lock(tmp_path):
    # the recorded owner has this process's pid but started at another time (a restarted
    # container whose process gets the same pid)
    write_lock(tmp_path, start_ticks=1)
    release(tmp_path, acquire(tmp_path))


def test_a_requeued_slurm_job_takes_over_its_earlier_run(tmp_path, monkeypatch):
    write_lock(tmp_path, host="node-a", pid=1, slurm_job="42", slurm_restart=0)
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    release(tmp_path, acquire(tmp_path))
    monkeypatch.setenv("SLURM_JOB_ID", "43")  # another job's lock on another node: refused
    write_lock(tmp_path, host="node-a", pid=1, slurm_job="42", slurm_restart=0)
    with pytest.raises(RunDirLockedError):
        acquire(tmp_path)


# A process that tries the lock of argv[1] and says whether it got it; holds it until its stdin
# closes.
RACER = (
    "import sys\n"
    "from nmm.jobs.run_lock import RunDirLockedError, run_lock\n"
    "try:\n"
    "    with run_lock(sys.argv[1]):\n"
    "        print('held', flush=True)\n"
    "        sys.stdin.read()\n"
    "except RunDirLockedError:\n"
    "    print('refused', flush=True)\n"
)


@pytest.mark.parametrize("stale", [False, True], ids=["free", "stale"])
def test_of_processes_racing_for_a_folder_exactly_one_gets_it(tmp_path, stale):
    if stale:  # a lock whose owner has ended: every racer may try to take it over
        ended = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
        )
        write_lock(tmp_path, pid=int(ended.stdout))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        said = sorted(p.stdout.readline().strip() for p in racers)
    finally:
        for p in racers:
            p.stdin.close()
            p.wait(timeout=30)
    assert said == ["held", "refused", "refused", "refused"]
    assert not (tmp_path / LOCK_NAME).exists()  # the winner released it


@pytest.mark.parametrize("content", ["not json", '{"pid": "abc"}', "[]"])
def test_an_unreadable_lock_is_refused(tmp_path, content):
    (tmp_path / LOCK_NAME).write_text(content)
    with pytest.raises(RunDirLockedError, match="cannot be read"):
        acquire(tmp_path)
