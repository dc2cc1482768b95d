"""`nmm-train`: fit the NMM and evaluate it (logic in nmm.jobs.train; config conf/train.yaml).

nmm-train                                  # default synthetic cohort, both protocols
nmm-train model=tiny budget.fit.max_steps=50  # a quick smoke run
nmm-train trainer=gpu                      # on a GPU (trainer=default picks it when present)
nmm-train ckpt_path=outputs/train/checkpoints/last.ckpt   # resume
nmm-train -m subject=glob(S*) seed=0,1 hydra/launcher=local_parallel   # parallel sweep
nmm-aggregate sweep_dir=multirun/<date_time>              # its table, summary and figures
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.sweep import run_job
from nmm.jobs.train import run_train

log = logging.getLogger("nmm.train")


def train_and_report(cfg: DictConfig) -> dict:
    """nmm-train's work (nmm.jobs.train.run_train) and a one-line summary per protocol."""
    metrics = run_train(cfg)
    for protocol in ("per_subject", "loso"):
        if protocol in metrics:
            s = metrics[protocol]
            base = s["baseline_copy_synergist_rmse_mean"]
            print(
                f"{protocol}: hidden r {s['hidden_pearson_r_mean']:.3f}, RMSE "
                f"{s['hidden_rmse_mean']:.4f} (copy-synergist {base:.4f}), "
                f"torque R² {s['torque_r2']:.3f}"
            )
    if metrics:  # DDP ranks > 0 return none (rank 0 writes)
        print(f"nmm-train finished: {cfg.run_dir}/metrics.json")
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    # a sweep job's own folder, its overrides in metrics.json, a failure that does not stop the
    # sweep, and the Optuna objective (nmm.jobs.sweep)
    return run_job(cfg, train_and_report, app="train")


if __name__ == "__main__":
    main()
