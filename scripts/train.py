"""`nmm-train`: fit the NMM and evaluate it (logic in nmm.model.train; config conf/train.yaml).

nmm-train                                  # default synthetic cohort, both protocols
nmm-train model=tiny trainer.max_epochs=5  # a quick smoke run
nmm-train trainer=gpu                      # on a GPU (trainer=default picks it when present)
nmm-train ckpt_path=outputs/train/checkpoints/last.ckpt   # resume
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.model.train import run_train

log = logging.getLogger("nmm.train")


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="train")
def main(cfg: DictConfig) -> None:
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
    print(f"nmm-train finished: {cfg.run_dir}/metrics.json")


if __name__ == "__main__":
    main()
