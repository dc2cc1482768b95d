"""What every benchmark shares: the machine description, best-of timing, atomic JSON results."""

from __future__ import annotations

import importlib
import json
import os
import platform
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


def write_result(data: dict, path: Path) -> Path:
    """Write a benchmark result as indented JSON, atomically (temporary file, then rename)."""
    from nmm.atomic import atomic_write_text

    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
