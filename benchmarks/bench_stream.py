"""Benchmark: nmm-stream's latency and accuracy on a replay of the default cohort (issue 22).

Every trial of every subject of a causal ``nmm-train`` run (per-subject protocol) is replayed
through :class:`nmm.stream.engine.Engine` as ``nmm-stream`` runs it: the subject's
:class:`~nmm.stream.estimator.StreamEstimator` (the trial's load), the running co-contraction
and painsig's online contractions, one update every 20 ms, on ONE CPU core (the process pinned
to one core with ``os.sched_setaffinity``, torch on one thread), the engine warmed up once.

- **Latency** per update, from the arrival of the newest sample it used to its frame ready:
  p50, p99 and max over every update of the replay (targets: p99 < 100 ms, max < 200 ms).
  ``--speed 1`` (the default) replays at real speed, so an update also waits for its tick;
  ``--speed 0`` replays as fast as the engine runs (compute only).
- **Accuracy**: the streamed hidden envelopes (ê of the deep muscles) against the offline NMM's
  (a second ``nmm-train`` run, same seed, config and budgets, ``model.causal=false``: zero-phase
  filters, windows that see ahead) and both against the OpenSim truth (the true excitation
  low-passed as the envelope chain low-passes EMG, ``evaluate.reference_cutoff_hz``), cell by
  cell (subject x load x hidden muscle, :func:`nmm.model.evaluate.cell_scores` on the
  envelopes); streamed / offline RMSE as a ratio of means with its subject-cluster bootstrap
  CI (:func:`benchmarks.bench_causal.compare`; target <= 1.25). Also the largest difference
  between the streamed envelopes and the offline causal reconstruction of the same trial
  (the stream computes it sample for sample).
- **onnxruntime**: the causal encoder exported to ONNX, its time per window on one thread
  (:func:`nmm.model.onnx_export.window_latency`), for wearables.

The runs are given (``--causal-run DIR --offline-run DIR``) or trained here as
``benchmarks.bench_causal`` trains them (``--run-dir`` keeps them). ``--quick``: the tiny
network on two subjects with capped budgets, replayed as fast as possible, written to
``results/stream_quick.json`` (it checks the benchmark; its accuracy says nothing).

Usage: python -m benchmarks.bench_stream [--quick] [--speed S] [--causal-run DIR
--offline-run DIR] [--run-dir DIR] [--out PATH] [overrides of conf/train.yaml...]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

#: Per-update latency targets (issue 22), ms.
TARGET_P99_MS = 100.0
TARGET_MAX_MS = 200.0


def one_core() -> dict[str, Any]:
    """Pins this process to one CPU core and torch to one thread; what was done."""
    import torch

    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    return {
        "cpu_core": core,
        "torch_threads": torch.get_num_threads(),
        "pinned": "sched_setaffinity",
    }


def _runs(args: argparse.Namespace, overrides: Sequence[str]) -> dict[str, Path]:
    """The offline and causal runs: given, or trained on the default cohort."""
    from benchmarks.bench_causal import MODES, train
    from nmm.jobs.cohorts import ensure_default_cohort

    if args.causal_run:
        return {"offline": Path(args.offline_run), "causal": Path(args.causal_run)}
    parent = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="bench_stream_"))
    root = ensure_default_cohort()
    runs = {mode: parent / mode for mode in MODES}
    for mode, run_dir in runs.items():
        if not (run_dir / "metrics.json").is_file():
            train(root, mode, run_dir, overrides)
    return runs


def stream_trial(run: Path, subject: str, trial: Any, speed: float | None) -> tuple[Any, dict]:
    """One trial through the engine as nmm-stream runs it; its report and estimates."""
    from nmm.jobs.stream_model import load_stream_estimator, trial_stream_arrays
    from nmm.stream.engine import Engine, Recording
    from nmm.stream.online import CoContractionSettings, OnlineContractions, RunningCoContraction
    from nmm.stream.sources import ArrayReplay, RecordedStream
    from painsig.segment import EmgBurstSegmenter

    estimator = load_stream_estimator(run, subject, trial.load.mass_kg)
    emg, kinematics = trial_stream_arrays(trial, estimator)
    source = ArrayReplay(
        RecordedStream.regular(emg, estimator.emg_rate_hz),
        RecordedStream.regular(kinematics, estimator.kinematic_rate_hz),
        speed,
    )
    muscles, rate = estimator.muscles, estimator.out_rate_hz
    groups = CoContractionSettings(
        tuple(m for m in ("BIClong", "BICshort", "BRA") if m in muscles),
        tuple(m for m in ("TRIlong", "TRIlat", "TRImed") if m in muscles),
    )
    recording = Recording()
    engine = Engine(
        estimator,
        source,
        [recording],
        RunningCoContraction(muscles, groups, rate),
        OnlineContractions(muscles, EmgBurstSegmenter("BIClong"), rate),
    )
    return engine.run(), recording.arrays()


def _cut(obj: Any, n: int, length: int) -> Any:
    """A PreparedTrial or Reconstruction (and its trial) with every array of ``length`` rows
    cut to its first ``n`` (the stream ends at its last whole 20 ms update)."""
    cut = {
        f.name: value[:n]
        for f in dataclasses.fields(obj)
        if isinstance(value := getattr(obj, f.name), np.ndarray)
        and value.ndim
        and value.shape[0] == length
    }
    if hasattr(obj, "trial"):
        cut["trial"] = _cut(obj.trial, n, length)
    return dataclasses.replace(obj, **cut)


def _reconstructions(run: Path, subject: str, every_kind_cohort: Any, causal: bool) -> dict:
    """The run's reconstruction of each trial of ``subject`` (its own network), by trial id."""
    from nmm.jobs.nmm_setup import prepared_trials
    from nmm.jobs.trained import load_trained
    from nmm.model.reconstruct import reconstruct

    cfg, joint = load_trained(run)
    own = run / "subjects" / f"{subject}.ckpt"
    b, row = (load_trained(run, own)[1], 0) if own.is_file() else (joint, None)
    if row is None:
        row = list(joint.module.subject_ids).index(subject)
    prepared = prepared_trials(cfg, every_kind_cohort, b.module.physics.elbows, every_kind=True)
    return {
        p.trial_id: reconstruct(
            b.module.net,
            b.module.physics,
            row,
            p,
            b.spec,
            b.window,
            b.stride,
            use_measured=b.use_measured,
            causal_hop=joint.causal_hop if causal else None,
        )
        for p in prepared
    }


def score_subject(
    runs: dict[str, Path],
    cohort: Any,
    truth_dir: Path | None,
    subject: str,
    speed: float | None,
    cutoff_hz: float | None,
) -> dict[str, Any]:
    """Streams every trial of ``subject``; latencies, the cells of the streamed and offline
    hidden envelopes against the truth, and the streamed vs offline envelopes."""
    from nmm.metrics import pearson_r, rmse
    from nmm.model.evaluate import cell_scores, read_truth_excitation

    mine = cohort.select(subject=subject)
    causal = _reconstructions(runs["causal"], subject, mine, causal=True)
    offline = _reconstructions(runs["offline"], subject, mine, causal=False)
    out: dict[str, Any] = {"latencies_s": [], "n_gaps": 0, "max_abs_vs_causal_offline": 0.0}
    streamed, offl, truths = [], [], []
    for trial in mine:
        report, est = stream_trial(runs["causal"], subject, trial, speed)
        out["latencies_s"] += report.latencies_s
        out["n_gaps"] += len(report.gaps)
        rec_c, rec_o = causal[trial.trial_id], offline[trial.trial_id]
        length = rec_c.trial.time.shape[0]
        n = min(est["t_s"].size, length, rec_o.trial.time.shape[0])
        rec_s = dataclasses.replace(
            _cut(rec_c, n, length), envelopes=est["envelopes"][:n], torque=est["torque_nm"][:n]
        )
        gap = float(np.abs(est["envelopes"][:n] - rec_c.envelopes[:n]).max())
        out["max_abs_vs_causal_offline"] = max(out["max_abs_vs_causal_offline"], gap)
        streamed.append(rec_s)
        offl.append(_cut(rec_o, n, rec_o.trial.time.shape[0]))
        truths.append(
            read_truth_excitation(truth_dir, rec_s.trial, rec_s.muscles, cutoff_hz)
            if truth_dir
            else None
        )
    muscles = streamed[0].muscles
    hidden = [m for m, seen in zip(muscles, streamed[0].trial.measured, strict=True) if not seen]
    out["stream_cells"] = cell_scores(streamed, truths, hidden, signal="envelopes")
    out["offline_cells"] = cell_scores(offl, truths, hidden, signal="envelopes")
    out["vs_offline"] = {}
    for m in hidden:
        j = muscles.index(m)
        a = np.concatenate([r.envelopes[:, j] for r in streamed])
        b = np.concatenate([r.envelopes[:, j] for r in offl])
        out["vs_offline"][m] = {"rmse": rmse(a, b), "pearson_r": pearson_r(a, b), "n": a.size}
    return out


def onnx_latency(run: Path, n_windows: int = 1000) -> dict[str, Any]:
    """onnxruntime's time per window (one thread, batch 1) of the run's causal encoder exported
    to ONNX (:mod:`nmm.model.onnx_export`), on the first ``n_windows`` windows of its cohort."""
    from nmm.jobs.nmm_setup import load_cohort, prepared_trials
    from nmm.jobs.trained import load_trained
    from nmm.model import onnx_export as ox

    cfg, b = load_trained(run)
    cohort, _ = load_cohort(cfg)
    trials = prepared_trials(cfg, cohort, b.module.physics.elbows, every_kind=True)
    windows = ox.export_windows(trials, b.spec, b.muscles, b.window, b.stride)
    with tempfile.TemporaryDirectory() as tmp:
        path = ox.export_encoder(b.module.net, b.spec.n_features, b.window, Path(tmp) / "m.onnx")
        timed = ox.window_latency(path, windows.features[:n_windows], threads=1)
    return {"encoder": timed.to_dict(), "window_samples": b.window, "opset": ox.OPSET}


def _latency(latencies_s: Sequence[float]) -> dict[str, Any]:
    lat = np.asarray(latencies_s) * 1e3
    return {
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()),
        "n_updates": int(lat.size),
        "target_p99": TARGET_P99_MS,
        "target_max": TARGET_MAX_MS,
        "target_met": bool(np.percentile(lat, 99) < TARGET_P99_MS and lat.max() < TARGET_MAX_MS),
    }


def run(args: argparse.Namespace, overrides: Sequence[str]) -> dict[str, Any]:
    """The benchmark (module doc); its result."""
    from benchmarks.bench_causal import compare
    from nmm.jobs.nmm_setup import load_cohort
    from nmm.jobs.stream_model import load_stream_estimator
    from nmm.jobs.trained import load_trained
    from nmm.stream.engine import warm_up

    runs = _runs(args, overrides)  # trained before pinning: training may use every core
    pinned = one_core()
    cfg, joint = load_trained(runs["causal"])
    cohort, truth_dir = load_cohort(cfg)
    cutoff = cfg.evaluate.get("reference_cutoff_hz")
    subjects = list(joint.module.subject_ids)
    speed = None if args.quick or args.speed == 0 else float(args.speed)
    warm_up(load_stream_estimator(runs["causal"], subjects[0]))
    t0 = time.perf_counter()
    per = {s: score_subject(runs, cohort, truth_dir, s, speed, cutoff) for s in subjects}
    wall = time.perf_counter() - t0
    paired = compare(  # its "causal" side is the stream's envelopes
        [c for p in per.values() for c in p["offline_cells"]],
        [c for p in per.values() for c in p["stream_cells"]],
    )
    hidden = {
        m: {k.replace("causal_", "stream_"): v for k, v in entry.items()}
        for m, entry in paired.items()
    }
    onnx = onnx_latency(runs["causal"], 200 if args.quick else 1000)
    latency = _latency([x for p in per.values() for x in p["latencies_s"]])
    return {
        "latency_ms": latency,
        "latency_ms_per_subject": {s: _latency(p["latencies_s"]) for s, p in per.items()},
        "hidden_vs_truth": hidden,
        "hidden_vs_offline_nmm": {s: p["vs_offline"] for s, p in per.items()},
        "max_abs_vs_causal_offline": max(p["max_abs_vs_causal_offline"] for p in per.values()),
        "n_gaps": sum(p["n_gaps"] for p in per.values()),
        "onnxruntime_window_latency": onnx,
        "targets_met": {
            "latency": latency["target_met"],
            "hidden_ratio": hidden["all"]["target_met"],
        },
        "speed": speed,
        "subjects": subjects,
        "runs": {k: str(v) for k, v in runs.items()},
        "one_core": pinned,
        "replay_wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="check the benchmark (see above)")
    parser.add_argument("--speed", type=float, default=1.0, help="x real time; 0: fast")
    parser.add_argument("--causal-run", default=None, help="an existing causal nmm-train run")
    parser.add_argument("--offline-run", default=None, help="an existing offline nmm-train run")
    parser.add_argument("--run-dir", default=None, help="trained runs' folder (default: temp)")
    parser.add_argument("--out", default=None, help="default: results/stream.json (_quick)")
    args, overrides = parser.parse_known_args(argv)
    if bool(args.offline_run) != bool(args.causal_run):
        parser.error("--offline-run and --causal-run go together")
    from benchmarks.bench_causal import QUICK
    from benchmarks.machine import describe_machine, write_result

    overrides = [*QUICK, *overrides] if args.quick else list(overrides)
    results = REPO_ROOT / "benchmarks" / "results"
    out = Path(args.out) if args.out else results / f"stream{'_quick' if args.quick else ''}.json"
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    result = {
        "benchmark": "stream_quick" if args.quick else "stream",
        "what": "nmm-stream replay of every trial of every subject of the cohort on one CPU "
        "core: per-update latency (newest sample's arrival -> frame ready), and the streamed "
        "hidden envelopes vs the offline NMM's and vs the OpenSim truth (reference envelope)",
        "quick": args.quick,
        "overrides": overrides,
        **run(args, overrides),
        "wall_s": time.perf_counter() - t0,
        "machine": describe_machine("torch", "numpy"),
    }
    write_result(result, out)
    lat, h = result["latency_ms"], result["hidden_vs_truth"]["all"]
    print(
        f"latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms, max {lat['max']:.1f} ms "
        f"over {lat['n_updates']} updates; hidden RMSE streamed {h['stream_rmse']:.4f} vs "
        f"offline {h['offline_rmse']:.4f} (ratio {h['ratio']:.3f}, CI {h['ratio_ci95']}); "
        f"onnxruntime p99 {result['onnxruntime_window_latency']['encoder']['p99_ms']:.2f} ms "
        f"per window -> {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
