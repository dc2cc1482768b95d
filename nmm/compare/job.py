"""``nmm-compare``: the NMM against synergy extrapolation (MSE) on the same data, same splits,
same physics (``conf/compare.yaml``).

Three cached stages (:class:`nmm.jobs.stages.StageRunner`) under the run directory:

- ``stages/nmm``: :func:`nmm.jobs.train.run_train` with the run's config (network and every
  subject's personalised parameters; ``evaluate.protocols`` chooses per-subject fit and/or
  leave-one-subject-out); its ``predictions/`` (per-subject) or ``loso/predictions/`` hold the
  reconstructions;
- ``stages/mse``: :func:`nmm.synergy.fit.fit_synx` per subject on the same prepared trials and
  the same personalised elbow (``mse`` group), reconstructions in ``predictions/``;
- ``stages/compare``: both read back and scored against the same truth by
  :func:`nmm.model.evaluate.cell_scores`; paired differences (:mod:`nmm.compare.paired`), tables
  and figures.

The run's ``metrics.json`` holds ``nmm`` and ``mse`` (``hidden_rmse_mean``,
``hidden_pearson_r_mean``, ``hidden_r2_mean``, ``torque_r2``, ``torque_rmse_nm``, per muscle),
``paired_rmse_diff_ci`` ([low, high] of MSE minus NMM, subject-cluster bootstrap), ``paired_rmse``
(tests and per-muscle breakdown), ``paired_torque_rmse``, ``nmm_to_mse_rmse_ratio`` and the goal.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf, open_dict

from nmm.atomic import atomic_write_text
from nmm.compare.figures import plot_error_heatmaps, plot_overlay, plot_torque_tracking
from nmm.compare.paired import paired_differences
from nmm.jobs.config_check import check_cohort_rates
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.jobs.stages import StageRunner, fingerprint
from nmm.jobs.train import run_train
from nmm.model.evaluate import (
    HEADLINE_KEYS,
    cell_scores,
    evaluation_options,
    read_truth_excitation,
    summarise_cells,
)
from nmm.model.features import PreparedTrial
from nmm.model.physics import PersonalisedElbow
from nmm.model.reconstruct import Reconstruction, read_outputs, write_outputs
from nmm.model.train import build_elbow, load_cohort, prepare_cohort, set_threads
from nmm.synergy.fit import fit_synx
from nmm.synth.source import synthetic_root

__all__ = [
    "METHODS",
    "compare_stage",
    "dataset_fingerprint",
    "mse_stage",
    "nmm_stage",
    "open_run",
    "run_compare",
]

log = logging.getLogger(__name__)

METHODS = ("nmm", "mse")
# config keys that do not change what the NMM stage computes
_NOT_NMM = ("run_dir", "mse", "compare", "pipeline", "hydra", "painsig", "validate", "report")


def dataset_fingerprint(cfg: DictConfig) -> str:
    """Fingerprint of the data the run reads: the data options plus every file's name, size and
    modification time under the dataset folder (the synthetic cohort's, or ``data.path``)."""
    data = cfg.get("data")
    root = synthetic_root(data)
    if data is not None and data.get("path"):
        root = Path(str(data.path))
    files = []
    if root is not None and root.exists():
        for p in sorted(root.rglob("*")):
            if p.is_file() and ".tmp" not in p.parts[-2:]:
                st = p.stat()
                files.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns))
    return fingerprint({"data": cfg.get("data"), "files": files})


def _nmm_inputs(cfg: DictConfig, data_fp: str) -> dict[str, Any]:
    plain = OmegaConf.to_container(cfg, resolve=True)
    return {"config": {k: v for k, v in plain.items() if k not in _NOT_NMM}, "data": data_fp}


def _predictions_dir(stage_dir: Path, protocol: str) -> Path:
    return stage_dir / ("predictions" if protocol == "per_subject" else "loso/predictions")


def nmm_stage(runner: StageRunner, cfg: DictConfig, data_fp: str) -> Any:
    """Fit and evaluate the NMM (``run_train``) in ``stages/nmm``; resumes an interrupted fit
    from its ``checkpoints/last.ckpt``."""

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        sub = cfg.copy()
        with open_dict(sub):
            sub.run_dir = str(folder)
            last = folder / "checkpoints" / "last.ckpt"
            sub.ckpt_path = str(last) if resume and last.is_file() else None
        metrics = run_train(sub)
        return {p: _brief(metrics[p]) for p in ("per_subject", "loso") if p in metrics}

    return runner.run("nmm", _nmm_inputs(cfg, data_fp), run)


def mse_stage(
    runner: StageRunner,
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    elbow: Any,
    truth_dir: Path | None,
    data_fp: str,
) -> Any:
    """Synergy extrapolation of every subject in ``stages/mse`` (reconstructions as ``.sto``,
    personalised ``.osim`` files, figures)."""
    inputs = {
        "mse": cfg.mse,
        "physics": cfg.physics,
        "preprocess": cfg.preprocess,
        "model_inputs": {
            "channel_map": cfg.model.get("channel_map"),
            "loss_allowable_error": cfg.model.get("loss_allowable_error"),
        },
        "kinds": cfg.datamodule.get("kinds"),
        "subjects": cfg.get("subjects"),
        "seed": cfg.seed,
        "data": data_fp,
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        t0 = time.perf_counter()
        subjects = list(dict.fromkeys(t.subject for t in trials))
        physics = PersonalisedElbow.from_config(cfg, elbow, len(subjects))
        result = fit_synx(cfg.mse, trials, physics, seed=int(cfg.seed))
        ev = cfg.get("evaluate") or {}
        cutoff = ev.get("reference_cutoff_hz", 6.0)
        truth = {}
        if truth_dir is not None:
            for rec in result.reconstructions:
                t = read_truth_excitation(truth_dir, rec.trial, rec.muscles, cutoff)
                if t is not None:
                    truth[rec.trial.key] = t
        write_outputs(
            result.reconstructions,
            folder / "predictions",
            physics=result.physics,
            subject_rows={s: i for i, s in enumerate(result.subject_ids)},
            osim=cfg.physics.osim,
            truth=truth,
            hidden=list(cfg.physics.hidden),
            max_figures=int(ev.get("max_figures", 6)),
        )
        return {"wall_s": time.perf_counter() - t0, "info": result.info}

    return runner.run("mse", inputs, run)


def _brief(summary: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: summary.get(k) for k in HEADLINE_KEYS if k in summary}
    if "per_muscle" in summary:
        out["per_muscle"] = {
            m: {k: v for k, v in pm.items() if k != "targets_met"}
            for m, pm in summary["per_muscle"].items()
        }
    return out


def _score(
    recs: Sequence[Reconstruction],
    truths: Sequence[np.ndarray | None],
    opt: Mapping[str, Any],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    cells = cell_scores(recs, truths, opt["hidden"], opt["baseline"], opt["hidden_signal"])
    return summarise_cells(cells, recs, opt["targets"]), cells


def _torque_cells(cells: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen = {}
    for r in cells:
        seen[(r["subject"], r["load_kg"])] = {
            "subject": r["subject"],
            "load_kg": r["load_kg"],
            "muscle": "torque",
            "torque_rmse_nm": r["torque_rmse_nm"],
        }
    return list(seen.values())


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


def compare_stage(
    runner: StageRunner,
    cfg: DictConfig,
    trials: Sequence[PreparedTrial],
    truth_dir: Path | None,
    upstream: Mapping[str, Any],
) -> Any:
    """Score both methods on the same trials and truth; paired differences, tables, figures."""
    cmp = cfg.get("compare") or {}
    protocol = str(cmp.get("protocol", "per_subject"))
    inputs = {
        "compare": cmp,
        "evaluate": cfg.get("evaluate"),
        "upstream": {k: v.fingerprint for k, v in upstream.items()},
    }

    def run(folder: Path, resume: bool) -> dict[str, Any]:
        opt = evaluation_options(cfg)
        kinds = set(opt["kinds"]) if opt["kinds"] else None
        scored = [t for t in trials if kinds is None or t.kind in kinds]
        recs = {
            "nmm": read_outputs(_predictions_dir(upstream["nmm"].path, protocol), scored),
            "mse": read_outputs(upstream["mse"].path / "predictions", scored),
        }
        keys = {r.trial.key for r in recs["nmm"]} & {r.trial.key for r in recs["mse"]}
        if not keys:
            raise ValueError("NMM and MSE reconstructed no trial in common")
        recs = {m: [r for r in rs if r.trial.key in keys] for m, rs in recs.items()}
        muscles = recs["nmm"][0].muscles
        truths = [
            read_truth_excitation(truth_dir, r.trial, muscles, opt["reference_cutoff_hz"])
            if truth_dir
            else None
            for r in recs["nmm"]
        ]
        metrics: dict[str, Any] = {"protocol": protocol, "n_trials": len(keys)}
        cells = {}
        for m in METHODS:
            if m == "mse":
                order = {r.trial.key: r for r in recs["mse"]}
                recs["mse"] = [order[r.trial.key] for r in recs["nmm"]]
            summary, cells[m] = _score(recs[m], truths, opt)
            metrics[m] = _brief(summary)
        base = metrics["nmm"].get("per_muscle") or {}
        metrics["baseline"] = {
            "hidden_rmse_mean": metrics["nmm"].get("baseline_copy_synergist_rmse_mean"),
            "per_muscle": {
                m: {
                    "rmse_mean": pm.get("baseline_rmse_mean"),
                    "pearson_r_mean": pm.get("baseline_pearson_r_mean"),
                }
                for m, pm in base.items()
            },
        }
        boot = {
            "n_boot": int(cmp.get("n_boot", 2000)),
            "confidence": float(cmp.get("ci", 0.95)),
            "seed": int(cfg.seed),
        }
        hidden_rows = any(r.get("muscle") for r in cells["nmm"])
        if hidden_rows:
            pr = paired_differences(cells["nmm"], cells["mse"], "rmse", **boot)
            metrics["paired_rmse"] = pr
            metrics["paired_rmse_diff_mean"] = pr["overall"]["mean_diff"]
            metrics["paired_rmse_diff_ci"] = pr["overall"]["diff_ci"]
            metrics["nmm_to_mse_rmse_ratio"] = pr["overall"]["ratio_a_to_b"]
            goal = float(cmp.get("goal_ratio", 0.6))
            metrics["goal"] = {
                "nmm_to_mse_rmse_ratio_at_most": goal,
                "met_per_muscle": {
                    m: bool(s["ratio_a_to_b"] <= goal and s["diff_ci"][0] > 0)
                    for m, s in pr["per_muscle"].items()
                },
                "nmm_ahead_ci_excludes_zero": bool(pr["overall"]["diff_ci"][0] > 0),
            }
        metrics["paired_torque_rmse"] = paired_differences(
            _torque_cells(cells["nmm"]), _torque_cells(cells["mse"]), "torque_rmse_nm", **boot
        )["overall"]
        rows = [{"method": m, **{k: v for k, v in r.items()}} for m in METHODS for r in cells[m]]
        atomic_write_text(folder / "cells.csv", _table(rows))
        atomic_write_text(folder / "summary.md", _markdown(metrics, opt["hidden"]))
        fig_dir = folder / "figures"
        figures = []
        if hidden_rows:
            for m in opt["hidden"]:
                figures.append(plot_error_heatmaps(cells, m, fig_dir / f"heatmap_{m}.png"))
        figures.append(plot_torque_tracking(recs, fig_dir / "torque_tracking.png"))
        n_overlay = int(cmp.get("max_overlays", 4))
        for k in _overlay_choice(recs["nmm"], n_overlay):
            pair = {m: recs[m][k] for m in METHODS}
            tr = recs["nmm"][k].trial
            figures.append(
                plot_overlay(
                    pair,
                    truths[k],
                    opt["hidden"],
                    fig_dir / f"overlay_{tr.subject}_{tr.trial_id}.png",
                )
            )
        metrics["figures"] = [str(p.relative_to(folder)) for p in figures]
        return metrics

    return runner.run("compare", inputs, run)


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


def select_subjects(
    trials: Sequence[PreparedTrial], subjects: Sequence[str] | None
) -> list[PreparedTrial]:
    """The trials of ``subjects`` (None: all); an unknown subject is an error naming it."""
    if not subjects:
        return list(trials)
    have = {t.subject for t in trials}
    unknown = sorted(set(subjects) - have)
    if unknown:
        raise ValueError(f"subjects {unknown} are not in the cohort (have {sorted(have)})")
    return [t for t in trials if t.subject in set(subjects)]


@dataclass
class RunContext:
    """What a staged job starts from: its folder, seed, cohort, truth, elbow, prepared trials,
    the data's fingerprint and the stage runner."""

    run_dir: Path
    seed: int
    cohort: Any
    truth_dir: Path | None
    elbow: Any
    trials: list[PreparedTrial]
    data_fp: str
    runner: StageRunner


def open_run(cfg: DictConfig) -> RunContext:
    """Create ``run_dir``, seed, set threads, write ``config.yaml``, load and prepare the cohort
    (``subjects`` selects), fingerprint the data (what ``nmm-compare`` and ``nmm-pipeline``
    share)."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = seed_everything(int(cfg.seed))
    set_threads(cfg.get("threads"))
    write_config(cfg, run_dir)
    cohort, truth_dir = load_cohort(cfg)
    check_cohort_rates(cfg, cohort)  # filters below Nyquist, before any preprocessing
    elbow = build_elbow(cfg)
    trials = select_subjects(prepare_cohort(cohort, cfg, elbow), cfg.get("subjects"))
    return RunContext(
        run_dir,
        seed,
        cohort,
        truth_dir,
        elbow,
        trials,
        dataset_fingerprint(cfg),
        StageRunner(run_dir),
    )


def run_compare(cfg: DictConfig) -> dict[str, Any]:
    """The whole ``nmm-compare`` job; returns (and writes) its metrics."""
    t0 = time.perf_counter()
    run = open_run(cfg)
    stages = {
        "nmm": nmm_stage(run.runner, cfg, run.data_fp),
        "mse": mse_stage(run.runner, cfg, run.trials, run.elbow, run.truth_dir, run.data_fp),
    }
    cmp = compare_stage(run.runner, cfg, run.trials, run.truth_dir, stages)
    metrics = {
        "seed": run.seed,
        "cohort": run.cohort.name,
        **cmp.result,
        "stages": {
            n: {"ran": s.ran, "wall_s": s.wall_s, "path": os.path.relpath(s.path, run.run_dir)}
            for n, s in {**stages, "compare": cmp}.items()
        },
        "wall_s": time.perf_counter() - t0,
    }
    write_metrics(metrics, run.run_dir)
    return metrics
