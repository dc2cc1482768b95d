"""One run per folder: a lock file in the run folder, held for an app's whole run.

``run.lock`` (JSON: the owner's pid, host, start time, command, SLURM job and a token) is created
with ``O_CREAT | O_EXCL``, so of two processes given the same folder exactly one gets it; the
other raises :class:`RunDirLockedError`, naming the folder and the owner, before doing any work. The
lock is removed when the run ends, normally or by an exception.

A lock whose owner is gone (killed with SIGKILL, a power cut) is *stale*: its owner ran on this
host and its pid is no longer running, or now belongs to a process started later (Linux:
``/proc/<pid>/stat``), or it was an earlier run of this SLURM job (a requeued job keeps its id
and may land on another node). A stale lock is reported in the log and taken over, so a killed
run resumes in its folder (``ckpt_path=last``, the pipeline's stage cache). A lock held on another
host cannot be checked: the error says so, and which file to delete once that run is known to be
gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LOCK_NAME", "RunDirLockedError", "acquire", "release", "run_lock"]

log = logging.getLogger(__name__)

LOCK_NAME = "run.lock"

# A lock file just created is written at once; a reader that finds it empty waits this long
# (s) for its content before calling it unreadable.
_READ_WAIT_S = 1.0


class RunDirLockedError(RuntimeError):
    """Another run holds the run folder.

    Attributes:
        folder: the run folder.
        owner: the lock's content (pid, host, started, command, ...), or None if unreadable.
    """

    def __init__(self, folder: Path, owner: dict[str, Any] | None, why: str) -> None:
        super().__init__(f"run folder {folder} is in use by {describe(owner)}: {why}")
        self.folder = folder
        self.owner = owner


def describe(owner: dict[str, Any] | None) -> str:
    """One line naming a lock's owner."""
    if owner is None:
        return "an unknown process (unreadable lock file)"
    return (
        f"pid {owner.get('pid')} on {owner.get('host')} since {owner.get('started')} "
        f"({owner.get('command')})"
    )


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks after boot (None: no such process, or no
    /proc). Field 22 of /proc/<pid>/stat, counted after the parenthesised command name."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "start_ticks": _start_ticks(pid),
        "slurm_job": os.environ.get("SLURM_JOB_ID"),
        "slurm_restart": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
        "token": uuid.uuid4().hex,
    }


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user
        return True
    return True


def _stale(owner: dict[str, Any]) -> str | None:
    """Why the owner is known to be gone, or None while it may still run."""
    job = os.environ.get("SLURM_JOB_ID")
    restart = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    if job and owner.get("slurm_job") == job and owner.get("slurm_restart", 0) < restart:
        return f"an earlier run of SLURM job {job} (this is restart {restart})"
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner["pid"])
    if not _running(pid):
        return f"process {pid} is no longer running"
    ticks = owner.get("start_ticks")
    if ticks is not None and _start_ticks(pid) not in (None, ticks):
        return f"pid {pid} now belongs to a process started later"
    return None


def _read(path: Path) -> dict[str, Any] | None:
    """The lock's content; None if it stays empty, unparseable or without an integer pid for
    :data:`_READ_WAIT_S`."""
    deadline = time.monotonic() + _READ_WAIT_S
    while True:
        try:
            owner = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(owner, dict) and isinstance(owner.get("pid"), int):
                return owner
        except FileNotFoundError:
            raise
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _take_over(path: Path, owner: dict[str, Any]) -> None:
    """Remove the stale lock ``owner`` wrote, and only that one: the file is first moved aside,
    then checked; a fresh lock another process made in the meantime is put back."""
    aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another process removed it first
        return
    try:
        if json.loads(aside.read_text(encoding="utf-8")).get("token") != owner.get("token"):
            os.link(aside, path)  # not the stale lock: restore it (fails if one exists again)
    except (OSError, ValueError):
        pass
    finally:
        aside.unlink(missing_ok=True)


def _refusal(folder: Path, owner: dict[str, Any] | None) -> RunDirLockedError:
    """The error for a lock that is not stale, saying what the user can do."""
    path = folder / LOCK_NAME
    if owner is None:
        why = f"its lock {path} cannot be read; delete it if no run uses the folder"
    elif owner.get("host") != socket.gethostname():
        why = (
            f"that host cannot be checked from {socket.gethostname()}; if that run is gone, "
            f"delete {path}"
        )
    else:
        why = "that run is still going; give this run another run_dir or wait for it to end"
    return RunDirLockedError(folder, owner, why)


def acquire(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Take the lock of ``run_dir`` (created if needed); returns its content for :func:`release`.

    Raises:
        RunDirLockedError: a live run (or one on another host) holds it.
    """
    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = _me()
    for _ in range(5):  # a few rounds, for a stale lock other processes take over at once
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                owner = _read(path)
            except FileNotFoundError:  # released meanwhile
                continue
            why = None if owner is None else _stale(owner)
            if why is None:
                raise _refusal(folder, owner) from None
            log.warning(
                "run folder %s: stale lock of %s (%s); taking it over", folder, describe(owner), why
            )
            _take_over(path, owner)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(me, indent=1) + "\n")
        return me
    raise RunDirLockedError(folder, None, f"other processes keep taking {path} over")


def release(run_dir: str | os.PathLike[str], me: dict[str, Any]) -> None:
    """Remove the lock of ``run_dir`` if it is still the one :func:`acquire` returned as ``me``."""
    path = Path(run_dir) / LOCK_NAME
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("token") == me["token"]:
            path.unlink()
    except (OSError, ValueError):
        log.warning("run folder %s: its lock was removed or replaced during the run", run_dir)


@contextmanager
def run_lock(run_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock of ``run_dir`` for the ``with`` block (released on exceptions too)."""
    me = acquire(run_dir)
    try:
        yield Path(run_dir)
    finally:
        release(run_dir, me)
