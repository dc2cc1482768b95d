"""One job of a Hydra sweep (``-m``): its folder, the record of its overrides, failures that do
not stop the sweep, and the objective an Optuna sweeper reads.

A Hydra app's main hands its work to :func:`run_job`::

    @hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
    def main(cfg):
        return run_job(cfg, run_train, app="train")   # run_train(cfg) -> metrics dict

- **before any work**: the config is checked against the app's schema
  (:func:`nmm.jobs.config_check.check_config`: a bad value raises ConfigError naming its key)
  and the run folder is locked for the job (:mod:`nmm.jobs.run_lock`: a second process given
  the same folder raises RunDirLockedError); :func:`app_run` does both for the apps that are not
  sweep jobs.
- **folder**: in a multirun, ``cfg.run_dir`` becomes the job's own folder
  (``hydra.sweep.dir/hydra.sweep.subdir``); the apps' ``run_dir`` names a single run's folder,
  which every job of a sweep would otherwise share.
- **record**: ``metrics.json`` gets ``status`` (``completed`` or ``failed``) and ``job`` (the
  job's overrides, number, id and sweep folder), which ``nmm-aggregate`` reads.
- **failures**: Hydra's launchers (basic, joblib, submitit) run every job of a batch, then raise
  the first failure: the process exits with an error, later batches never start and an Optuna
  study stops. In a multirun :func:`run_job` instead logs the exception, writes ``metrics.json``
  with ``status: failed``, ``error`` and ``traceback``, and returns NaN (None without an
  objective), so the other jobs and batches go on; ``nmm-aggregate`` lists the failure. A single
  run (no ``-m``) raises as usual.
- **objective**: with a top-level ``objective: <dotted metric>`` (set by
  ``conf/hparams_search/*``), the job returns that metric of its ``metrics.json`` as a float, as
  the Optuna sweeper needs; NaN marks a failed trial.
- **DDP**: every rank runs the app's main (Lightning re-executes the script, or SLURM starts one
  task per GPU); only rank 0 records (see :func:`global_rank`).
"""

from __future__ import annotations

import logging
import math
import os
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from nmm.jobs.config_check import ConfigError, check_config
from nmm.jobs.run_dir import write_metrics
from nmm.jobs.run_lock import run_lock

__all__ = [
    "app_run",
    "global_rank",
    "is_multirun",
    "job_record",
    "lookup_metric",
    "run_job",
    "sqlite_storage",
    "use_job_dir",
]

log = logging.getLogger(__name__)

# Environment variables that carry a process's global rank, in Lightning's order
# (lightning.fabric.utilities.rank_zero._get_rank): set by torchrun/Lightning's launcher and SLURM.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def global_rank() -> int:
    """This process's rank in a distributed job (0 when not distributed)."""
    for name in _RANK_VARIABLES:
        if os.environ.get(name):
            return int(os.environ[name])
    return 0


def _hydra_config() -> Any | None:
    return HydraConfig.get() if HydraConfig.initialized() else None


def is_multirun() -> bool:
    """True inside a job of a Hydra multirun (``-m``)."""
    hc = _hydra_config()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def job_record() -> dict[str, Any] | None:
    """The running Hydra job: its command-line overrides, number, id, folder and sweep folder
    (None outside a Hydra app, e.g. when a test calls the job function directly)."""
    hc = _hydra_config()
    if hc is None:
        return None
    job = hc.job
    return {
        "overrides": list(hc.overrides.task),
        "num": job.get("num"),
        "id": job.get("id"),
        "name": job.get("name"),
        "output_dir": hc.runtime.output_dir,
        "sweep_dir": hc.sweep.dir if is_multirun() else None,
    }


def use_job_dir(cfg: DictConfig) -> Path:
    """``cfg.run_dir``, set to the job's own folder inside a multirun; returns it."""
    if is_multirun():
        with open_dict(cfg):
            cfg.run_dir = _hydra_config().runtime.output_dir
    return Path(cfg.run_dir)


def lookup_metric(metrics: Mapping[str, Any], key: str) -> float:
    """The metric at dotted ``key`` (``loso.hidden_rmse_mean``) as a float.

    Raises KeyError naming the missing part and what is there instead.
    """
    node: Any = metrics
    for i, part in enumerate(key.split(".")):
        if not isinstance(node, Mapping) or part not in node:
            where = ".".join(key.split(".")[:i]) or "metrics.json"
            have = sorted(node) if isinstance(node, Mapping) else type(node).__name__
            raise KeyError(f"objective {key!r}: no {part!r} in {where} (it has {have})")
        node = node[part]
    return float(node)


@contextmanager
def app_run(cfg: DictConfig, app: str) -> Iterator[Path]:
    """An app's run: ``cfg`` checked against ``app``'s schema, ``cfg.run_dir`` set to the job's
    folder in a multirun and locked for the ``with`` block (by rank 0 of a distributed job only:
    the other ranks share its folder). Yields the run folder.

    Raises:
        ConfigError: a bad config value (before the folder is touched).
        RunDirLockedError: another run holds the folder.
    """
    run_dir = use_job_dir(cfg)
    check_config(cfg, app)
    if global_rank() != 0:
        yield run_dir
        return
    with run_lock(run_dir):
        yield run_dir


def run_job(
    cfg: DictConfig, task: Callable[[DictConfig], Mapping[str, Any]], *, app: str
) -> float | None:
    """Run ``task(cfg)`` (which writes the run folder and returns its metrics) as one Hydra job
    of ``app`` (its config schema, :data:`nmm.jobs.config_check.APPS`).

    See the module doc: the config checked and the folder locked first (:func:`app_run`), the
    job's folder in a multirun, ``status`` and ``job`` added to ``metrics.json``, failures
    recorded instead of raised in a multirun, and the objective (``cfg.objective``) returned for
    a sweeper. Returns the objective, NaN for a failed job with an objective, else None.
    """
    try:
        with app_run(cfg, app) as run_dir:
            return _record_job(cfg, task, run_dir)
    except ConfigError as exc:  # a bad value of this sweep job only: the sweep goes on
        if not is_multirun():
            raise
        return _record_failure(cfg, exc, Path(cfg.run_dir))


def _record_job(
    cfg: DictConfig, task: Callable[[DictConfig], Mapping[str, Any]], run_dir: Path
) -> float | None:
    """The work of :func:`run_job` inside its checked, locked run folder."""
    if global_rank() != 0:  # DDP ranks > 0: the work only, rank 0 records
        task(cfg)
        return None
    objective = cfg.get("objective")
    try:
        metrics = dict(task(cfg))
        value = lookup_metric(metrics, str(objective)) if objective else None
    except Exception as exc:
        if not is_multirun():
            raise
        return _record_failure(cfg, exc, run_dir)
    write_metrics({"status": "completed", **metrics, "job": job_record()}, run_dir)
    return value


def _record_failure(cfg: DictConfig, exc: Exception, run_dir: Path) -> float | None:
    """A failed sweep job (called while ``exc`` is handled): logged, ``metrics.json`` with
    ``status: failed``; returns NaN with an objective, else None."""
    job = job_record()
    log.exception("job %s failed; the sweep goes on", (job or {}).get("overrides"))
    write_metrics(
        {
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "seed": cfg.get("seed"),
            "job": job,
        },
        run_dir,
    )
    return math.nan if cfg.get("objective") else None


def sqlite_storage(path: str | os.PathLike[str]) -> str:
    """An SQLite URL for Optuna's shared study storage, creating the file's folder.

    Several sweeper processes given the same file and ``study_name`` share one study (Optuna's
    ``load_if_exists``). Optuna 2.10 (the version hydra-optuna-sweeper 1.3 allows) cannot stamp
    its schema through SQLAlchemy 2: that case is an error saying what to install.
    """
    import sqlalchemy

    if int(sqlalchemy.__version__.split(".")[0]) >= 2:
        raise RuntimeError(
            f"Optuna's SQLite storage ({path}) needs SQLAlchemy < 2 with optuna 2.10 (found "
            f"SQLAlchemy {sqlalchemy.__version__}): pip install 'sqlalchemy>=1.4,<2' "
            "'alembic>=1.5,<1.14', or run with hydra.sweeper.storage=null (an in-memory study "
            "of this process only)"
        )
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
