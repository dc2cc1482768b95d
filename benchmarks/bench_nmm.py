"""Benchmark: the NMM on the default synthetic cohort, both protocols, end to end.

Runs what ``nmm-train`` runs with the default config (``conf/train.yaml``: per-subject fit and
leave-one-subject-out, each scored against the OpenSim ground truth) and records:

- wall time of the job (data preparation, the per-subject fit and each subject's specialised
  network, the five LOSO folds with their personalisation, reconstruction, files), and
  separately the time to generate the cohort when it was not cached yet (OpenSim,
  :func:`nmm.jobs.cohorts.ensure_default_cohort`);
- peak resident memory of the main process and of each LOSO fold (``ru_maxrss``; the folds
  train in worker processes, each reports its own);
- training steps per second of the per-subject fit and of each fold;
- the accuracy summaries of both protocols and whether the targets are met (hidden-muscle RMSE
  <= 0.6 x the copy-synergist baseline, Pearson r >= 0.9, torque R² >= 0.95);
- the machine (:func:`benchmarks.machine.describe_machine`) and the torch thread count.

The result is written atomically to ``benchmarks/results/nmm.json``. The goal is under five
minutes on 2 CPU cores.

``--quick`` (what ``make bench`` runs) measures the training speed only: the per-subject fit
for :data:`QUICK_STEPS` optimiser steps, no LOSO, written to ``results/nmm_quick.json`` without
accuracy (a few steps say nothing about it); the full run is the reference for both.

Usage: python benchmarks/bench_nmm.py [--quick] [--cohort DIR] [--out PATH] [--run-dir DIR]
[overrides...] (``--cohort`` names a folder with ``dataset/`` and ``ground_truth/``; extra
arguments are Hydra overrides of ``conf/train.yaml``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GOAL_WALL_S = 300.0
QUICK_STEPS = 72
QUICK_OVERRIDES = [
    "fold=per_subject",
    f"budget.fit.max_steps={QUICK_STEPS}",
    "evaluate.write_outputs=false",
    "specialise.enabled=false",  # training speed of the joint fit only
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cohort", default=None, help="folder with dataset/ and ground_truth/")
    parser.add_argument("--out", default=None, help="default: results/nmm.json (nmm_quick.json)")
    parser.add_argument("--run-dir", default=None, help="run directory (default: a temp folder)")
    parser.add_argument("--quick", action="store_true", help="training speed only (see above)")
    args, overrides = parser.parse_known_args(argv)
    if args.quick:
        overrides = [*QUICK_OVERRIDES, *overrides]
    results = REPO_ROOT / "benchmarks" / "results"
    out = Path(args.out) if args.out else results / ("nmm_quick.json" if args.quick else "nmm.json")
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nmm").setLevel(logging.INFO)

    import torch
    from hydra import compose, initialize_config_dir

    from benchmarks.machine import describe_machine, peak_rss_mib, write_result
    from nmm.config import CONF_DIR
    from nmm.jobs.train import run_train
    from nmm.model.evaluate import HEADLINE_KEYS

    t0 = time.perf_counter()
    cohort_s = 0.0
    if args.cohort is None:
        from nmm.jobs.cohorts import ensure_default_cohort

        try:
            root = ensure_default_cohort()
        except (OSError, ValueError) as exc:
            print(f"bench_nmm: cannot get the default cohort ({exc}); nothing written")
            return 1
        cohort_s = time.perf_counter() - t0
    else:
        root = Path(args.cohort)
    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench_nmm_"))
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"data.root={root}",
                f"run_dir={run_dir}",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
        )
    t1 = time.perf_counter()
    metrics = run_train(cfg)
    wall = time.perf_counter() - t1
    what = (
        f"training speed of nmm-train's per-subject fit on the default synthetic cohort, "
        f"{QUICK_STEPS} optimiser steps (accuracy: see nmm.json)"
        if args.quick
        else "nmm-train on the default synthetic cohort: per-subject fit (joint fit, then each "
        "subject's own network: specialise.enabled) + leave-one-subject-out (train on 4, "
        "personalise the 5th with the network frozen, then adapt a copy of the network to it: "
        "evaluate.personalise.adapt), each fit within its budget (conf/budget), scored against "
        "OpenSim"
    )
    result = {
        "benchmark": "nmm_quick" if args.quick else "nmm",
        "what": what,
        "quick": args.quick,
        "cohort": str(root),
        "overrides": overrides,
        "wall_s": wall,
        "goal_wall_s": GOAL_WALL_S,
        "within_goal": wall <= GOAL_WALL_S,
        "cohort_generation_s": cohort_s,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_fold_mib": max(
            (f.get("peak_rss_mib", 0.0) for f in metrics.get("loso", {}).get("folds", [])),
            default=0.0,
        ),
        "loso_workers": int(cfg.evaluate.get("workers", 1) or 1),
        "torch_threads": torch.get_num_threads(),
        "fit": {
            "per_subject_steps": metrics["fit"]["global_steps"],
            "per_subject_steps_per_s": metrics["fit"]["steps_per_s"],
            "per_subject_fit_s": metrics["fit"]["fit_wall_s"],
            "per_subject_stop_reason": metrics["fit"]["budget"]["stop_reason"],
            "specialise_steps": {
                sid: sb["steps"]
                for sid, sb in (metrics["fit"].get("specialise") or {}).get("subjects", {}).items()
            },
            "specialise_s": (metrics["fit"].get("specialise") or {}).get("wall_s", 0.0),
            "loso_folds": [
                {
                    "held_out": f["held_out"],
                    "steps": f["fit"]["global_steps"],
                    "stop_reason": f["fit"]["budget"]["stop_reason"],
                    "adapt_steps": (f["personalise"].get("adapt") or {}).get("steps", 0),
                    "steps_per_s": f["fit"]["steps_per_s"],
                    "fold_s": f["wall_s"],
                    "personalise_s": f["personalise"]["wall_s"],
                    "adapt_s": (f["personalise"].get("adapt") or {}).get("wall_s", 0.0),
                }
                for f in metrics.get("loso", {}).get("folds", [])
            ],
        },
        "accuracy": {
            p: {k: metrics[p][k] for k in (*HEADLINE_KEYS, "targets_met") if k in metrics[p]}
            | {"per_muscle": metrics[p]["per_muscle"]}
            for p in ("per_subject", "loso")
            if p in metrics
        },
        "machine": describe_machine("torch", "lightning", "opensim", "numpy"),
        "run_dir": str(run_dir),
    }
    if args.quick:  # the accuracy and the wall-time goal are the full run's
        for key in ("accuracy", "goal_wall_s", "within_goal", "peak_rss_fold_mib"):
            result.pop(key, None)
    write_result(result, out)
    for p, s in result.get("accuracy", {}).items():
        print(
            f"{p}: hidden r {s['hidden_pearson_r_mean']:.3f}, RMSE {s['hidden_rmse_mean']:.4f} "
            f"(baseline {s['baseline_copy_synergist_rmse_mean']:.4f}), torque R² "
            f"{s['torque_r2']:.3f}; targets {s['targets_met']}"
        )
    print(
        f"wall {wall:.0f} s{'' if args.quick else f' (goal {GOAL_WALL_S:.0f} s)'}, per-subject fit "
        f"{result['fit']['per_subject_steps_per_s']:.2f} steps/s, peak RSS "
        f"{result['peak_rss_mib']:.0f} MiB"
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
