"""Benchmark: the NMM on the default synthetic cohort, both protocols, end to end.

Runs what ``nmm-train`` runs with the default config (``conf/train.yaml``: per-subject fit and
leave-one-subject-out, each scored against the OpenSim ground truth) and records:

- wall time of the job (data preparation, the per-subject fit, the five LOSO folds with their
  personalisation, reconstruction, files), and separately the time to generate the cohort when
  it was not cached yet (OpenSim, :func:`nmm.data.synth.ensure_default_cohort`);
- peak resident memory of the main process and of each LOSO fold (``ru_maxrss``; the folds
  train in worker processes, each reports its own);
- training steps per second of the per-subject fit and of each fold;
- the accuracy summaries of both protocols and whether the targets are met (hidden-muscle RMSE
  <= 0.6 x the copy-synergist baseline, Pearson r >= 0.9, torque R² >= 0.95);
- the machine (:func:`benchmarks.machine.describe_machine`) and the torch thread count.

The result is written atomically to ``benchmarks/results/nmm.json``. The goal is under five
minutes on 2 CPU cores.

Usage: python benchmarks/bench_nmm.py [--cohort DIR] [--out PATH] [--run-dir DIR] [overrides...]
(``--cohort`` names a folder with ``dataset/`` and ``ground_truth/``; extra arguments are Hydra
overrides of ``conf/train.yaml``).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

GOAL_WALL_S = 300.0
SUMMARY_KEYS = (
    "hidden_pearson_r_mean",
    "hidden_rmse_mean",
    "hidden_r2_mean",
    "baseline_copy_synergist_rmse_mean",
    "baseline_copy_synergist_pearson_r_mean",
    "rmse_ratio_to_baseline",
    "torque_r2",
    "torque_r2_pooled",
    "torque_rmse_nm",
    "targets_met",
)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--cohort", default=None, help="folder with dataset/ and ground_truth/")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "nmm.json"))
    parser.add_argument("--run-dir", default=None, help="run directory (default: a temp folder)")
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nmm").setLevel(logging.INFO)

    import torch
    from hydra import compose, initialize_config_dir

    from benchmarks.machine import describe_machine
    from nmm.atomic import atomic_write_text
    from nmm.config import CONF_DIR
    from nmm.model.train import run_train

    t0 = time.perf_counter()
    cohort_s = 0.0
    if args.cohort is None:
        from nmm.data.synth import ensure_default_cohort

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
                f"synthetic.root={root}",
                f"run_dir={run_dir}",
                "trainer.enable_progress_bar=false",
                *overrides,
            ],
        )
    t1 = time.perf_counter()
    metrics = run_train(cfg)
    wall = time.perf_counter() - t1
    result = {
        "benchmark": "nmm",
        "what": "nmm-train on the default synthetic cohort: per-subject fit + leave-one-subject-"
        "out (train on 4, personalise the 5th with the network frozen), scored against OpenSim",
        "cohort": str(root),
        "overrides": overrides,
        "wall_s": wall,
        "goal_wall_s": GOAL_WALL_S,
        "within_goal": wall <= GOAL_WALL_S,
        "cohort_generation_s": cohort_s,
        "peak_rss_mib": _peak_rss_mib(),
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
            "loso_folds": [
                {
                    "held_out": f["held_out"],
                    "steps": f["fit"]["global_steps"],
                    "steps_per_s": f["fit"]["steps_per_s"],
                    "fold_s": f["wall_s"],
                    "personalise_s": f["personalise"]["wall_s"],
                }
                for f in metrics.get("loso", {}).get("folds", [])
            ],
        },
        "accuracy": {
            p: {k: metrics[p][k] for k in SUMMARY_KEYS if k in metrics[p]}
            | {"per_muscle": metrics[p]["per_muscle"]}
            for p in ("per_subject", "loso")
            if p in metrics
        },
        "machine": describe_machine("torch", "lightning", "opensim", "numpy"),
        "run_dir": str(run_dir),
    }
    out = Path(args.out)
    atomic_write_text(out, json.dumps(result, indent=2, default=str) + "\n")
    for p, s in result["accuracy"].items():
        print(
            f"{p}: hidden r {s['hidden_pearson_r_mean']:.3f}, RMSE {s['hidden_rmse_mean']:.4f} "
            f"(baseline {s['baseline_copy_synergist_rmse_mean']:.4f}), torque R² "
            f"{s['torque_r2']:.3f}; targets {s['targets_met']}"
        )
    print(
        f"wall {wall:.0f} s (goal {GOAL_WALL_S:.0f} s), peak RSS {result['peak_rss_mib']:.0f} MiB"
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
