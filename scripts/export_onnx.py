"""`nmm-export-onnx`: a trained NMM's encoder and personalised elbows as ONNX graphs, with a
JSON sidecar, checked against torch (logic in nmm.jobs.export_onnx; config
conf/export_onnx.yaml).

    nmm-export-onnx run=outputs/train
    nmm-export-onnx run=outputs/train subject_id=S01 out=outputs/onnx_S01
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from nmm.config import CONF_DIR
from nmm.jobs.export_onnx import run_export_onnx
from nmm.jobs.sweep import run_job


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="export_onnx")
def main(cfg: DictConfig) -> float | None:
    # config checked, out folder locked, metrics.json written (nmm.jobs.sweep)
    return run_job(cfg, run_export_onnx, app="export_onnx")


if __name__ == "__main__":
    main()
