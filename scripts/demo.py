"""`nmm-demo` (`make demo`): the pipeline on the embedded default cohort with laptop settings
(conf/demo.yaml), writing outputs/demo/report.html and outputs/demo/metrics.json. Re-running it
skips the stages already done."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.sweep import run_job
from nmm.pipeline.job import pipeline_and_report


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="demo")
def main(cfg: DictConfig) -> float | None:
    return run_job(cfg, pipeline_and_report, app="demo")


if __name__ == "__main__":
    main()
