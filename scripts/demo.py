"""`nmm-demo`: the main job on the default data, writing a report to `outputs/demo/`.

Until the NMM, the synthetic cohort and the full pipeline exist, this runs the most complete path
that works today and says so: real recordings -> validated trials -> preprocessing -> dataset
folder, figures and metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra import compose
from hydra.utils import instantiate
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.data_overview import run_data_overview
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from painsig.job import run_painsig
from scripts.pain import settings_from_config

log = logging.getLogger("nmm.demo")

NOT_YET = (
    "the full pipeline (NMM vs synergy extrapolation, OpenSim validation, one report) is not "
    "built yet (issues 6 and 8); this demo runs the data layer on the pyomeca trial and the "
    "pain-signature analysis on the UCI recordings. Train the NMM with nmm-train."
)


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="demo")
def main(cfg: DictConfig) -> None:
    run_dir = Path(cfg.run_dir)
    seed = seed_everything(int(cfg.seed))
    write_config(cfg, run_dir)
    log.warning(NOT_YET)
    cohort = instantiate(cfg.data)
    overview = run_data_overview(
        cohort,
        instantiate(cfg.preprocess.emg),
        instantiate(cfg.preprocess.kinematics),
        cfg.preprocess.resample_hz,
        run_dir,
    )
    pain_cfg = compose(
        config_name="painsig_run",
        overrides=[
            *cfg.demo.painsig_overrides,
            f"paths.shared_data={cfg.paths.shared_data}",
            f"run_dir={run_dir / 'painsig_uci'}",
            f"seed={seed}",
        ],
    )
    pain = run_painsig(
        instantiate(pain_cfg.data),
        instantiate(pain_cfg.preprocess.emg),
        instantiate(pain_cfg.preprocess.kinematics),
        instantiate(pain_cfg.painsig.segmenter),
        settings_from_config(pain_cfg.painsig),
        pain_cfg.run_dir,
        seed,
    )
    write_config(pain_cfg, pain_cfg.run_dir)
    metrics = {"seed": seed, "status": NOT_YET, "data": overview, "painsig_uci": pain}
    path = write_metrics(metrics, run_dir)
    print(
        f"demo finished: metrics in {path}, figures in {run_dir / 'figures'} and "
        f"{run_dir / 'painsig_uci' / 'figures'}"
    )


if __name__ == "__main__":
    main()
