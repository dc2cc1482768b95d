"""``nmm-compare``: the NMM against synergy extrapolation (MSE) on the same data, same splits,
same physics (``conf/compare.yaml``).

Three cached stages (:class:`nmm.jobs.stages.StageRunner`) under the run directory:

- ``stages/nmm``: :func:`nmm.jobs.train.run_train` with the run's config (network and every
  subject's personalised parameters; ``evaluate.protocols`` chooses per-subject fit and/or
  leave-one-subject-out); its ``predictions/`` (per-subject) or ``loso/predictions/`` hold the
  reconstructions;
- ``stages/mse``: :func:`nmm.synergy.fit.fit_synx` per subject on the same prepared trials and
  the same personalised elbow (``mse`` group), reconstructions in ``predictions/``
  (:mod:`nmm.compare.mse`);
- ``stages/compare``: both read back and scored against the same truth by
  :func:`nmm.model.evaluate.cell_scores`; paired differences (:mod:`nmm.compare.paired`), tables
  and figures (:mod:`nmm.compare.scores`).

The run's ``metrics.json`` holds ``nmm`` and ``mse`` (``hidden_rmse_mean``,
``hidden_pearson_r_mean``, ``hidden_r2_mean``, ``torque_r2``, ``torque_rmse_nm``, per muscle),
``paired_rmse_diff_ci`` ([low, high] of MSE minus NMM, subject-cluster bootstrap), ``paired_rmse``
(tests and per-muscle breakdown), ``paired_torque_rmse``, ``nmm_to_mse_rmse_ratio`` and the goal.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from nmm.compare.mse import mse_stage
from nmm.compare.scores import brief_summary, compare_stage
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.nmm_setup import build_elbows, load_cohort, prepared_trials
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.stages import StageResult, StageRunner, fingerprint
from nmm.jobs.synthetic_source import synthetic_root
from nmm.jobs.train import run_train
from nmm.model.features import PreparedTrial
from nmm.model.train import set_threads
from nmm.physics.subject_elbows import SubjectElbows

__all__ = ["RunContext", "dataset_fingerprint", "nmm_stage", "open_run", "run_compare"]

log = logging.getLogger(__name__)

# config keys that do not change what the NMM stage computes
_NOT_NMM = ("run_dir", "mse", "compare", "pipeline", "hydra", "painsig", "validate", "report")


def dataset_fingerprint(cfg: DictConfig, elbows: SubjectElbows | None = None) -> str:
    """Fingerprint of the data the run reads: the data options plus every file's name, size and
    modification time under the dataset folder (the synthetic cohort's, or ``data.path``), and
    the same of the subjects' own models (``elbows.models``, which may lie elsewhere)."""
    data = cfg.get("data")
    root = synthetic_root(data)
    if data is not None and data.get("path"):
        root = Path(str(data.path))
    files = []
    if root is not None and root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".tmp" not in p.parts[-2:]:
                st = p.stat()
                files.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    inputs: dict[str, Any] = {"data": cfg.get("data"), "files": files}
    if elbows is not None and elbows.models:
        stats = {s: Path(m).stat() for s, m in sorted(elbows.models.items())}
        inputs["models"] = {
            s: (elbows.models[s], st.st_size, st.st_mtime_ns) for s, st in stats.items()
        }
    return fingerprint(inputs)


def _nmm_inputs(cfg: DictConfig, data_fp: str) -> dict[str, Any]:
    plain = OmegaConf.to_container(cfg, resolve=True)
    return {"config": {k: v for k, v in plain.items() if k not in _NOT_NMM}, "data": data_fp}


def nmm_stage(runner: StageRunner, cfg: DictConfig, data_fp: str) -> StageResult:
    """Fit and evaluate the NMM (``run_train``) in ``stages/nmm``; resumes an interrupted fit
    from its ``checkpoints/last.ckpt``."""

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        sub = cfg.copy()
        with open_dict(sub):
            sub.run_dir = str(folder)
            last = folder / "checkpoints" / "last.ckpt"
            sub.ckpt_path = str(last) if resume and last.is_file() else None
        metrics = run_train(sub)
        return {p: brief_summary(metrics[p]) for p in ("per_subject", "loso") if p in metrics}

    return runner.run("nmm", _nmm_inputs(cfg, data_fp), run)


def select_subjects(
    trials: Sequence[PreparedTrial], subjects: Sequence[str] | None
) -> list[PreparedTrial]:
    """The trials of ``subjects`` (None: all); an unknown subject is an error naming it."""
    if not subjects:
        return list(trials)
    have = {t.subject for t in trials}
    unknown = sorted(set(subjects) - have)
    if unknown:
        raise ValueError(f"subjects {unknown} are not in the cohort (have {sorted(have)})")
    return [t for t in trials if t.subject in set(subjects)]


@dataclass
class RunContext:
    """What a staged job starts from: its folder, seed, cohort, truth, each subject's elbow,
    prepared trials, the data's fingerprint and the stage runner."""

    run_dir: Path
    seed: int
    cohort: Any
    truth_dir: Path | None
    elbow: SubjectElbows
    trials: list[PreparedTrial]
    data_fp: str
    runner: StageRunner


def open_run(cfg: DictConfig) -> RunContext:
    """Create ``run_dir``, seed, set threads, write ``config.yaml``, load and prepare the cohort
    (``subjects`` selects), fingerprint the data (what ``nmm-compare`` and ``nmm-pipeline``
    share)."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(int(cfg.seed))
    set_threads(cfg.get("threads"))
    write_config(cfg, run_dir)
    cohort, truth_dir = load_cohort(cfg)
    check_cohort_rates(cfg, cohort)  # filters below Nyquist, before any preprocessing
    elbow = build_elbows(cfg, cohort)
    trials = select_subjects(prepared_trials(cfg, cohort, elbow), cfg.get("subjects"))
    return RunContext(
        run_dir,
        seed,
        cohort,
        truth_dir,
        elbow,
        trials,
        dataset_fingerprint(cfg, elbow),
        StageRunner(run_dir),
    )


def run_compare(cfg: DictConfig) -> dict[str, Any]:
    """The whole ``nmm-compare`` job; returns (and writes) its metrics."""
    t0 = time.perf_counter()
    run = open_run(cfg)
    stages = {
        "nmm": nmm_stage(run.runner, cfg, run.data_fp),
        "mse": mse_stage(run.runner, cfg, run.trials, run.elbow, run.truth_dir, run.data_fp),
    }
    cmp = compare_stage(run.runner, cfg, run.trials, run.truth_dir, stages)
    metrics = {
        "seed": run.seed,
        "cohort": run.cohort.name,
        **cmp.result,
        "stages": {
            n: {"ran": s.ran, "wall_s": s.wall_s, "path": os.path.relpath(s.path, run.run_dir)}
            for n, s in {**stages, "compare": cmp}.items()
        },
        "wall_s": time.perf_counter() - t0,
    }
    write_metrics(metrics, run.run_dir)
    return metrics
