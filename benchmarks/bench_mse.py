"""Benchmark: synergy extrapolation (SynX, the MSE baseline) on the default synthetic cohort.

Fits :func:`nmm.synergy.fit.fit_synx` with ``conf/mse/synx.yaml`` to every subject of the default
cohort (all trials, MVIC included, as the NMM's per-subject fit sees them; the hidden channels
are never seen), scores the movement trials against the OpenSim ground truth exactly as the NMM
is scored (:func:`nmm.model.evaluate.cell_scores`, reference envelope at
``evaluate.reference_cutoff_hz``) and records:

- wall time of the fit (factorisation, optimisation, reconstruction) on one torch thread, and
  of loading and preparing the cohort;
- the accuracy summary (hidden-muscle RMSE, Pearson r, R², the copy-synergist baseline, torque
  R² and RMSE) and its per-muscle breakdown;
- the fit's cost terms, evaluations, windows and each subject's factorisation VAF;
- the same for pure SynX defaults (weights per trial, no grouped activation similarity,
  extrapolated-activation allowable error 0.5) as a reference, unless ``--no-reference``;
- with ``--sensitivity``, the summary of each one-option change of :data:`SENSITIVITY` (the
  numbers quoted in ``conf/mse/synx.yaml``);
- the machine (:func:`benchmarks.machine.describe_machine`).

The result is written atomically to ``benchmarks/results/mse.json``. The goal is a fit under
three minutes on one thread.

Usage: python benchmarks/bench_mse.py [--cohort DIR] [--out PATH] [--no-reference]
[--sensitivity] [overrides...]
(``--cohort`` names a folder with ``dataset/`` and ``ground_truth/``; extra arguments are Hydra
overrides of ``conf/train.yaml`` with the ``mse`` group, e.g. ``mse.n_synergies=3``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GOAL_WALL_S = 180.0
# Pure SynX defaults (NMSM Pipeline SynergyExtrapolationClass, MTPReference), for reference.
SYNX_DEFAULTS = [
    "mse.weight_scope=trial",
    "mse.residual_scope=task",
    "mse.activation_groups=[]",
    "mse.allowable_error.extrapolated_activation=0.5",
]
# One option changed at a time (conf/mse/synx.yaml quotes these).
SENSITIVITY = [
    ["mse.n_synergies=1"],
    ["mse.n_synergies=3"],
    ["mse.method=pca"],
    ["mse.weight_scope=trial"],
    ["mse.weight_scope=subject", "mse.residual_scope=subject"],
    ["mse.activation_groups=[]"],
    ["mse.allowable_error.extrapolated_activation=0.5"],
]


def _run(cfg: Any, trials: list, elbow: Any, truth_dir: Path) -> dict[str, Any]:
    """Fit, score and summarise one configuration."""
    from nmm.compare.mse import synx_physics, synx_settings
    from nmm.jobs.nmm_setup import evaluation_settings
    from nmm.model.evaluate import (
        HEADLINE_KEYS,
        cell_scores,
        read_truth_excitation,
        summarise_cells,
    )
    from nmm.synergy.fit import fit_synx

    t0 = time.perf_counter()
    physics = synx_physics(cfg, elbow, trials)  # the elbow built as the NMM's
    result = fit_synx(synx_settings(cfg), trials, physics, seed=int(cfg.seed))
    fit_s = time.perf_counter() - t0
    opt = evaluation_settings(cfg)
    kinds = set(opt.kinds or [])
    recs = [r for r in result.reconstructions if not kinds or r.trial.kind in kinds]
    truths = [
        read_truth_excitation(truth_dir, r.trial, r.muscles, opt.reference_cutoff_hz) for r in recs
    ]
    rows = cell_scores(recs, truths, opt.hidden, opt.baseline, opt.hidden_signal)
    summary = summarise_cells(rows, recs, opt.targets)
    info = result.info
    return {
        "fit_wall_s": fit_s,
        "accuracy": {k: summary[k] for k in HEADLINE_KEYS}
        | {"per_muscle": summary["per_muscle"], "targets_met": summary["targets_met"]},
        "fit": {
            k: info[k]
            for k in (
                "method",
                "n_synergies",
                "weight_scope",
                "residual_scope",
                "optimizer",
                "steps",
                "evaluations",
                "windows",
                "synergy_groups",
                "residual_groups",
                "terms_first",
                "terms_last",
                "vaf",
                "factorise_s",
                "optimise_s",
            )
        },
        "settings": info["settings"],
        "n_trials_scored": len(recs),
        "cells": summary["cells"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cohort", default=None, help="folder with dataset/ and ground_truth/")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "mse.json"))
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the pure-SynX-defaults reference fit"
    )
    parser.add_argument(
        "--sensitivity", action="store_true", help="also fit each one-option change"
    )
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nmm").setLevel(logging.INFO)

    import torch
    from hydra import compose, initialize_config_dir

    from benchmarks.machine import describe_machine, write_result
    from nmm.config import CONF_DIR
    from nmm.jobs.nmm_setup import build_elbow, load_cohort, prepared_trials

    torch.set_num_threads(1)
    root = ["data.root=" + str(Path(args.cohort))] if args.cohort else []

    def config(extra: list[str]) -> Any:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name="train", overrides=["+mse=synx", *root, *extra])

    cfg = config(overrides)
    t0 = time.perf_counter()
    cohort, truth_dir = load_cohort(cfg)
    if truth_dir is None:
        print("bench_mse: the cohort has no ground truth; nothing to score, nothing written")
        return 1
    elbow = build_elbow(cfg)
    trials = prepared_trials(cfg, cohort, elbow)
    prepare_s = time.perf_counter() - t0
    main_run = _run(cfg, trials, elbow, truth_dir)
    result: dict[str, Any] = {
        "benchmark": "mse",
        "what": "synergy extrapolation (SynX, conf/mse/synx.yaml) fitted to every subject of the "
        "default synthetic cohort on its measured channels, kinematics and torque; movement "
        "trials scored against the OpenSim ground truth as the NMM is",
        "cohort": cohort.name,
        "truth_dir": str(truth_dir),
        "overrides": overrides,
        "n_trials": len(trials),
        "n_subjects": len({t.subject for t in trials}),
        "prepare_s": prepare_s,
        "wall_s": main_run["fit_wall_s"],
        "goal_wall_s": GOAL_WALL_S,
        "within_goal": main_run["fit_wall_s"] <= GOAL_WALL_S,
        "torch_threads": torch.get_num_threads(),
        **{k: v for k, v in main_run.items() if k != "fit_wall_s"},
    }
    if not args.no_reference:
        ref = _run(config([*overrides, *SYNX_DEFAULTS]), trials, elbow, truth_dir)
        result["synx_defaults"] = {
            "overrides": SYNX_DEFAULTS,
            "wall_s": ref["fit_wall_s"],
            "accuracy": ref["accuracy"],
            "fit": ref["fit"],
        }
    if args.sensitivity:
        result["sensitivity"] = []
        for change in SENSITIVITY:
            r = _run(config([*overrides, *change]), trials, elbow, truth_dir)
            a = r["accuracy"]
            result["sensitivity"].append(
                {
                    "overrides": change,
                    "wall_s": r["fit_wall_s"],
                    "min_vaf": min(r["fit"]["vaf"].values()),
                    **{k: a[k] for k in ("hidden_rmse_mean", "hidden_pearson_r_mean", "torque_r2")},
                    "per_muscle": {
                        m: {k: v[k] for k in ("rmse_mean", "pearson_r_mean")}
                        for m, v in a["per_muscle"].items()
                    },
                }
            )
            print(
                f"  {' '.join(change)}: RMSE {a['hidden_rmse_mean']:.4f}, r "
                f"{a['hidden_pearson_r_mean']:.3f}, torque R² {a['torque_r2']:.3f}"
            )
    result["machine"] = describe_machine("torch", "numpy", "sklearn")
    out = write_result(result, Path(args.out))
    runs = [("mse", result)] + (
        [("synx_defaults", result["synx_defaults"])] if "synx_defaults" in result else []
    )
    for name, r in runs:
        a = r["accuracy"]
        print(
            f"{name}: hidden RMSE {a['hidden_rmse_mean']:.4f} (copy-synergist baseline "
            f"{a['baseline_copy_synergist_rmse_mean']:.4f}), r {a['hidden_pearson_r_mean']:.3f}, "
            f"torque R² {a['torque_r2']:.3f}; fit {r['wall_s']:.0f} s"
        )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
