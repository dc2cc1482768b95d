"""The machine a benchmark ran on, recorded with every result (``describe_machine``)."""

from __future__ import annotations

import importlib
import os
import platform


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
