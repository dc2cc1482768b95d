"""Benchmark: a default re-chosen by leave-one-variant-out over the cohort family (issue 17).

A default tuned on the cohorts it is judged on proves nothing. For candidate settings (each a
list of Hydra overrides of ``conf/compare.yaml``), this runs ``nmm-compare`` under each candidate
on every cohort variant (:func:`benchmarks.bench_generalise.run_variant`), then, for each variant
*v*, chooses the candidate that did best on the **other** variants and reports *v*'s scores
under that choice. So every variant is judged by a setting it did not choose.

"Did best" is, in order: more of issue 17's targets met (NMM hidden RMSE <= 0.6 × copy-synergist
and <= 0.75 × SynX, Pearson r >= 0.9, torque R² >= 0.95, per hidden muscle), then the lower mean
NMM/copy RMSE ratio over hidden muscles. The candidate the whole family chooses is reported as
``chosen``, and ``stable`` says whether every held-out choice agrees with it.

Candidates are given as ``--setting KEY=V1,V2`` (one key, candidates ``V1`` and ``V2``) or as
named bundles, ``--candidate LABEL [OVERRIDE ...]`` once per candidate (``--name`` names the
result; overrides for every candidate go before the first ``--candidate``). A bundle with no
override is the defaults.

Cohorts are those of ``bench_generalise`` (cached by :func:`nmm.jobs.cohorts.ensure_variant_cohort`
with the same ``--synth`` overrides). Each variant's run directory is shared by the candidates,
so the stages a candidate does not change (SynX, when the setting is the NMM's) are computed
once; give ``--run-dir`` the directory of a ``bench_generalise`` run to reuse its stages too.

The result is written atomically to ``benchmarks/results/lovo_<name>.json`` (``<name>``: the
key, dots as underscores, or ``--name``) and its table is generated into ``docs/defaults.md``
(``python -m benchmarks.table``).

``--quick`` (what ``make bench`` runs) uses the small cohorts and capped budgets of
``bench_generalise --quick`` and writes ``results/lovo_quick.json``: the procedure, not its
figures.

Usage: python benchmarks/bench_lovo.py [--setting KEY=V1,V2 | --name NAME --candidate LABEL
[OVERRIDE ...] ...] [--quick] [--variants ...] [--synth ...] [--run-dir DIR] [--workers N]
[overrides...] (default setting: :data:`DEFAULT_SETTING`)
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: The setting judged when none is given: whether each subject gets its own network after the
#: joint fit (``specialise.enabled``).
DEFAULT_SETTING = "specialise.enabled=true,false"


def parse_setting(text: str) -> tuple[str, list[str]]:
    """``"key=v1,v2"`` -> ``("key", ["v1", "v2"])``; at least two distinct values.

    Raises:
        ValueError: no ``=``, an empty key, or fewer than two distinct values.
    """
    key, sep, values = text.partition("=")
    candidates = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key.strip() or len(set(candidates)) < 2:
        raise ValueError(f"--setting {text!r}: expected KEY=V1,V2[,...] with two or more values")
    return key.strip(), list(dict.fromkeys(candidates))


def candidates_from(
    setting: str | None, bundles: Sequence[Sequence[str]] | None
) -> dict[str, list[str]]:
    """``{label: overrides}`` from ``--setting KEY=V1,V2`` or ``--candidate LABEL [OVERRIDE ...]``.

    Raises:
        ValueError: both or neither given, a bad setting, fewer than two or repeated labels.
    """
    if (setting is None) == (not bundles):
        raise ValueError("give either --setting KEY=V1,V2 or two or more --candidate LABEL ...")
    if setting is not None:
        key, values = parse_setting(setting)
        return {v: [f"{key}={v}"] for v in values}
    labels = [b[0] for b in bundles]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"--candidate: two or more distinct labels needed, got {labels}")
    return {b[0]: list(b[1:]) for b in bundles}


def variant_score(result: Mapping[str, Any]) -> tuple[int, float]:
    """(targets met, mean NMM/copy RMSE ratio) of one variant's ``run_variant`` result."""
    met = sum(int(ok) for m in result["targets_met"].values() for ok in m.values())
    ratios = [m["ratio_to_copy"]["ratio"] for m in result["muscles"].values()]
    return met, sum(ratios) / len(ratios)


def _better(a: tuple[int, float], b: tuple[int, float]) -> bool:
    """More targets met, then a lower ratio."""
    return a[0] > b[0] or (a[0] == b[0] and a[1] < b[1])


def choose(scores: Mapping[str, Mapping[str, tuple[int, float]]], exclude: str | None) -> str:
    """The value whose summed score over the variants other than ``exclude`` is best.

    Args:
        scores: ``{value: {variant: (targets met, mean ratio)}}``.
        exclude: the held-out variant (None: every variant counts).
    """
    best_value, best = None, None
    for value, per_variant in scores.items():
        kept = [s for v, s in per_variant.items() if v != exclude]
        total = (sum(s[0] for s in kept), sum(s[1] for s in kept) / max(len(kept), 1))
        if best is None or _better(total, best):
            best_value, best = value, total
    assert best_value is not None
    return best_value


def leave_one_variant_out(
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> dict[str, Any]:
    """The leave-one-variant-out choice and the held-out scores under it.

    Args:
        results: ``{value: {variant: run_variant result}}``, every value on the same variants.

    Returns:
        ``{"chosen", "stable", "held_out": {variant: {"chosen", "targets_met", "n_targets",
        "mean_ratio_to_copy"}}, "all_values": {value: {variant: {...}}}}``.
    """
    scores = {
        value: {v: variant_score(r) for v, r in per.items()} for value, per in results.items()
    }
    variants = list(next(iter(results.values())))
    held_out = {}
    for v in variants:
        value = choose(scores, exclude=v)
        met, ratio = scores[value][v]
        n = sum(len(m) for m in results[value][v]["targets_met"].values())
        held_out[v] = {
            "chosen": value,
            "targets_met": met,
            "n_targets": n,
            "mean_ratio_to_copy": ratio,
        }
    chosen = choose(scores, exclude=None)
    return {
        "chosen": chosen,
        "stable": all(h["chosen"] == chosen for h in held_out.values()),
        "held_out": held_out,
        "all_values": {
            value: {v: {"targets_met": s[0], "mean_ratio_to_copy": s[1]} for v, s in per.items()}
            for value, per in scores.items()
        },
    }


def _run_candidates(
    candidates: Mapping[str, Sequence[str]],
    names: Sequence[str],
    roots: Mapping[str, Path],
    base: Path,
    overrides: Sequence[str],
    n_boot: int,
    workers: int,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every candidate on every variant (candidates in turn; variants in ``workers``
    processes)."""
    from benchmarks.bench_generalise import compare_all

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for label, extra in candidates.items():
        print(f"== {label}: {' '.join(extra) or 'the defaults'}", flush=True)
        out[label] = compare_all(
            names, roots, base, [*overrides, *extra], n_boot=n_boot, workers=workers
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--setting", default=None, help=f"KEY=V1,V2[,...] ({DEFAULT_SETTING})")
    parser.add_argument(
        "--candidate", nargs="+", action="append", metavar=("LABEL", "OVERRIDE"), help="a bundle"
    )
    parser.add_argument("--name", default=None, help="result name (required with --candidate)")
    parser.add_argument("--quick", action="store_true", help="small cohorts (see the module doc)")
    parser.add_argument("--variants", nargs="+", default=None, help="default: every variant")
    parser.add_argument("--synth", nargs="*", default=None, help="nmm-synth overrides")
    parser.add_argument("--run-dir", default=None, help="run directories (default: temporary)")
    parser.add_argument("--workers", type=int, default=1, help="variants compared in parallel")
    parser.add_argument("--out", default=None, help="default: results/lovo_<name>.json")
    argv_ = sys.argv[1:] if argv is None else list(argv)
    args, overrides = parser.parse_known_args(argv_)
    setting = args.setting or (None if args.candidate else DEFAULT_SETTING)
    try:
        candidates = candidates_from(setting, args.candidate)
    except ValueError as exc:
        parser.error(str(exc))
    if args.candidate and not args.name:
        parser.error("--candidate needs --name (the result file is lovo_<name>.json)")
    name = "quick" if args.quick else (args.name or parse_setting(setting)[0].replace(".", "_"))
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("nmm").setLevel(logging.INFO)

    from benchmarks.bench_generalise import QUICK_COMPARE, QUICK_SYNTH, checked_variants
    from benchmarks.machine import describe_machine, peak_rss_mib, write_result
    from nmm.jobs.cohorts import ensure_variant_cohort

    names = checked_variants(parser, args.variants)
    base = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench_lovo_"))
    synth = [*(QUICK_SYNTH if args.quick else []), *(args.synth or [])]
    extra = [*(QUICK_COMPARE if args.quick else []), *overrides]
    t0 = time.perf_counter()
    roots = {n: ensure_variant_cohort(n, overrides=synth) for n in names}
    n_boot = 200 if args.quick else 2000
    results = _run_candidates(candidates, names, roots, base, extra, n_boot, args.workers)
    result = {
        "benchmark": f"lovo_{name}",
        "quick": args.quick,
        "command": "python benchmarks/bench_lovo.py " + " ".join(shlex.quote(a) for a in argv_),
        "what": f"leave-one-variant-out choice among {list(candidates)}: each variant judged "
        "under the candidate that did best on the other variants (targets met, then mean "
        "NMM/copy RMSE ratio)",
        "candidates": candidates,
        "synth_overrides": synth,
        "overrides": extra,
        **leave_one_variant_out(results),
        "variants": results,
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mib": peak_rss_mib(),
        "machine": describe_machine("torch", "lightning", "opensim", "numpy"),
    }
    out = Path(args.out) if args.out else REPO_ROOT / "benchmarks" / "results" / f"lovo_{name}.json"
    write_result(result, out)
    print(
        f"{name}: chosen {result['chosen']} (stable: {result['stable']}); held out: "
        + ", ".join(
            f"{v} {h['chosen']} {h['targets_met']}/{h['n_targets']}"
            for v, h in result["held_out"].items()
        ),
        flush=True,
    )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
