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
from nmm.pipeline.job import run_pipeline


def summary_lines(metrics: dict, run_dir: str) -> list[str]:
    """What the job prints when it ends."""
    lines = []
    for m in ("nmm", "mse"):
        s = metrics.get(m) or {}
        lines.append(
            f"{m}: hidden RMSE {s.get('hidden_rmse_mean', float('nan')):.4f}, r "
            f"{s.get('hidden_pearson_r_mean', float('nan')):.3f}, torque R² "
            f"{s.get('torque_r2', float('nan')):.3f}"
        )
    ci = metrics.get("paired_rmse_diff_ci")
    if ci:
        lines.append(f"MSE − NMM hidden RMSE 95 % CI [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    if metrics.get("opensim_torque_r2") is not None:
        lines.append(f"OpenSim muscle torque vs ID: R² {metrics['opensim_torque_r2']:.3f}")
    for key in ("painsig_measured", "painsig_with_reconstructed"):
        s = metrics.get(key) or {}
        if "balanced_accuracy" in s:
            lo, hi = s["balanced_accuracy_ci"]
            lines.append(
                f"{key}: balanced accuracy {s['balanced_accuracy']:.3f} [{lo:.3f}, {hi:.3f}], "
                f"chance {s.get('chance_level') or float('nan'):.3f}"
            )
        elif "skipped" in s:
            lines.append(f"{key}: skipped ({s['skipped']})")
    ran = [n for n, s in metrics.get("stages", {}).items() if s["ran"]]
    skipped = [n for n, s in metrics.get("stages", {}).items() if not s["ran"]]
    lines.append(f"stages run: {', '.join(ran) or 'none'}; reused: {', '.join(skipped) or 'none'}")
    lines.append(f"report: {run_dir}/report.html   metrics: {run_dir}/metrics.json")
    return lines


def pipeline_and_report(cfg: DictConfig) -> dict:
    """nmm-pipeline's work (nmm.pipeline.job.run_pipeline) and what it prints at the end."""
    metrics = run_pipeline(cfg)
    print("\n".join(summary_lines(metrics, str(cfg.run_dir))))
    return metrics


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="pipeline")
def main(cfg: DictConfig) -> float | None:
    return run_job(cfg, pipeline_and_report, app="pipeline")


if __name__ == "__main__":
    main()
