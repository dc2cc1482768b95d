"""The launcher, local and Optuna configs compose for the apps, the SLURM settings become the
sbatch script submitit would submit, and an Optuna study runs nmm-train trials."""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from nmm.config import CONF_DIR
from nmm.jobs.sweep import lookup_metric, sqlite_storage

from .conftest import job_metrics, run_app, train_fast

APPS = ["train", "painsig_run"]
LAUNCHERS = {
    "local_parallel": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "slurm_local": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "slurm": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
}


def compose_app(app: str, overrides: list[str]):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Hydra's deprecated automatic schema matching
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name=app, overrides=overrides, return_hydra_config=True)


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_launchers_compose_without_warnings(app, launcher):
    cfg = compose_app(app, [f"hydra/launcher={launcher}"])
    assert cfg.hydra.launcher._target_ == LAUNCHERS[launcher]
    if launcher == "local_parallel":
        assert cfg.hydra.launcher.n_jobs == 2
    if launcher == "slurm":  # one GPU per job, requeue on timeout, squeue without accounting
        node = cfg.hydra.launcher
        assert (node.gpus_per_node, node.tasks_per_node, node.max_num_timeout) == (1, 1, 3)
        polling = cfg.hydra.callbacks.slurm_polling
        assert polling._target_ == "nmm.jobs.slurm_polling.SlurmPolling" and polling.delay_s < 300
    else:
        assert "slurm_polling" not in cfg.hydra.callbacks


@pytest.mark.parametrize("app", APPS)
def test_a_local_file_selects_the_slurm_launcher(app):
    cfg = compose_app(app, ["+local=example"])
    assert cfg.hydra.launcher._target_ == LAUNCHERS["slurm"]
    assert cfg.hydra.launcher.partition == "gpu" and cfg.ckpt_path == "last"


def test_local_files_other_than_the_example_are_git_ignored():
    import subprocess

    root = Path(CONF_DIR).parent
    check = subprocess.run(
        ["git", "check-ignore", "-q", "conf/local/cluster.yaml"], cwd=root, check=False
    )
    assert check.returncode == 0, "conf/local/cluster.yaml would be committed"
    tracked = subprocess.run(
        ["git", "check-ignore", "-q", "conf/local/example.yaml"], cwd=root, check=False
    )
    assert tracked.returncode == 1, "conf/local/example.yaml must stay tracked"


def test_subject_and_fold_groups_set_the_top_level_keys():
    cfg = compose_app("train", [])
    assert cfg.subjects is None and list(cfg.evaluate.protocols) == ["per_subject", "loso"]
    cfg = compose_app("train", ["subject=S03", "fold=loso"])
    assert list(cfg.subjects) == ["S03"] and list(cfg.evaluate.protocols) == ["loso"]
    options = sorted(p.stem for p in (Path(CONF_DIR) / "subject").glob("S*.yaml"))
    assert options == ["S01", "S02", "S03", "S04", "S05"]


def test_slurm_settings_become_the_sbatch_script(tmp_path, monkeypatch):
    """The launcher's settings through submitit's own SLURM executor, as SlurmLauncher.launch
    passes them (hydra_submitit_launcher 1.2), to the sbatch script it would submit."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    # submitit refuses to build a SLURM executor where `srun` is not on PATH; this machine has no
    # SLURM, so a stand-in answers that probe (it is never run: nothing is submitted)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    cfg = compose_app("train", ["+local=example", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    params.pop("_target_")
    executor = submitit.AutoExecutor(
        cluster="slurm",
        folder=params.pop("submitit_folder"),
        slurm_max_num_timeout=params.pop("max_num_timeout"),
    )
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
    script = executor._executor._make_submission_file_text("python -m submitit.core._submit", "0")
    for line in (
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=32GB",
        "#SBATCH --time=240",
        "#SBATCH --partition=gpu",
        "#SBATCH --signal=USR2@120",
        "export OMP_NUM_THREADS=1",
    ):
        assert line in script, f"{line!r} not in the sbatch script:\n{script}"
    assert executor._executor.max_num_timeout == 3
    assert str(tmp_path / "sweep" / ".submitit") in script


def test_last_checkpoint_is_written_after_every_epoch(tmp_path):
    """conf/callbacks/default.yaml's last_checkpoint leaves a last.ckpt of the newest epoch at the
    start of every epoch after the first (what a requeued job resumes from), not only at the
    end of the fit."""
    import torch
    from hydra.utils import instantiate
    from lightning.pytorch import Callback, Trainer
    from lightning.pytorch.demos.boring_classes import BoringModel

    cfg = compose_app("train", [])
    folder = tmp_path / "checkpoints"
    last = folder / "last.ckpt"
    epochs_in_last: list[int | None] = []

    class Probe(Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            saved = torch.load(last, weights_only=True)["epoch"] if last.is_file() else None
            epochs_in_last.append(saved)

    checkpoint = instantiate(cfg.callbacks.last_checkpoint, dirpath=str(folder))
    trainer = Trainer(
        max_epochs=3,
        callbacks=[checkpoint, Probe()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=0,
    )
    trainer.fit(BoringModel())
    assert epochs_in_last == [None, 0, 1]
    assert torch.load(last, weights_only=True)["epoch"] == 2


def test_squeue_watcher_reads_array_tasks_and_final_states():
    """squeue's lines (--array --format=%i|%T|%N) as submitit's job states: a task is done in a
    final state only (a requeued task, pending again or held, is not)."""
    from nmm.jobs.slurm_polling import SqueueWatcher

    watcher = SqueueWatcher(delay_s=60)
    for job in ("12_0", "12_1", "12_2", "12_3", "13"):
        watcher.register_job(job)
    command = watcher._make_command()
    assert command[0] == "squeue" and "--jobs=12,13" in command and "--states=all" in command
    lines = (
        "12_0|COMPLETED|n1\n12_1|PENDING|\n12_2|REQUEUE_HOLD|\n12_3|CANCELLED|n1\n13|RUNNING|n2\n"
    )
    watcher._info_dict.update(watcher.read_info(lines.encode()))
    done = {j: watcher.is_done(j, mode="cache") for j in ("12_0", "12_1", "12_2", "12_3", "13")}
    assert done == {"12_0": True, "12_1": False, "12_2": False, "12_3": True, "13": False}
    assert watcher.get_state("13", mode="cache") == "RUNNING"
    assert watcher.get_state("14", mode="cache") == "UNKNOWN"  # never listed: still waited for
    assert not watcher.is_done("14", mode="cache")


@pytest.mark.parametrize("sacct", ["answers", "fails", "missing"])
def test_slurm_polling_asks_squeue_only_where_sacct_fails(sacct, tmp_path, monkeypatch, caplog):
    """Before a SLURM sweep, the callback asks sacct once: where it answers, submitit's own
    watcher stays; where it fails or is not installed, one log line and the squeue watcher. A
    stand-in sacct in front of PATH plays the cluster (nothing is submitted)."""
    from submitit.slurm.slurm import SlurmJob

    from nmm.jobs.slurm_polling import SlurmPolling, SqueueWatcher

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if sacct != "missing":
        script = bin_dir / "sacct"
        code = 0 if sacct == "answers" else 1
        script.write_text(
            f"#!/bin/sh\necho 'Slurm accounting storage is disabled' >&2\nexit {code}\n"
        )
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))  # no other sacct
    monkeypatch.setattr(SlurmJob, "watcher", SlurmJob.watcher)  # restored after the test
    before = SlurmJob.watcher
    with caplog.at_level("INFO", logger="nmm.jobs.slurm_polling"):
        SlurmPolling(delay_s=60).on_multirun_start(compose_app("train", []))
    lines = [r.getMessage() for r in caplog.records if r.name == "nmm.jobs.slurm_polling"]
    if sacct == "answers":
        assert SlurmJob.watcher is before and not lines
        return
    assert isinstance(SlurmJob.watcher, SqueueWatcher) and SlurmJob.watcher._delay_s == 60
    assert len(lines) == 1 and "followed with squeue" in lines[0]
    if sacct == "fails":
        assert "accounting storage is disabled" in lines[0]


def test_optuna_search_composes_with_its_objective():
    cfg = compose_app("train", ["hparams_search=nmm_optuna"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "minimize"
    assert cfg.objective == "loso.hidden_rmse_mean"
    assert set(sweeper.params) >= {"model.window_s", "model.loss.weights.synergy"}
    assert lookup_metric({"loso": {"hidden_rmse_mean": 0.05}}, cfg.objective) == 0.05
    with pytest.raises(KeyError, match=r"no 'loso' in metrics\.json"):
        lookup_metric({"per_subject": {}}, cfg.objective)


def test_optuna_shared_storage(tmp_path):
    import sqlalchemy

    path = tmp_path / "studies" / "s.db"
    if int(sqlalchemy.__version__.split(".")[0]) >= 2:
        with pytest.raises(RuntimeError, match="SQLAlchemy < 2"):
            sqlite_storage(path)
        pytest.skip(f"optuna 2.10's RDB storage needs SQLAlchemy < 2 ({sqlalchemy.__version__})")
    import optuna

    url = sqlite_storage(path)
    assert path.parent.is_dir()
    for _ in range(2):  # two workers, one after the other, share the study
        study = optuna.create_study(study_name="s", storage=url, load_if_exists=True)
        study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=2)
    assert len(optuna.load_study(study_name="s", storage=url).trials) == 4


@pytest.mark.slow
def test_optuna_study_runs_nmm_train_trials(tmp_path, shared_data, geometry_cache):
    sweep = tmp_path / "sweep"
    proc = run_app(
        "scripts.train",
        [
            "-m",
            "hparams_search=nmm_optuna",
            "hydra.sweeper.storage=null",  # in-memory: shared storage is tested above
            "hydra.sweeper.n_trials=2",
            "hydra.sweeper.n_jobs=2",
            "hydra/launcher=local_parallel",
            f"hydra.sweep.dir={sweep}",
            "subject=S02",
            "objective=per_subject.hidden_rmse_mean",
            *train_fast(geometry_cache),
        ],
        cwd=tmp_path,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = job_metrics(sweep)
    assert len(metrics) == 2
    values = [m["per_subject"]["hidden_rmse_mean"] for m in metrics.values()]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(min(values))
    assert set(best["best_params"]) == {
        "model.window_s",
        "model.loss.weights.synergy",
        "model.loss.weights.smoothness",
        "model.loss.weights.effort",
    }
