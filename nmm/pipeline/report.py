"""The pipeline's ``report.html``: cohort, reconstruction, NMM vs MSE, OpenSim validation, the
pain signature (grouped-CV metrics with CIs, SHAP, placebo, statistics), config and versions.
Built from the stages' files and summaries only, so it can be rebuilt without recomputing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from nmm.jobs.stages import StageRunner
from nmm.reports.html import HtmlReport, Section, software_versions

__all__ = ["build_report"]

PAIRED_COLUMNS = (
    "mean_diff",
    "diff_ci",
    "ratio_a_to_b",
    "wilcoxon_p",
    "subject_ttest_p",
    "n_cells",
)
SYNTHETIC_NOTE = (
    "Labels on the synthetic cohort test the pipeline, not physiology: its pain and placebo "
    "epochs come from a documented motor-adaptation model."
)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _figures(section: Section, folder: Path, pattern: str, limit: int, caption: str) -> None:
    for p in sorted(folder.glob(pattern))[:limit]:
        section.figure(p, f"{caption}: {p.stem}")


def _method_rows(metrics: Mapping[str, Any], hidden: list[str]) -> list[dict[str, Any]]:
    rows = []
    for key, name in (
        ("nmm", "NMM"),
        ("mse", "MSE (SynX)"),
        ("baseline_copy_synergist", "copy synergist"),
    ):
        s = metrics.get(key) or {}
        pm = s.get("per_muscle") or {}
        row: dict[str, Any] = {"method": name}
        for m in hidden:
            row[f"{m} RMSE"] = (pm.get(m) or {}).get("rmse_mean", float("nan"))
            row[f"{m} r"] = (pm.get(m) or {}).get("pearson_r_mean", float("nan"))
        row["hidden RMSE"] = s.get("hidden_rmse_mean", float("nan"))
        row["torque R²"] = s.get("torque_r2", float("nan"))
        rows.append(row)
    return rows


def _headline(metrics: Mapping[str, Any]) -> list[dict[str, Any]]:
    def ci(v: Any) -> str:
        return "" if not v else f"[{v[0]:.3f}, {v[1]:.3f}]"

    rows = []
    for key, name in (("nmm", "NMM"), ("mse", "MSE (SynX)")):
        s = metrics.get(key) or {}
        rows.append(
            {
                "quantity": f"{name} hidden-muscle RMSE (0-1)",
                "value": s.get("hidden_rmse_mean"),
                "CI / note": "",
            }
        )
        rows.append(
            {
                "quantity": f"{name} hidden-muscle Pearson r",
                "value": s.get("hidden_pearson_r_mean"),
                "CI / note": "",
            }
        )
        rows.append(
            {
                "quantity": f"{name} torque R² vs inverse dynamics",
                "value": s.get("torque_r2"),
                "CI / note": "",
            }
        )
    rows.append(
        {
            "quantity": "MSE − NMM hidden RMSE (paired)",
            "value": metrics.get("paired_rmse_diff_mean"),
            "CI / note": ci(metrics.get("paired_rmse_diff_ci")) + " 95 % subject-cluster bootstrap",
        }
    )
    rows.append(
        {
            "quantity": "OpenSim muscle torque R² vs OpenSim ID",
            "value": metrics.get("opensim_torque_r2"),
            "CI / note": "",
        }
    )
    for key, name in (
        ("painsig_measured", "measured channels"),
        ("painsig_with_reconstructed", "measured + reconstructed"),
    ):
        s = metrics.get(key) or {}
        if "skipped" in s:
            rows.append(
                {"quantity": f"pain signature ({name})", "value": None, "CI / note": s["skipped"]}
            )
            continue
        rows.append(
            {
                "quantity": f"pain signature balanced accuracy ({name})",
                "value": s.get("balanced_accuracy"),
                "CI / note": f"{ci(s.get('balanced_accuracy_ci'))}, "
                f"chance {s.get('chance_level', float('nan')):.3f}",
            }
        )
    rows.append(
        {
            "quantity": "placebo contractions called painful (fraction)",
            "value": metrics.get("placebo_fraction_painful"),
            "CI / note": ci(metrics.get("placebo_fraction_painful_ci")),
        }
    )
    return rows


def _painsig_section(
    report: HtmlReport, title: str, stage: Path, result: Mapping[str, Any]
) -> None:
    s = report.section(title)
    if "skipped" in result:
        s.text(f"Skipped: {result['skipped']}", note=True)
        return
    keys = (
        "balanced_accuracy",
        "balanced_accuracy_ci",
        "roc_auc",
        "roc_auc_ci",
        "accuracy",
        "accuracy_ci",
        "sensitivity",
        "sensitivity_ci",
        "specificity",
        "specificity_ci",
        "chance_level",
        "permutation_p_value",
        "cv",
        "n_subjects",
        "n_samples",
        "n_epochs",
    )
    s.table(
        [{"metric": k, "value": result[k]} for k in keys if k in result],
        caption="grouped cross-validation (subjects never in train and test at once)",
    )
    inflation = result.get("random_split_inflation")
    if isinstance(inflation, Mapping):
        s.text(
            "A random contraction-level split (the paper's protocol, which leaks subjects) "
            "would report "
            f"balanced accuracy {inflation.get('random_balanced_accuracy', float('nan')):.3f}."
        )
    s.figure(stage / "figures" / "confusion_matrix.png", "out-of-fold confusion matrix")
    s.figure(stage / "figures" / "shap_bar.png", "mean |SHAP| per feature")
    s.figure(stage / "figures" / "shap_beeswarm.png", "SHAP values per contraction")
    third = result.get("third_condition")
    if third:
        lo, hi = third.get("ci") or (float("nan"), float("nan"))
        s.text(
            f"{third.get('condition')}: {third.get('fraction', float('nan')):.1%} of "
            f"{third.get('n_samples')} contractions of {third.get('n_subjects')} subjects "
            f"classified painful (95 % CI {lo:.1%} to {hi:.1%}) by the model trained on all "
            "labelled contractions."
        )
    stats = stage / "statistics.csv"
    if stats.is_file():
        frame = pd.read_csv(stats, index_col=0)
        cols = [
            c
            for c in ("mean_a", "mean_b", "effect_size", "p", "p_adjusted", "significant", "test")
            if c in frame
        ]
        s.table(
            frame[cols] if cols else frame,
            floatfmt=".3g",
            index=True,
            caption="subject-level statistics, pain vs baseline (Holm-corrected)",
        )


def build_report(
    cfg: DictConfig, runner: StageRunner, metrics: Mapping[str, Any], path: str | os.PathLike[str]
) -> Path:
    """Write ``report.html`` for the stages of ``runner`` and the headline ``metrics``."""
    hidden = list(cfg.physics.hidden)
    stages = {n: r.path for n, r in runner.results.items()}
    results = {n: r.result for n, r in runner.results.items()}
    commit = _git_commit()
    report = HtmlReport(
        "nmm-painsig report",
        f"cohort {metrics.get('cohort')}, seed {metrics.get('seed')}, protocol "
        f"{metrics.get('protocol')}" + (f", commit {commit}" if commit else ""),
    )
    s = report.section("Headline numbers")
    s.table(_headline(metrics))
    if "synthetic" in str(metrics.get("cohort", "")):
        s.text(SYNTHETIC_NOTE, note=True)

    cohort = metrics.get("cohort_summary") or {}
    s = report.section("Cohort")
    if cohort:
        s.table(
            [
                {"item": k, "value": v if not isinstance(v, list | dict) else str(v)}
                for k, v in cohort.items()
            ]
        )

    if "data" in stages:
        for fig in (results.get("data") or {}).get("figures", []):
            s.figure(stages["data"] / fig, f"preprocessed trial {Path(fig).stem}")

    s = report.section("Reconstruction of the deep muscles (NMM)")
    s.text(
        f"Hidden muscles {', '.join(hidden)} are reconstructed from kinematics, load and the "
        "measured envelopes; scored against the true excitation low-passed like an envelope."
    )
    s.table(_method_rows(metrics, hidden), caption="per muscle, mean over subject × load cells")
    if "nmm" in stages:
        _figures(s, stages["nmm"] / "predictions" / "figures", "*.png", 2, "NMM reconstruction")

    s = report.section("NMM vs synergy extrapolation (MSE)")
    cmp = results.get("compare") or {}
    pr = cmp.get("paired_rmse")
    if pr:
        parts = [("all", pr["overall"]), *pr["per_muscle"].items()]
        rows = [{"muscle": m, **{k: v[k] for k in PAIRED_COLUMNS}} for m, v in parts]
        s.table(
            rows,
            floatfmt=".4f",
            caption="paired hidden-muscle RMSE, MSE − NMM (positive: NMM better); "
            "CI: subject-cluster bootstrap; ratio: NMM / MSE",
        )
    if "compare" in stages:
        for fig in cmp.get("figures", []):
            s.figure(stages["compare"] / fig, Path(fig).stem.replace("_", " "))

    s = report.section("OpenSim torque validation")
    val = results.get("validate") or {}
    rows = [{"quantity": k, "value": v} for k, v in val.items() if isinstance(v, int | float)]
    if rows:
        s.table(
            rows,
            floatfmt=".4g",
            caption="personalised .osim driven by the reconstructed activations: muscle torque "
            "vs OpenSim ID",
        )
    if "validate" in stages:
        _figures(s, stages["validate"] / "figures", "*.png", 2, "OpenSim validation")

    for name, title in (
        ("painsig_measured", "Pain signature: measured channels"),
        ("painsig_with_reconstructed", "Pain signature: measured + reconstructed deep muscles"),
    ):
        if name in stages:
            _painsig_section(report, title, stages[name], results.get(name) or {})

    s = report.section("Configuration and software")
    s.table([{"package": k, "version": v} for k, v in software_versions().items()])
    s.table(
        [
            {"stage": n, "ran now": r.ran, "wall (s)": r.wall_s, "fingerprint": r.fingerprint[:12]}
            for n, r in runner.results.items()
        ]
    )
    s.code(OmegaConf.to_yaml(cfg, resolve=True))
    return report.write(path)
