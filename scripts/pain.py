"""`painsig`: segment, describe, classify and explain contractions of one cohort (logic in
nmm.jobs.painsig; config conf/painsig_run.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.painsig import run_painsig_job
from nmm.jobs.sweep import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="painsig_run")
def main(cfg: DictConfig) -> float | None:
    # sweep jobs: own folder, overrides recorded, failures recorded (nmm.jobs.sweep)
    return run_job(cfg, run_painsig_job, app="painsig")


if __name__ == "__main__":
    main()
