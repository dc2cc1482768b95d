"""`nmm-synth`: simulate the synthetic elbow cohort with OpenSim ground truth.

Writes into ``run_dir`` (default ``outputs/synth``): ``dataset/`` (read it with
``nmm.data.io.read_dataset``), ``ground_truth/`` (never read by models; layout in its README),
``figures/``, ``metrics.json`` and ``config.yaml``. ``nmm-synth synth=tiny`` makes a small one.
Labels on synthetic data test the pipeline, not physiology.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from nmm.config import CONF_DIR
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.sweep import app_run
from nmm.synth.cohort import generate_cohort
from nmm.synth.settings import SynthSettings

log = logging.getLogger("nmm.synth")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="synth")
def main(cfg: DictConfig) -> None:
    with app_run(cfg, "synth") as run_dir:  # config checked, run folder locked
        seed = seed_everything(int(cfg.seed))
        write_config(cfg, run_dir)
        settings = SynthSettings.from_mapping(OmegaConf.to_container(cfg.synth, resolve=True))
        metrics = generate_cohort(settings, run_dir, seed=seed, progress=log.info)
        path = write_metrics(metrics, run_dir)
    t = metrics["timing"]["total_s"]
    print(f"synthetic cohort written to {run_dir} in {t:.0f} s; metrics in {path}")


if __name__ == "__main__":
    main()
