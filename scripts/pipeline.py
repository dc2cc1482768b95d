"""`nmm-pipeline`: the main job end to end (logic in nmm.pipeline.job; config conf/pipeline.yaml).

nmm-pipeline                                      # the embedded default cohort
nmm-pipeline run_dir=outputs/mine budget.fit.max_steps=500
nmm-pipeline data=folder data.path=my_lab/dataset physics.osim=my_lab/subject.osim
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.sweep import run_job
from nmm.pipeline.job import pipeline_and_report


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="pipeline")
def main(cfg: DictConfig) -> float | None:
    return run_job(cfg, pipeline_and_report, app="pipeline")


if __name__ == "__main__":
    main()
