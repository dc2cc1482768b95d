"""`nmm-compare`: NMM vs synergy extrapolation (logic in nmm.compare.job; config conf/compare.yaml).

nmm-compare                                   # default cohort, per-subject fit, both methods
nmm-compare compare.protocol=loso             # NMM on subjects it never saw
nmm-compare budget.fit.max_steps=300 mse.steps=100   # a quicker look
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.compare.job import run_compare
from nmm.compare.scores import METHODS
from nmm.config import CONF_DIR
from nmm.jobs.sweep import run_job


def compare_and_report(cfg: DictConfig) -> dict:
    """nmm-compare's work (nmm.compare.job.run_compare) and a summary."""
    metrics = run_compare(cfg)
    for m in METHODS:
        s = metrics[m]
        print(
            f"{m}: hidden RMSE {s.get('hidden_rmse_mean', float('nan')):.4f}, r "
            f"{s.get('hidden_pearson_r_mean', float('nan')):.3f}, torque R² {s['torque_r2']:.3f}"
        )
    if "paired_rmse_diff_ci" in metrics:
        lo, hi = metrics["paired_rmse_diff_ci"]
        print(f"MSE − NMM hidden RMSE 95 % CI [{lo:+.4f}, {hi:+.4f}]")
    print(f"nmm-compare finished: {cfg.run_dir}/metrics.json")
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="compare")
def main(cfg: DictConfig) -> float | None:
    # a sweep job's own folder and status, failures that do not stop the sweep, and the
    # objective (e.g. objective=nmm.hidden_rmse_mean) for a sweeper (nmm.jobs.sweep)
    return run_job(cfg, compare_and_report, app="compare")


if __name__ == "__main__":
    main()
