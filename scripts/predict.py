"""`nmm-predict`: reconstruct a trial or a dataset with a trained NMM (logic in
nmm.jobs.predict; config conf/predict.yaml).

    nmm-predict model_dir=outputs/train data=pyomeca
    nmm-predict model_dir=outputs/train data=folder data.path=/path/to/dataset
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.predict import run_predict
from nmm.jobs.sweep import app_run


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="predict")
def main(cfg: DictConfig) -> None:
    with app_run(cfg, "predict"):  # config checked, run folder locked
        metrics = run_predict(cfg)
    for t in metrics["trials"]:
        print(
            f"{t['subject']}/{t['trial']}: torque R² {t['torque_r2']:.3f}, RMSE "
            f"{t['torque_rmse_nm']:.2f} N·m; envelopes in [{t['envelope_min']:.3f}, "
            f"{t['envelope_max']:.3f}]"
        )
    print(f"nmm-predict finished: {cfg.run_dir}/metrics.json")


if __name__ == "__main__":
    main()
