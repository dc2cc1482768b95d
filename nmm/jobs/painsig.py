"""``painsig``: segment, describe, classify and explain the contractions of one cohort into a run
folder (``conf/painsig_run.yaml``); the analysis itself is :func:`painsig.job.run_painsig`."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from painsig.job import PainsigSettings, run_painsig

__all__ = ["run_painsig_job", "settings_from_config"]


def settings_from_config(cfg: DictConfig) -> PainsigSettings:
    """PainsigSettings from the `painsig` config group."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    return PainsigSettings(
        positive=plain["positive"],
        negative=plain["negative"],
        third=plain.get("third"),
        channels=plain.get("channels"),
        features=plain["features"],
        classifier=plain["classifier"],
        evaluation=plain["evaluation"],
        statistics=plain["statistics"],
    )


def run_painsig_job(cfg: DictConfig) -> dict:
    """The painsig analysis of one config into ``cfg.run_dir``; returns its metrics."""
    run_dir = Path(cfg.run_dir)
    seed = seed_everything(int(cfg.seed))
    write_config(cfg, run_dir)
    cohort = instantiate(cfg.data)
    check_cohort_rates(cfg, cohort)  # recorded data: the rates are known now, before any work
    report = run_painsig(
        cohort,
        instantiate(cfg.preprocess.emg),
        instantiate(cfg.preprocess.kinematics),
        instantiate(cfg.painsig.segmenter),
        settings_from_config(cfg.painsig),
        run_dir,
        seed,
    )
    metrics = {"seed": seed, **report}
    path = write_metrics(metrics, run_dir)
    print(
        f"painsig finished: balanced accuracy {report['balanced_accuracy']:.3f} "
        f"{report['balanced_accuracy_ci']} ({report['cv']}), chance {report['chance_level']}; "
        f"metrics in {path}"
    )
    return metrics
