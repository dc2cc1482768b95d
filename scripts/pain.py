"""`painsig`: segment, describe, classify and explain contractions of one cohort."""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmm.config import CONF_DIR
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.sweep import run_job
from painsig.job import PainsigSettings, run_painsig

log = logging.getLogger("painsig")


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


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="painsig_run")
def main(cfg: DictConfig) -> float | None:
    # sweep jobs: own folder, overrides recorded, failures recorded (nmm.jobs.sweep)
    return run_job(cfg, run_painsig_job, app="painsig")


if __name__ == "__main__":
    main()
