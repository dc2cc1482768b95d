"""The scoring stage of ``nmm-compare`` and ``nmm-pipeline`` (``stages/compare``): both
methods' reconstructions read back and scored against the same truth by
:func:`nmm.model.evaluate.cell_scores`, paired differences (:mod:`nmm.compare.paired`), tables
and figures."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from nmm.atomic import atomic_write_text
from nmm.compare.figures import plot_error_heatmaps, plot_overlay, plot_torque_tracking
from nmm.compare.paired import paired_differences
from nmm.jobs.nmm_setup import evaluation_settings
from nmm.jobs.stages import StageResult, StageRunner
from nmm.model.evaluate import (
    HEADLINE_KEYS,
    EvaluationSettings,
    cell_scores,
    read_truth_excitation,
    summarise_cells,
)
from nmm.model.features import PreparedTrial
from nmm.model.reconstruct import Reconstruction, read_outputs

__all__ = ["METHODS", "brief_summary", "compare_stage", "predictions_dir"]

METHODS = ("nmm", "mse")

Recs = dict[str, list[Reconstruction]]
Cells = dict[str, list[dict[str, Any]]]


def predictions_dir(stage_dir: Path, protocol: str) -> Path:
    """Where the NMM stage of ``protocol`` (``per_subject`` or ``loso``) left its
    reconstructions."""
    return stage_dir / ("predictions" if protocol == "per_subject" else "loso/predictions")


def brief_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The headline scores of a :func:`summarise_cells` summary and its per-muscle scores
    (without their targets)."""
    out = {k: summary.get(k) for k in HEADLINE_KEYS if k in summary}
    if "per_muscle" in summary:
        out["per_muscle"] = {
            m: {k: v for k, v in pm.items() if k != "targets_met"}
            for m, pm in summary["per_muscle"].items()
        }
    return out


def _read_pair(
    upstream: Mapping[str, StageResult], protocol: str, trials: Sequence[PreparedTrial]
) -> Recs:
    """Both methods' reconstructions of the trials both reconstructed, the MSE's in the NMM's
    order."""
    recs = {
        "nmm": read_outputs(predictions_dir(upstream["nmm"].path, protocol), trials),
        "mse": read_outputs(upstream["mse"].path / "predictions", trials),
    }
    keys = {r.trial.key for r in recs["nmm"]} & {r.trial.key for r in recs["mse"]}
    if not keys:
        raise ValueError("NMM and MSE reconstructed no trial in common")
    recs = {m: [r for r in rs if r.trial.key in keys] for m, rs in recs.items()}
    order = {r.trial.key: r for r in recs["mse"]}
    recs["mse"] = [order[r.trial.key] for r in recs["nmm"]]
    return recs


def _score(
    recs: Sequence[Reconstruction],
    truths: Sequence[np.ndarray | None],
    opt: EvaluationSettings,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cells = cell_scores(recs, truths, opt.hidden, opt.baseline, opt.hidden_signal)
    return summarise_cells(cells, recs, opt.targets), cells


def _baseline(nmm: Mapping[str, Any]) -> dict[str, Any]:
    """The copy-synergist baseline's scores, as the NMM's summary carries them."""
    return {
        "hidden_rmse_mean": nmm.get("baseline_copy_synergist_rmse_mean"),
        "per_muscle": {
            m: {
                "rmse_mean": pm.get("baseline_rmse_mean"),
                "pearson_r_mean": pm.get("baseline_pearson_r_mean"),
            }
            for m, pm in (nmm.get("per_muscle") or {}).items()
        },
    }


def _torque_cells(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One torque row per (subject, load kg) cell: its ``torque_rmse_nm`` (N·m)."""
    seen = {}
    for r in cells:
        seen[(r["subject"], r["load_kg"])] = {
            "subject": r["subject"],
            "load_kg": r["load_kg"],
            "muscle": "torque",
            "torque_rmse_nm": r["torque_rmse_nm"],
        }
    return list(seen.values())


def _paired_rmse(cells: Cells, boot: Mapping[str, Any], goal: float) -> dict[str, Any]:
    """MSE minus NMM hidden-muscle RMSE per cell (subject-cluster bootstrap), and whether the
    NMM meets ``goal`` (its RMSE at most ``goal`` × MSE's, the interval above 0)."""
    pr = paired_differences(cells["nmm"], cells["mse"], "rmse", **boot)
    overall = pr["overall"]
    return {
        "paired_rmse": pr,
        "paired_rmse_diff_mean": overall["mean_diff"],
        "paired_rmse_diff_ci": overall["diff_ci"],
        "nmm_to_mse_rmse_ratio": overall["ratio_a_to_b"],
        "goal": {
            "nmm_to_mse_rmse_ratio_at_most": goal,
            "met_per_muscle": {
                m: bool(s["ratio_a_to_b"] <= goal and s["diff_ci"][0] > 0)
                for m, s in pr["per_muscle"].items()
            },
            "nmm_ahead_ci_excludes_zero": bool(overall["diff_ci"][0] > 0),
        },
    }


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _markdown(metrics: Mapping[str, Any], hidden: Sequence[str]) -> str:
    """``summary.md``: each method's per-muscle RMSE and r and torque R², and the paired
    difference."""

    def f(x: Any) -> str:
        return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.3f}"

    lines = [
        "| method | " + " | ".join(f"{m} RMSE | {m} r" for m in hidden) + " | torque R² |",
        "|---|" + "---|---|" * len(hidden) + "---|",
    ]
    for method in [*METHODS, "baseline"]:
        s = metrics.get(method) or {}
        pm = s.get("per_muscle") or {}
        cols = []
        for m in hidden:
            cols += [f(pm.get(m, {}).get("rmse_mean")), f(pm.get(m, {}).get("pearson_r_mean"))]
        name = {"nmm": "NMM", "mse": "MSE (SynX)", "baseline": "copy synergist"}[method]
        lines.append(f"| {name} | " + " | ".join(cols) + f" | {f(s.get('torque_r2'))} |")
    pr = metrics.get("paired_rmse")
    if pr:
        o = pr["overall"]
        lines += [
            "",
            f"MSE − NMM hidden RMSE: {o['mean_diff']:+.4f} "
            f"[{o['diff_ci'][0]:+.4f}, {o['diff_ci'][1]:+.4f}] (95 % subject-cluster bootstrap), "
            f"Wilcoxon p = {_p(o['wilcoxon_p'])}, NMM/MSE RMSE ratio {o['ratio_a_to_b']:.2f} "
            f"over {o['n_cells']} cells of {o['n_subjects']} subjects.",
        ]
    return "\n".join(lines) + "\n"


def _overlay_choice(recs: Sequence[Reconstruction], n: int) -> list[int]:
    """Indices of up to ``n`` trials spread over subjects and loads (first of each cell)."""
    chosen, seen = [], set()
    for k, r in enumerate(recs):
        cell = (r.trial.subject, r.trial.load_kg)
        if cell not in seen:
            seen.add(cell)
            chosen.append(k)
    if len(chosen) <= n:
        return chosen
    picks = np.linspace(0, len(chosen) - 1, n).round().astype(int)
    return [chosen[i] for i in picks]


def _figures(
    fig_dir: Path,
    recs: Recs,
    cells: Cells,
    truths: Sequence[np.ndarray | None],
    hidden: Sequence[str],
    n_overlay: int,
) -> list[Path]:
    """Error heatmaps per hidden muscle (where the cells score hidden muscles), the torque
    tracking and up to ``n_overlay`` truth/NMM/MSE overlays."""
    figures = []
    heatmaps = any(r.get("muscle") for r in cells["nmm"])
    for m in hidden if heatmaps else ():
        figures.append(plot_error_heatmaps(cells, m, fig_dir / f"heatmap_{m}.png"))
    figures.append(plot_torque_tracking(recs, fig_dir / "torque_tracking.png"))
    for k in _overlay_choice(recs["nmm"], n_overlay):
        pair = {m: recs[m][k] for m in METHODS}
        tr = recs["nmm"][k].trial
        path = fig_dir / f"overlay_{tr.subject}_{tr.trial_id}.png"
        figures.append(plot_overlay(pair, truths[k], hidden, path))
    return figures


def _compare(
    folder: Path,
    cfg: DictConfig,
    cmp: Mapping[str, Any],
    recs: Recs,
    truths: Sequence[np.ndarray | None],
    opt: EvaluationSettings,
) -> dict[str, Any]:
    """Score both methods' reconstructions, write ``cells.csv``, ``summary.md`` and the
    figures under ``folder``; returns the metrics."""
    metrics: dict[str, Any] = {"protocol": str(cmp.get("protocol", "per_subject"))}
    metrics["n_trials"] = len(recs["nmm"])
    cells: Cells = {}
    for m in METHODS:
        summary, cells[m] = _score(recs[m], truths, opt)
        metrics[m] = brief_summary(summary)
    metrics["baseline"] = _baseline(metrics["nmm"])
    boot = {
        "n_boot": int(cmp.get("n_boot", 2000)),
        "confidence": float(cmp.get("ci", 0.95)),
        "seed": int(cfg.seed),
    }
    if any(r.get("muscle") for r in cells["nmm"]):  # hidden muscles scored
        metrics.update(_paired_rmse(cells, boot, float(cmp.get("goal_ratio", 0.6))))
    metrics["paired_torque_rmse"] = paired_differences(
        _torque_cells(cells["nmm"]), _torque_cells(cells["mse"]), "torque_rmse_nm", **boot
    )["overall"]
    rows = [{"method": m, **{k: v for k, v in r.items()}} for m in METHODS for r in cells[m]]
    atomic_write_text(folder / "cells.csv", _table(rows))
    atomic_write_text(folder / "summary.md", _markdown(metrics, opt.hidden))
    n_overlay = int(cmp.get("max_overlays", 4))
    figures = _figures(folder / "figures", recs, cells, truths, opt.hidden, n_overlay)
    metrics["figures"] = [str(p.relative_to(folder)) for p in figures]
    return metrics


def compare_stage(
    runner: StageRunner,
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    truth_dir: Path | None,
    upstream: Mapping[str, StageResult],
) -> StageResult:
    """Score both methods on the same trials and truth; paired differences, tables, figures
    (``compare``: ``protocol``, ``n_boot``, ``ci``, ``goal_ratio``, ``max_overlays``)."""
    cmp = cfg.get("compare") or {}
    protocol = str(cmp.get("protocol", "per_subject"))
    inputs = {
        "compare": cmp,
        "evaluate": cfg.get("evaluate"),
        "upstream": {k: v.fingerprint for k, v in upstream.items()},
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        opt = evaluation_settings(cfg)
        kinds = set(opt.kinds) if opt.kinds else None
        scored = [t for t in trials if kinds is None or t.kind in kinds]
        recs = _read_pair(upstream, protocol, scored)
        muscles = recs["nmm"][0].muscles
        cutoff = opt.reference_cutoff_hz
        truths = [
            read_truth_excitation(truth_dir, r.trial, muscles, cutoff) if truth_dir else None
            for r in recs["nmm"]
        ]
        return _compare(folder, cfg, cmp, recs, truths, opt)

    return runner.run("compare", inputs, run)
