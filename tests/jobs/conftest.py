"""Helpers of the sweep tests: run a Hydra app of the project as a user would, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmm.data.sources import shared_data_root, shared_models_root

# Quick settings of each app: seconds per job, every stage still run.
PAINSIG_FAST = [
    "painsig.evaluation.n_permutations=2",
    "painsig.evaluation.n_boot=20",
    "painsig.classifier.n_estimators=10",
    "painsig.evaluation.report_random_split_inflation=false",
    "painsig.features.names=[rms,mav,peak]",
]


def train_fast(geometry_cache: Path) -> list[str]:
    return [
        "model=tiny",
        "trainer.max_epochs=1",
        "budget.specialise.max_steps=1",
        "budget.adapt.max_steps=1",
        "logger=none",
        "callbacks=none",
        "trainer.enable_progress_bar=false",
        "+trainer.enable_model_summary=false",
        "fold=per_subject",
        "evaluate.write_outputs=false",
        f"geometry_cache={geometry_cache}",
        f"paths.shared_models={shared_models_root()}",
    ]


def app_env() -> dict[str, str]:
    """The environment of an app run by a test: one thread per process, full Hydra errors, and
    the shared folders found as in the tests' process."""
    return os.environ | {
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HYDRA_FULL_ERROR": "1",
        "NMM_SHARED_DATA": str(shared_data_root()),
        "NMM_SHARED_MODELS": str(shared_models_root()),
    }


def run_app(
    module: str, args: list[str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess:
    """``python -m <module> <args>`` in ``cwd`` (:func:`app_env`), output captured."""
    env = app_env()
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_metrics(sweep: Path) -> dict[str, dict]:
    """metrics.json of every job folder of a sweep, by folder name."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(sweep.glob("*/metrics.json"))}


@pytest.fixture(scope="session")
def geometry_cache(tmp_path_factory) -> Path:
    """One muscle-geometry cache for every nmm-train run of these tests (sampled once)."""
    return tmp_path_factory.mktemp("geometry")
