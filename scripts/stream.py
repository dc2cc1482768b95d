"""`nmm-stream`: a trained causal NMM on a stream, with the live page (logic in nmm.jobs.stream;
config conf/stream.yaml)."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.stream import run_stream_job
from nmm.jobs.sweep import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="stream")
def main(cfg: DictConfig) -> float | None:
    # sweep jobs: own folder, overrides recorded, failures recorded (nmm.jobs.sweep)
    return run_job(cfg, run_stream_job, app="stream")


if __name__ == "__main__":
    main()
