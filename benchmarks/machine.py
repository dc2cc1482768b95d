"""What every benchmark shares: the machine description, best-of timing, peak memory, atomic
JSON results."""

from __future__ import annotations

import importlib
import json
import os
import platform
import resource
import time
from collections.abc import Callable
from pathlib import Path


def describe_machine(*modules: str) -> dict[str, object]:
    """Platform, processor, CPU count, Python, and the version of each named module.

    Args:
        *modules: importable names (e.g. ``"numpy"``, ``"torch"``, ``"opensim"``); each adds a
            key with its ``__version__`` (``"not installed"`` if it cannot be imported).
    """
    out: dict[str, object] = {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError:
            out[name] = "not installed"
        else:
            out[name] = str(getattr(module, "__version__", "unknown"))
    return out


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall-clock time (s) of ``repeats`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (MiB; ``ru_maxrss``, KiB on Linux).

    It includes the imports (torch, OpenSim): the memory a user's process needs to do the same.
    Worker processes are not included; benchmarks that start them record theirs separately."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_result(data: dict, path: Path) -> Path:
    """Write a benchmark result as indented JSON, atomically (temporary file, then rename).

    Adds ``peak_rss_mib`` (:func:`peak_rss_mib`, at the time of writing) unless ``data`` has it.
    """
    from nmm.atomic import atomic_write_text

    data = {**data, "peak_rss_mib": data.get("peak_rss_mib", peak_rss_mib())}
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")
