"""Benchmark: how the NMM fit, SynX and painsig grow with the number of subjects (issue 17).

One cohort of one variant of the cohort family (``--variant``, default ``default``: it has the
painful and baseline conditions that painsig needs) is generated once at the largest size of
``--subjects`` (cached by :func:`nmm.jobs.cohorts.ensure_variant_cohort` with
``n_subjects=N_max`` and the ``--synth`` overrides), and each size ``N`` runs on its first ``N``
subjects (``++data.subjects=[S01,...]``, read by both apps; :func:`first_subjects`). The
generator draws each subject from its own random stream, so these are the subjects of an
``N``-subject cohort, and their MVIC and baseline trials are the same files byte for byte; only
the pain and placebo trials differ slightly, because the pain calibration pools the baseline
variability of the whole cohort (their EMG by under 1 % RMS between the cached seed-0 cohorts of
3 and 5 subjects). One generation of ``N_max`` subjects replaces one per size (38 subjects at
1-20). At each size, each in a fresh process so that its peak memory is its own:

- ``nmm-compare`` at the defaults (:func:`benchmarks.bench_generalise.run_variant`): the wall
  time of the NMM stage (joint fit, each subject's specialisation, evaluation) and of SynX, the
  joint fit's optimiser steps, stop reason and steps per second, and the hidden-muscle scores;
- ``painsig`` (``experiment=synthetic_painsig`` on the same cohort): its wall time, from two
  subjects on (its leave-one-subject-out CV needs two).

Growth: for each of NMM, SynX and painsig, the exponent ``b`` of ``wall ≈ a · N^b`` by least
squares on log-log axes over the sizes run (``b = 1``: linear in subjects, the target).

The result is written atomically to ``benchmarks/results/scaling.json``, with the cohort (its
folder, size and its one generation's wall time) under ``cohort`` and each size's subjects.
``--quick`` (what ``make bench`` runs) uses a small cohort, capped budgets and few permutations
(``bench_generalise``'s quick settings) at 1, 2 and 3 subjects, and writes
``results/scaling_quick.json``: the procedure, not its figures.

Usage: python benchmarks/bench_scaling.py [--variant default] [--subjects 1 2 5 10 20]
[--synth ...] [--run-dir DIR] [--quick] [overrides of conf/compare.yaml ...]
"""

from __future__ import annotations

import argparse
import logging
import math
import multiprocessing as mp
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

SUBJECTS = (1, 2, 5, 10, 20)
QUICK_SUBJECTS = (1, 2, 3)
# painsig's evaluation at --quick: few permutations and bootstrap draws
MIN_PAINSIG_SUBJECTS = 2  # leave-one-subject-out
QUICK_PAINSIG = ["painsig.evaluation.n_permutations=5", "painsig.evaluation.n_boot=50"]
# how the sizes are made, recorded in the result
SIZES_MADE = (
    "every size N runs on the first N subjects of one cohort of N_max subjects "
    "(++data.subjects); subjects are drawn from their own streams, so they and their MVIC and "
    "baseline trials are those of an N-subject cohort byte for byte; the pain and placebo "
    "trials differ slightly (the pain calibration pools the whole cohort's baseline variability)"
)


def growth_exponent(sizes: Sequence[float], walls: Sequence[float]) -> float | None:
    """Least-squares slope ``b`` of ``log(wall)`` on ``log(size)``; None with < 2 sizes.

    Args:
        sizes: numbers of subjects (> 0), at least two distinct for a slope.
        walls: wall times (s, > 0), one per size.
    """
    if len(set(sizes)) < 2:
        return None
    x = [math.log(s) for s in sizes]
    y = [math.log(w) for w in walls]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxx = sum((a - mx) ** 2 for a in x)
    return sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / sxx


def first_subjects(root: Path, n: int) -> list[str]:
    """The ids of the first ``n`` subjects of the cohort folder ``root`` (its dataset manifest's
    order); ValueError naming the manifest when it has fewer."""
    from nmm.data.io.textfile import load_yaml

    manifest = root / "dataset" / "manifest.yaml"
    ids = [str(s["id"]) for s in load_yaml(manifest, final_newline=True)["subjects"]]
    if not 1 <= n <= len(ids):
        raise ValueError(f"{manifest}: {len(ids)} subjects, {n} asked for")
    return ids[:n]


def subject_selection(subjects: Sequence[str]) -> str:
    """The override that makes both apps read only ``subjects`` (``data.subjects``)."""
    return f"++data.subjects=[{','.join(subjects)}]"


def _nmm_and_synx(root: str, run_dir: str, overrides: list[str], n_boot: int) -> dict[str, Any]:
    """``nmm-compare`` on the cohort (run in a fresh process): stage walls, steps, scores."""
    from benchmarks.bench_generalise import run_variant

    r = run_variant(Path(root).name, Path(root), Path(run_dir), overrides, n_boot)
    nmm = r["nmm"]
    steps, fit_s = nmm["joint_fit_steps"], nmm["joint_fit_s"]
    return {
        "nmm_stage_s": r["stage_wall_s"]["nmm"],
        "synx_stage_s": r["stage_wall_s"]["mse"],
        "compare_wall_s": r["wall_s"],
        "joint_fit_steps": steps,
        "joint_fit_stop_reason": nmm["joint_fit_stop_reason"],
        "joint_fit_steps_per_s": steps / fit_s if steps and fit_s else None,
        "specialise_steps": sum(s["steps"] for s in nmm["specialise"].values()),
        "n_trials": r["n_trials"],
        "hidden_ratio_to_copy": {m: s["ratio_to_copy"]["ratio"] for m, s in r["muscles"].items()},
        "torque_r2": r["torque_r2"]["nmm"],
    }


def painsig_config(root: str, run_dir: str, overrides: Sequence[str]) -> Any:
    """The config of ``painsig experiment=synthetic_painsig`` on the cohort folder ``root``."""
    from nmm.config import compose_config

    return compose_config(
        "painsig_run",
        ["experiment=synthetic_painsig", f"data.root={root}", f"run_dir={run_dir}", *overrides],
    )


def _painsig(root: str, run_dir: str, overrides: list[str]) -> dict[str, Any]:
    """``painsig experiment=synthetic_painsig`` on the cohort (run in a fresh process)."""
    from nmm.jobs.painsig import run_painsig_job

    cfg = painsig_config(root, run_dir, overrides)
    t0 = time.perf_counter()
    metrics = run_painsig_job(cfg)
    return {
        "painsig_s": time.perf_counter() - t0,
        "balanced_accuracy": metrics["balanced_accuracy"],
    }


def _with_peak_memory(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    from benchmarks.machine import peak_rss_mib

    logging.basicConfig(level=logging.WARNING)
    return {**fn(*args), "peak_rss_mib": peak_rss_mib()}


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` in a new spawned process, with that process's peak memory (MiB) added."""
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_with_peak_memory, fn, *args).result()


def cohort(variant: str, synth: Sequence[str], n_max: int) -> tuple[Path, dict[str, Any]]:
    """The variant's cohort of ``n_max`` subjects (generated once, then reused) and its record:
    folder, size, the wall time (s) of the generation that made it (its ``metrics.json``) and
    of getting it in this run (about 0 when cached)."""
    from benchmarks.bench_generalise import recorded_generation_s
    from nmm.jobs.cohorts import ensure_variant_cohort

    t0 = time.perf_counter()
    root = ensure_variant_cohort(variant, overrides=[*synth, f"n_subjects={n_max}"])
    this_run_s = time.perf_counter() - t0
    return root, {
        "root": str(root),
        "n_subjects": n_max,
        "generation_s": recorded_generation_s(root, this_run_s),
        "this_run_s": this_run_s,
        "sizes_made": SIZES_MADE,
    }


def stage_overrides(
    subjects: Sequence[str], extra: Sequence[str], quick: bool
) -> dict[str, list[str]]:
    """The overrides of ``nmm-compare`` (``compare``: ``extra`` then the selection) and of
    ``painsig`` (``painsig``) that run them on ``subjects`` only."""
    select = subject_selection(subjects)
    return {
        "compare": [*extra, select],
        "painsig": [*(QUICK_PAINSIG if quick else []), select],
    }


def run_size(n: int, root: Path, base: Path, extra: Sequence[str], quick: bool) -> dict[str, Any]:
    """nmm-compare and painsig on the first ``n`` subjects of the cohort at ``root``, each in
    its own process, timed."""
    subjects = first_subjects(root, n)
    overrides = stage_overrides(subjects, extra, quick)
    n_boot = 200 if quick else 2000
    run_dir = base / f"n{n}"
    compare = in_fresh_process(
        _nmm_and_synx, str(root), str(run_dir / "compare"), overrides["compare"], n_boot
    )
    pain = (
        in_fresh_process(_painsig, str(root), str(run_dir / "painsig"), overrides["painsig"])
        if n >= MIN_PAINSIG_SUBJECTS
        else None
    )
    pain_text = "not run" if pain is None else f"{pain['painsig_s']:.0f} s"
    print(
        f"== {n} subjects: NMM {compare['nmm_stage_s']:.0f} s ({compare['joint_fit_steps']} "
        f"joint steps), SynX {compare['synx_stage_s']:.0f} s, painsig {pain_text}",
        flush=True,
    )
    return {"n_subjects": n, "subjects": subjects, "compare": compare, "painsig": pain}


def growth(sizes: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """The growth exponent of each stage's wall time over the sizes run."""
    n = [s["n_subjects"] for s in sizes]
    pain = [s for s in sizes if s["painsig"] is not None]
    return {
        "nmm": growth_exponent(n, [s["compare"]["nmm_stage_s"] for s in sizes]),
        "synx": growth_exponent(n, [s["compare"]["synx_stage_s"] for s in sizes]),
        "painsig": growth_exponent(
            [s["n_subjects"] for s in pain], [s["painsig"]["painsig_s"] for s in pain]
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--variant", default="default", help="a cohort variant (conf/synth/)")
    parser.add_argument("--subjects", type=int, nargs="+", default=None, help="cohort sizes")
    parser.add_argument("--synth", nargs="*", default=None, help="nmm-synth overrides")
    parser.add_argument("--run-dir", default=None, help="run directories (default: temporary)")
    parser.add_argument("--quick", action="store_true", help="small cohorts (see the module doc)")
    parser.add_argument("--out", default=None, help="default: results/scaling(_quick).json")
    args, overrides = parser.parse_known_args(argv)
    sizes = sorted(set(args.subjects or (QUICK_SUBJECTS if args.quick else SUBJECTS)))
    if any(n < 1 for n in sizes):
        parser.error(f"--subjects: positive numbers of subjects, got {sizes}")
    logging.basicConfig(level=logging.WARNING)

    import torch

    from benchmarks.bench_generalise import QUICK_COMPARE, QUICK_SYNTH
    from benchmarks.machine import describe_machine, peak_rss_mib, write_result
    from nmm.jobs.cohorts import variant_names

    if args.variant not in variant_names():
        parser.error(f"unknown variant {args.variant!r}; known: {variant_names()}")
    base = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench_scaling_"))
    synth = [*(QUICK_SYNTH if args.quick else []), *(args.synth or [])]
    synth = [s for s in synth if not s.startswith("n_subjects=")]
    extra = [*(QUICK_COMPARE if args.quick else []), *overrides]
    t0 = time.perf_counter()
    root, made = cohort(args.variant, synth, sizes[-1])
    print(f"== cohort {root}: {sizes[-1]} subjects ({made['generation_s']:.0f} s to generate)")
    runs = [run_size(n, root, base, extra, args.quick) for n in sizes]
    result = {
        "benchmark": "scaling_quick" if args.quick else "scaling",
        "what": f"nmm-compare and painsig on the first N subjects of one {args.variant} cohort "
        f"of {sizes[-1]}, N = {sizes}, each in its own process: wall time and peak memory of "
        "each, and the exponent b of wall ~ N^b (1: linear)",
        "quick": args.quick,
        "variant": args.variant,
        "synth_overrides": synth,
        "cohort": made,
        "overrides": extra,
        "sizes": runs,
        "growth_exponent": growth(runs),
        "torch_threads": torch.get_num_threads(),
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mib": peak_rss_mib(),
        "machine": describe_machine("torch", "lightning", "opensim", "xgboost", "numpy"),
    }
    name = "scaling_quick" if args.quick else "scaling"
    out = Path(args.out) if args.out else REPO_ROOT / "benchmarks" / "results" / f"{name}.json"
    write_result(result, out)
    print(f"growth exponents {result['growth_exponent']}; written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
