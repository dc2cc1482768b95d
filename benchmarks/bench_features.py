"""Benchmark: full painsig EMG feature set vs antropy.app_entropy alone.

Generates seeded synthetic EMG-like epochs (20-450 Hz band-limited Gaussian noise times a
smooth contraction envelope), 1-2 s long at 2 kHz, and times (best of ``--repeats`` runs,
``time.perf_counter``) ``painsig.features.extract_features`` with all features against a loop
of ``antropy.app_entropy`` over the same epochs. Writes a JSON summary atomically.

Usage: python benchmarks/bench_features.py [--out benchmarks/results/features.json]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import antropy
import numpy as np
from scipy import signal

REPO_ROOT = Path(__file__).resolve().parents[1]
FS_HZ = 2000.0
EPOCH_SECONDS = (1.0, 2.0)
MVIC = 1.0


def synthetic_epochs(n_epochs: int, seed: int) -> list[np.ndarray]:
    """EMG-like epochs: band-passed (20-450 Hz) noise times a raised-sine envelope plus a 5 %
    baseline; lengths drawn uniformly from EPOCH_SECONDS; amplitudes in arbitrary units."""
    rng = np.random.default_rng(seed)
    sos = signal.butter(4, [20.0, 450.0], btype="bandpass", fs=FS_HZ, output="sos")
    epochs = []
    for _ in range(n_epochs):
        n = round(rng.uniform(*EPOCH_SECONDS) * FS_HZ)
        noise = signal.sosfiltfilt(sos, rng.standard_normal(n))
        envelope = 0.05 + np.sin(np.pi * np.arange(n) / n) ** 2
        epochs.append(rng.uniform(0.2, 0.8) * envelope * noise / noise.std())
    return epochs


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "features.json"
    )
    parser.add_argument("--n-epochs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
        sys.path.insert(0, str(REPO_ROOT))
    from benchmarks.machine import best_time, describe_machine, write_result
    from painsig.features import extract_features

    epochs = synthetic_epochs(args.n_epochs, args.seed)

    def ours() -> object:
        return extract_features(epochs, FS_HZ, mvic=MVIC)

    def antropy_appen() -> list[float]:
        return [float(antropy.app_entropy(x)) for x in epochs]

    table = ours()  # warm-up, and the values compared below
    reference = np.asarray(antropy_appen())
    ours_s = best_time(ours, args.repeats)
    antropy_s = best_time(antropy_appen, args.repeats)

    result = {
        "speedup_vs_antropy_appen": antropy_s / ours_s,
        "appen_max_abs_diff": float(np.max(np.abs(table["apen"].to_numpy() - reference))),
        "n_epochs": len(epochs),
        "fs_hz": FS_HZ,
        "epoch_seconds": list(EPOCH_SECONDS),
        "n_features": table.shape[1],
        "repeats": args.repeats,
        "seed": args.seed,
        "ours_seconds": ours_s,
        "antropy_appen_seconds": antropy_s,
        "machine": describe_machine("numpy", "antropy"),
    }
    write_result(result, args.out)
    print(
        f"{len(epochs)} epochs of {EPOCH_SECONDS[0]:g}-{EPOCH_SECONDS[1]:g} s at {FS_HZ:g} Hz: "
        f"full feature set ({table.shape[1]} features) {ours_s:.3f} s, antropy.app_entropy "
        f"{antropy_s:.3f} s, speedup {result['speedup_vs_antropy_appen']:.1f}x, "
        f"max |dApEn| {result['appen_max_abs_diff']:.1e} -> {args.out}"
    )
    return result


if __name__ == "__main__":
    main()
