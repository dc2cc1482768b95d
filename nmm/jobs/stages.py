"""Cached, resumable stages of a job (``nmm-compare``, ``nmm-pipeline``).

A stage is a function that writes into a folder and returns a JSON-able summary. The runner keys
each stage by a *fingerprint*: the SHA-256 of its inputs (the config node it reads and the
fingerprints of the stages it reads from). Layout under the job's run directory::

    stages/<name>/              the finished stage: its files and stage.json
    stages/<name>/stage.json    {"name", "fingerprint", "inputs", "result", "wall_s", "finished"}
    stages/.<name>.partial/     a stage being written (a killed run leaves it behind)

A stage whose ``stage.json`` has the same fingerprint is skipped and its recorded result
returned. A new result replaces the old folder only once complete (rename), so a stage that fails
or is killed never corrupts what earlier runs or earlier stages wrote. A partial folder with the
same fingerprint is handed back to the stage on the next run (``resume=True``), so a stage that
checkpoints (the NMM fit keeps Lightning's ``last.ckpt``) picks up where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from nmm.atomic import atomic_write_text

__all__ = ["StageResult", "StageRunner", "fingerprint"]

log = logging.getLogger(__name__)

STAGE_FILE = "stage.json"
PARTIAL_FILE = "partial.json"


def _plain(obj: Any) -> Any:
    if isinstance(obj, DictConfig | ListConfig):
        return OmegaConf.to_container(obj, resolve=True)
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def fingerprint(inputs: Any) -> str:
    """SHA-256 (hex) of ``inputs`` as sorted JSON (configs resolved first)."""
    text = json.dumps(_plain(inputs), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StageResult:
    """What a stage left: its folder, fingerprint, summary and whether it ran now."""

    name: str
    path: Path
    fingerprint: str
    result: dict[str, Any]
    ran: bool
    wall_s: float


class StageRunner:
    """Runs stages into ``<run_dir>/stages/`` and skips those already done with equal inputs."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.root = Path(run_dir) / "stages"
        self.root.mkdir(parents=True, exist_ok=True)
        self.results: dict[str, StageResult] = {}

    def path(self, name: str) -> Path:
        return self.root / name

    def done(self, name: str, inputs: Any) -> bool:
        """Whether ``name`` finished before with these inputs."""
        return self._recorded(name, fingerprint(inputs)) is not None

    def _recorded(self, name: str, fp: str) -> dict[str, Any] | None:
        stamp = self.path(name) / STAGE_FILE
        if not stamp.is_file():
            return None
        try:
            info = json.loads(stamp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if info.get("fingerprint") == fp else None

    def run(
        self, name: str, inputs: Any, fn: Callable[[Path, bool], Mapping[str, Any]]
    ) -> StageResult:
        """Run ``fn(folder, resume)`` unless ``name`` already finished with equal ``inputs``.

        ``fn`` writes its files into ``folder`` and returns a JSON-able summary; ``resume`` is
        True when ``folder`` is the partial output of an interrupted run with the same inputs.
        """
        fp = fingerprint(inputs)
        final = self.path(name)
        recorded = self._recorded(name, fp)
        if recorded is not None:
            log.info("stage %s: unchanged, skipped (%s)", name, final)
            res = StageResult(name, final, fp, recorded.get("result", {}), False, 0.0)
            self.results[name] = res
            return res
        partial = self.root / f".{name}.partial"
        marker = partial / PARTIAL_FILE
        resume = False
        if marker.is_file():
            try:
                resume = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint") == fp
            except (OSError, ValueError):
                resume = False
        if not resume:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
            atomic_write_text(marker, json.dumps({"name": name, "fingerprint": fp}) + "\n")
        log.info("stage %s: %s", name, "resuming" if resume else "running")
        t0 = time.perf_counter()
        result = _plain(dict(fn(partial, resume)))
        wall = time.perf_counter() - t0
        info = {
            "name": name,
            "fingerprint": fp,
            "inputs": _plain(inputs),
            "result": result,
            "wall_s": wall,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_text(partial / STAGE_FILE, json.dumps(info, indent=1, default=str) + "\n")
        marker.unlink(missing_ok=True)
        old = self.root / f".{name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
        log.info("stage %s: done in %.1f s", name, wall)
        res = StageResult(name, final, fp, result, True, wall)
        self.results[name] = res
        return res
