"""Benchmark: the NMM, SynX and the copy-synergist baseline on every cohort of the family.

Each generator variant of ``nmm-synth`` (``conf/synth/<variant>.yaml``: the default cohort, no
MVIC trials, an elevated shoulder, another co-contraction style, few trials, low EMG SNR, other
speeds and ranges; docs/cohort_family.md) is generated once and cached
(:func:`nmm.jobs.cohorts.ensure_variant_cohort`), then ``nmm-compare`` runs on it at the defaults
(per-subject protocol: the NMM fitted on every subject within its training budget, SynX fitted
per subject, the same personalised elbow and truth). From the compare stage's cells (subject ×
load × hidden muscle) it records, per variant and hidden muscle:

- RMSE of each method against the truth, the NMM's RMSE over the copy-synergist's and over
  SynX's, each with a subject-cluster bootstrap CI (:func:`nmm.bootstrap.cluster_bootstrap_ci`,
  ratio of means over the same cells);
- Pearson r of each method (mean over cells);
- torque R² of the NMM and SynX (mean over subject × load cells);
- the NMM's optimiser steps and stop reason (joint fit and each subject's specialisation), and
  the wall time of each stage and of the cohort's generation;
- ``targets_met`` per variant and muscle: NMM RMSE <= 0.6 × copy-synergist and <= 0.75 × SynX,
  Pearson r >= 0.9, torque R² >= 0.95 (issue 17);
- ``identified_parameters``: which personalised parameters the fit identified, against the
  cohort's truth (:mod:`benchmarks.parameter_identification`).
- ``level_shape``: per hidden muscle and method (NMM, SynX, copy-synergist), the RMSE as scored
  and after each subject's reconstruction is rescaled by its own least-squares factor onto the
  truth, the share of the squared error that scale removes and the factors
  (:mod:`benchmarks.level_shape`): how much of the error is a per-subject level.

The result is written atomically to ``benchmarks/results/generalise.json`` and the Markdown
table in ``benchmarks/README.md`` is regenerated from it (``benchmarks/table.py``).

``--quick`` (what ``make bench`` runs) uses a small version of each variant
(:data:`QUICK_SYNTH`: two subjects, short fast trials) and the tiny network with capped
budgets (:data:`QUICK_COMPARE`), and writes ``results/generalise_quick.json``: the pipeline on
every variant, not its accuracy (the full run is the reference).

``--rescore-from RUN_DIR`` runs nothing: it scores the committed result (or ``--result``) again
from the run directories of the run that wrote it, or of a rerun that reproduced it
(``RUN_DIR/<variant>``, as ``--run-dir`` leaves them), refuses a run whose scores or steps
differ from the result's, keeps the result's timings and adds the records it lacks
(:func:`rescore`).

Usage: python benchmarks/bench_generalise.py [--quick] [--variants NAME ...] [--out PATH]
[--run-dir DIR] [overrides...] (extra arguments are Hydra overrides of ``conf/compare.yaml``);
python benchmarks/bench_generalise.py --rescore-from RUN_DIR [--result PATH] [--out PATH].
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import logging
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TARGETS = {"ratio_to_copy": 0.6, "ratio_to_synx": 0.75, "pearson_r": 0.9, "torque_r2": 0.95}
# a small cohort of each variant: two subjects, short fast trials (nmm-synth overrides)
QUICK_SYNTH = [
    "n_subjects=2",
    "task.flexion_duration_s=[0.7]",
    "task.hold_s=0.15",
    "checks.forward_windows=1",
]
# the pipeline only: the tiny network, capped budgets, few SynX steps
QUICK_COMPARE = [
    "model=tiny",
    "budget.fit.max_steps=100",
    "budget.specialise.max_steps=20",
    "mse.steps=50",
    "compare.n_boot=200",
    "compare.max_overlays=0",
]


def _read_cells(path: Path) -> list[dict[str, Any]]:
    """The compare stage's ``cells.csv``: one row per method × subject × load (× muscle)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            if k not in ("method", "subject", "muscle") and v not in ("", None):
                with contextlib.suppress(ValueError):
                    r[k] = float(v)
    return rows


def _ratio(
    num: Sequence[float], den: Sequence[float], subjects: Sequence[str], n_boot: int
) -> dict[str, Any]:
    from nmm.bootstrap import cluster_bootstrap_ci

    num, den = np.asarray(num, float), np.asarray(den, float)
    lo, hi = cluster_bootstrap_ci(num, np.asarray(subjects), denominator=den, n_boot=n_boot)
    return {"ratio": float(num.sum() / den.sum()), "ci95": [lo, hi]}


def muscle_scores(rows: Sequence[Mapping[str, Any]], muscle: str, n_boot: int) -> dict[str, Any]:
    """One hidden muscle's scores from compare cells (see the module doc)."""
    nmm = {
        (r["subject"], r["load_kg"]): r
        for r in rows
        if r["method"] == "nmm" and r["muscle"] == muscle
    }
    mse = {
        (r["subject"], r["load_kg"]): r
        for r in rows
        if r["method"] == "mse" and r["muscle"] == muscle
    }
    keys = sorted(set(nmm) & set(mse))
    if not keys:
        raise ValueError(f"no cell of {muscle} scored by both methods")
    subjects = [k[0] for k in keys]
    n_rmse = [nmm[k]["rmse"] for k in keys]
    copy = [nmm[k]["baseline_rmse"] for k in keys]
    synx = [mse[k]["rmse"] for k in keys]
    out = {
        "n_cells": len(keys),
        "rmse": {
            "nmm": float(np.mean(n_rmse)),
            "synx": float(np.mean(synx)),
            "copy": float(np.mean(copy)),
        },
        "pearson_r": {
            "nmm": float(np.nanmean([nmm[k]["pearson_r"] for k in keys])),
            "synx": float(np.nanmean([mse[k]["pearson_r"] for k in keys])),
            "copy": float(np.nanmean([nmm[k]["baseline_pearson_r"] for k in keys])),
        },
        "ratio_to_copy": _ratio(n_rmse, copy, subjects, n_boot),
        "ratio_to_synx": _ratio(n_rmse, synx, subjects, n_boot),
    }
    return out


def torque_r2(rows: Sequence[Mapping[str, Any]], method: str) -> float:
    """Mean torque R² over the method's subject × load cells (each muscle's row repeats its
    cell's torque scores)."""
    cells = {
        (r["subject"], r["load_kg"]): r["torque_r2"]
        for r in rows
        if r["method"] == method and isinstance(r.get("torque_r2"), float)
    }
    return float(np.mean(list(cells.values()))) if cells else float("nan")


def targets_met(muscle: Mapping[str, Any], torque: float) -> dict[str, bool]:
    """The issue's targets for one hidden muscle of one variant."""
    return {
        "ratio_to_copy": muscle["ratio_to_copy"]["ratio"] <= TARGETS["ratio_to_copy"],
        "ratio_to_synx": muscle["ratio_to_synx"]["ratio"] <= TARGETS["ratio_to_synx"],
        "pearson_r": muscle["pearson_r"]["nmm"] >= TARGETS["pearson_r"],
        "torque_r2": torque >= TARGETS["torque_r2"],
    }


def _nmm_steps(stage_metrics: Mapping[str, Any]) -> dict[str, Any]:
    fit = stage_metrics.get("fit", {})
    spec = (fit.get("specialise") or {}).get("subjects", {})
    return {
        "joint_fit_steps": fit.get("global_steps"),
        "joint_fit_stop_reason": (fit.get("budget") or {}).get("stop_reason"),
        "joint_fit_s": fit.get("fit_wall_s"),
        "specialise": {
            s: {"steps": b["steps"], "stop_reason": b["stop_reason"]} for s, b in spec.items()
        },
    }


def run_variant(
    name: str, root: Path, run_dir: Path, overrides: Sequence[str], n_boot: int
) -> dict[str, Any]:
    """``nmm-compare`` on one cohort at the defaults (plus ``overrides``); its scores."""
    from hydra import compose, initialize_config_dir

    from nmm.compare.job import run_compare
    from nmm.config import CONF_DIR
    from nmm.synth.model_inputs import variant_physics_overrides, variant_preprocess_overrides

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="compare",
            overrides=[
                f"data.root={root}",
                f"run_dir={run_dir}",
                "trainer.enable_progress_bar=false",
                *variant_physics_overrides(root),
                *variant_preprocess_overrides(root),
                *overrides,
            ],
        )
    t0 = time.perf_counter()
    metrics = run_compare(cfg)
    wall = time.perf_counter() - t0
    scores = score_run(name, root, run_dir, metrics, list(cfg.physics.hidden), n_boot)
    return {**scores, "wall_s": wall}


def score_run(
    name: str,
    root: Path,
    run_dir: Path,
    metrics: Mapping[str, Any],
    hidden: Sequence[str],
    n_boot: int,
) -> dict[str, Any]:
    """The scores of a finished ``nmm-compare`` run on the cohort at ``root`` (``metrics``: its
    ``metrics.json``; ``hidden``: its hidden muscles), and which personalised parameters it
    identified (:func:`benchmarks.parameter_identification.identified_parameters`) and how
    much of each method's error is a per-subject level
    (:func:`benchmarks.level_shape.run_level_shape`)."""
    from benchmarks.level_shape import run_level_shape
    from benchmarks.parameter_identification import identified_parameters

    rows = _read_cells(run_dir / metrics["stages"]["compare"]["path"] / "cells.csv")
    torque = {"nmm": torque_r2(rows, "nmm"), "synx": torque_r2(rows, "mse")}
    muscles = {m: muscle_scores(rows, m, n_boot) for m in hidden}
    nmm_dir = run_dir / metrics["stages"]["nmm"]["path"]
    nmm_stage = json.loads((nmm_dir / "metrics.json").read_text())
    return {
        "variant": name,
        "cohort": str(root),
        "n_trials": metrics.get("n_trials"),
        "muscles": muscles,
        "torque_r2": torque,
        "targets_met": {m: targets_met(s, torque["nmm"]) for m, s in muscles.items()},
        "nmm": _nmm_steps(nmm_stage),
        "stage_wall_s": {k: v["wall_s"] for k, v in metrics["stages"].items()},
        "identified_parameters": identified_parameters(nmm_dir, root, n_boot),
        "level_shape": run_level_shape(run_dir, root, hidden, rows),
    }


# what scoring a run again must find as the result has it (its timings may differ: a rerun)
RESCORED_KEYS = ("n_trials", "muscles", "torque_r2", "targets_met")
# the records of the run's timings, kept from the result
TIMING_KEYS = ("nmm", "stage_wall_s")


def _without_timings(nmm: Mapping[str, Any]) -> dict[str, Any]:
    """The NMM's steps and stop reasons of :func:`_nmm_steps`, its joint fit's wall time left
    out."""
    return {k: v for k, v in nmm.items() if k != "joint_fit_s"}


def rescore_variant(
    name: str, recorded: Mapping[str, Any], run_dir: Path, n_boot: int
) -> dict[str, Any]:
    """One variant of a result (``recorded``) scored again from a run directory of the same
    run or of a rerun that reproduced it: the scores and steps must be the result's; the
    result's timings are kept, and the records it lacks are added.

    Raises:
        ValueError: the run's scores or steps are not the result's (other settings or code).
    """
    from nmm.data.io.textfile import load_yaml

    metrics = json.loads((run_dir / "metrics.json").read_text())
    hidden = load_yaml(run_dir / "config.yaml", final_newline=True)["physics"]["hidden"]
    new = score_run(name, Path(recorded["cohort"]), run_dir, metrics, hidden, n_boot)
    pairs = [(k, new[k], recorded[k]) for k in RESCORED_KEYS if k in recorded]
    if "nmm" in recorded:
        pairs.append(("nmm", _without_timings(new["nmm"]), _without_timings(recorded["nmm"])))
    differ = [
        k for k, a, b in pairs if json.dumps(a, sort_keys=True) != json.dumps(b, sort_keys=True)
    ]
    if differ:
        raise ValueError(
            f"{run_dir}: scoring it again does not reproduce the result's {differ} for {name}: "
            "not a run of this result's settings and code"
        )
    return {**recorded, **new, **{k: recorded[k] for k in TIMING_KEYS if k in recorded}}


def rescore(result: Mapping[str, Any], run_dir: Path) -> dict[str, Any]:
    """``result`` with every variant rescored from ``run_dir/<variant>``
    (:func:`rescore_variant`), at the result's own bootstrap size."""
    n_boot = _n_boot(bool(result.get("quick")))
    variants = {
        n: rescore_variant(n, v, run_dir / n, n_boot) for n, v in result["variants"].items()
    }
    return {**result, "variants": variants, "rescored_from": str(run_dir)}


def _n_boot(quick: bool) -> int:
    """Bootstrap resamples of the CIs: fewer for ``--quick``."""
    return 200 if quick else 2000


def checked_variants(parser: argparse.ArgumentParser, requested: Sequence[str] | None) -> list[str]:
    """The requested cohort variants (default: every one); an unknown one is a usage error."""
    from nmm.jobs.cohorts import variant_names

    names = list(requested or variant_names())
    unknown = sorted(set(names) - set(variant_names()))
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {variant_names()}")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="small cohorts (see the module doc)")
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant")
    parser.add_argument("--out", default=None, help="default: results/generalise(_quick).json")
    parser.add_argument("--run-dir", default=None, help="run directories (default: a temp folder)")
    parser.add_argument(
        "--synth", nargs="*", default=None, help="nmm-synth overrides of every variant's cohort"
    )
    parser.add_argument("--workers", type=int, default=1, help="variants compared in parallel")
    parser.add_argument(
        "--update",
        action="store_true",
        help="replace only these variants in the existing result (same settings required)",
    )
    parser.add_argument(
        "--rescore-from",
        default=None,
        metavar="RUN_DIR",
        help="run nothing: score the result (--result) again from the run directories of the run "
        "that wrote it (RUN_DIR/<variant>), check that it reproduces the result, add the records "
        "it lacks, write it to --out",
    )
    parser.add_argument(
        "--result", default=None, help="with --rescore-from (default: results/generalise.json)"
    )
    args, overrides = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nmm").setLevel(logging.INFO)

    import torch

    from benchmarks.machine import describe_machine, peak_rss_mib, write_result
    from nmm.jobs.cohorts import ensure_variant_cohort

    names = checked_variants(parser, args.variants)
    results = REPO_ROOT / "benchmarks" / "results"
    default_out = results / f"generalise{'_quick' if args.quick else ''}.json"
    out = Path(args.out) if args.out else default_out
    if args.rescore_from:
        source = Path(args.result) if args.result else default_out
        return _rescore_main(source, out, Path(args.rescore_from))
    base = (
        Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench_generalise_"))
    )
    synth = [*(QUICK_SYNTH if args.quick else []), *(args.synth or [])]
    extra = [*(QUICK_COMPARE if args.quick else []), *overrides]
    n_boot = _n_boot(args.quick)
    t0 = time.perf_counter()
    roots, generation = {}, {}
    for name in names:  # cohorts first (OpenSim runs its own worker processes)
        g0 = time.perf_counter()
        roots[name] = ensure_variant_cohort(name, overrides=synth)
        generation[name] = recorded_generation_s(roots[name], time.perf_counter() - g0)
        print(f"== {name}: cohort {roots[name]} ({generation[name]:.0f} s to generate)", flush=True)
    variants = compare_all(names, roots, base, extra, n_boot, args.workers)
    for name in names:
        variants[name]["cohort_generation_s"] = generation[name]
        _print_variant(variants[name])
    if args.update and out.is_file():
        variants = _merged(json.loads(out.read_text(encoding="utf-8")), variants, synth, extra)
    result = {
        "benchmark": "generalise_quick" if args.quick else "generalise",
        "what": "nmm-compare (per-subject protocol, defaults) on every nmm-synth variant: hidden "
        "RMSE of the NMM over copy-synergist and over SynX with subject-cluster bootstrap CIs, "
        "Pearson r, torque R², training steps and stop reasons",
        "quick": args.quick,
        "targets": TARGETS,
        "synth_overrides": synth,
        "workers": args.workers,
        "overrides": extra,
        "variants": variants,
        "all_targets_met": all(
            all(v.values()) for r in variants.values() for v in r["targets_met"].values()
        ),
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mib": peak_rss_mib(),
        "torch_threads": torch.get_num_threads(),
        "machine": describe_machine("torch", "lightning", "opensim", "numpy"),
        "run_dir": str(base),
    }
    write_result(result, out)
    if not args.quick:
        from benchmarks.table import update_readme

        update_readme()
    print(f"written: {out}")
    return 0


def _rescore_main(source: Path, target: Path, run_dir: Path) -> int:
    """``--rescore-from``: :func:`rescore` the result at ``source`` from ``run_dir``, write it
    to ``target``; the README's tables are regenerated when that is the committed result."""
    from benchmarks.machine import write_result
    from benchmarks.table import GENERALISE, RESULTS, update_readme

    result = rescore(json.loads(source.read_text(encoding="utf-8")), run_dir)
    write_result(result, target)
    for r in result["variants"].values():
        _print_variant(r)
    if target.resolve() == (RESULTS / GENERALISE).resolve():
        update_readme()
    print(f"rescored {len(result['variants'])} variants from {run_dir}: written {target}")
    return 0


def compare_all(
    names: Sequence[str],
    roots: Mapping[str, Path],
    base: Path,
    overrides: Sequence[str],
    n_boot: int,
    workers: int,
) -> dict[str, dict[str, Any]]:
    """:func:`run_variant` of every variant, in ``workers`` spawned processes (1: here)."""
    if workers <= 1:
        return {n: run_variant(n, roots[n], base / n, overrides, n_boot) for n in names}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {
            n: pool.submit(run_variant, n, roots[n], base / n, list(overrides), n_boot)
            for n in names
        }
        return {n: f.result() for n, f in futures.items()}


def _merged(
    old: Mapping[str, Any],
    new: Mapping[str, dict[str, Any]],
    synth: Sequence[str],
    overrides: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """``old``'s variants with ``new``'s in their place (``--update``), in ``old``'s order.

    Raises:
        ValueError: ``old`` was run with other cohort or compare settings.
    """
    if list(old.get("synth_overrides", [])) != list(synth) or list(
        old.get("overrides", [])
    ) != list(overrides):
        raise ValueError(
            f"--update: the existing result was run with synth {old.get('synth_overrides')} and "
            f"overrides {old.get('overrides')}, not {list(synth)} and {list(overrides)}"
        )
    merged = dict(old["variants"])
    merged.update(new)
    return merged


def recorded_generation_s(root: Path, measured: float) -> float:
    """The cohort's recorded generation time (its metrics.json), else the time just measured."""
    try:
        return float(json.loads((root / "metrics.json").read_text())["generation_s"])
    except (OSError, KeyError, ValueError, TypeError):
        return measured


def _print_variant(r: Mapping[str, Any]) -> None:
    for m, s in r["muscles"].items():
        print(
            f"   {m}: NMM {s['rmse']['nmm']:.4f} (copy {s['rmse']['copy']:.4f}, SynX "
            f"{s['rmse']['synx']:.4f}); /copy {s['ratio_to_copy']['ratio']:.2f}, /SynX "
            f"{s['ratio_to_synx']['ratio']:.2f}, r {s['pearson_r']['nmm']:.3f}; targets "
            f"{r['targets_met'][m]}",
            flush=True,
        )
    print(
        f"   torque R² NMM {r['torque_r2']['nmm']:.3f}; {r['nmm']['joint_fit_steps']} steps "
        f"({r['nmm']['joint_fit_stop_reason']}); {r['wall_s']:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    raise SystemExit(main())
