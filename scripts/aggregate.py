"""`nmm-aggregate`: tables, summary over seeds, figures and failures of a sweep folder.

nmm-aggregate sweep_dir=multirun/2026-01-31_12-00-00
nmm-aggregate sweep_dir=multirun/... 'metrics=[loso.hidden_rmse_mean]' out_dir=results/sweep1

Logic in nmm.jobs.aggregate; config conf/aggregate.yaml.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from nmm.config import CONF_DIR
from nmm.jobs.aggregate import aggregate
from nmm.jobs.config_check import check_config


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="aggregate")
def main(cfg: DictConfig) -> None:
    check_config(cfg, "aggregate")  # no run folder: it writes into the sweep folder
    metrics = OmegaConf.to_container(cfg.metrics) if cfg.metrics is not None else None
    result = aggregate(
        cfg.sweep_dir,
        cfg.out_dir,
        metrics=metrics,
        seed_key=str(cfg.seed_key),
        ci=float(cfg.ci),
        figures=bool(cfg.figures),
    )
    print(
        f"nmm-aggregate: {result['n_jobs']} jobs, {result['n_completed']} completed, "
        f"{result['n_failed']} failed; {result['files']['summary_md']}"
    )
    for f in result["failed"]:
        print(f"  failed {f['job']}: {f['reason']}")


if __name__ == "__main__":
    main()
