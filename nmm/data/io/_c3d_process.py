"""The parent side of `_c3d_child.py`: one long-lived child process per Python process, started
on first use (about 0.5 s, most of it importing numpy and ezc3d) and again after a crash or a
hang, so that each further file costs only its parsing.

Waiting uses `select` on the child's pipe (POSIX).
"""

from __future__ import annotations

import atexit
import io
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from nmm.data.errors import ReaderError

_CHILD = Path(__file__).with_name("_c3d_child.py")
# Time allowed for one file, s: a base plus 0.1 s per MB. ezc3d reads the 2.2 MB pyomeca file in
# 0.05 s, so this leaves a large margin for slow disks while a parser caught in a loop is stopped.
TIMEOUT_BASE_S = 10.0
TIMEOUT_S_PER_MB = 0.1


class _Child:
    """The child process and its pipes; `parse` is serialised by a lock."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._pid = 0  # the process that started the child (a fork must start its own)
        self._lock = threading.Lock()

    def _running(self) -> subprocess.Popen:
        if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", str(_CHILD)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            self._pid = os.getpid()
        return self._proc

    def _stop(self) -> int | None:
        """End the child: its exit status, or None if it had to be killed (a hang)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        proc.stdin.close()  # a waiting child ends on EOF; one that crashed has ended already
        try:
            status = proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            status = None
        proc.stdout.close()
        return status

    def _read(self, proc: subprocess.Popen, size: int, deadline: float) -> bytes:
        """`size` bytes of the child's answer; EOFError if it ended, TimeoutError at deadline."""
        fd = proc.stdout.fileno()
        parts, left = [], size
        while left:
            if not select.select([fd], [], [], max(deadline - time.monotonic(), 0.0))[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 2**20))
            if not chunk:
                raise EOFError
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def parse(self, path: Path) -> dict[str, np.ndarray]:
        """The arrays of `_c3d_child.parse` for `path`; ReaderError naming the file if ezc3d
        refuses it, crashes on it or does not finish in time."""
        src = str(path)
        timeout = TIMEOUT_BASE_S + TIMEOUT_S_PER_MB * path.stat().st_size / 1e6
        request = src.encode("utf-8")
        with self._lock:
            proc = self._running()
            try:
                proc.stdin.write(struct.pack("<I", len(request)) + request)
                proc.stdin.flush()
                deadline = time.monotonic() + timeout
                status, size = struct.unpack("<BQ", self._read(proc, 9, deadline))
                payload = self._read(proc, size, deadline)
            except TimeoutError:
                self._stop()
                raise ReaderError(
                    f"ezc3d did not finish parsing within {timeout:.0f} s: damaged file",
                    source=src,
                ) from None
            except (EOFError, BrokenPipeError):
                code = self._stop()
                how = signal.Signals(-code).name if code and code < 0 else f"exit status {code}"
                raise ReaderError(f"ezc3d crashed parsing the file ({how})", source=src) from None
        if status != 0:
            raise ReaderError(f"not a readable C3D file ({payload.decode()})", source=src)
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}


_CHILD_PROCESS = _Child()
atexit.register(_CHILD_PROCESS._stop)


def parse_in_child(path: Path) -> dict[str, np.ndarray]:
    """ezc3d's reading of `path`, made in the child process (see `_Child.parse`)."""
    return _CHILD_PROCESS.parse(path)
