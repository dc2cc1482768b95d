"""`painsig-monitor`: session indices and their trends per patient (logic in nmm.jobs.monitor;
config conf/monitor.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.monitor import run_monitor_job
from nmm.jobs.sweep import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="monitor")
def main(cfg: DictConfig) -> float | None:
    # sweep jobs: own folder, overrides recorded, failures recorded (nmm.jobs.sweep)
    return run_job(cfg, run_monitor_job, app="monitor")


if __name__ == "__main__":
    main()
