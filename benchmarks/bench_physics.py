"""Benchmark: elbow muscle-torque evaluations per second, torch (batched) vs OpenSim (per state).

One evaluation = one state (elbow angle, speed, six activations) -> the six musculotendon
lengths and moment arms, the six rigid-tendon ``DeGrooteFregly2016Muscle`` tendon forces and the
elbow torque Σ r_i F_T,i. Torch evaluates ``--batch`` × ``--steps`` seeded random states of
arm26 at once (:func:`nmm.physics.elbow.muscle_torque`, eager, under ``torch.inference_mode``);
OpenSim evaluates ``--n-opensim`` of the same states one by one through its Python API
(:func:`nmm.opensim.elbow_twin.opensim_muscle_torque`): ``setActivation``, ``realizeDynamics``,
Σ ``getTendonForce`` × ``computeMomentArm`` (the same per-muscle outputs as torch), and also the
faster total from ``InverseDynamicsSolver`` (``method="generalized_force"``, torque only).
Times are the best of ``--repeats`` runs (``time.perf_counter``). The torque agreement is the
RMS of (torch - OpenSim) over the RMS of OpenSim's torque, on the states both evaluated.

Allocator: on the machine this was written on (a Firecracker VM, 2 cores), every fresh
1.5 MB tensor that glibc serves by ``mmap`` costs page faults whose price varied 3-4x over
minutes, which made the same torch evaluation take 10 to 33 ms. The benchmark therefore times
torch twice in the same run: with the default allocator, then after raising glibc's
``M_MMAP_THRESHOLD`` (and ``M_TRIM_THRESHOLD``) with ``mallopt`` so freed buffers are reused
from the heap (the ``MALLOC_MMAP_THRESHOLD_`` environment variable does the same for any run).
The headline uses the tuned allocator, under which OpenSim is timed too; both are recorded.

Writes a JSON summary atomically. Needs OpenSim 4.6 and arm26.osim ($NMM_SHARED_MODELS, else
../shared/models); without them it prints why and writes nothing.

Usage: python benchmarks/bench_physics.py [--out benchmarks/results/physics.json]
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# glibc mallopt parameters (malloc.h) and the values set: 32 MiB is glibc's largest mmap
# threshold on 64-bit; the trim threshold keeps freed heap memory instead of returning it.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024
ELBOW_SPEED_RAD_S = 4.0  # speeds drawn from ±this: normalised fibre speeds stay within [-1, 1]
GOAL_SPEEDUP = 1000.0
GOAL_REL_RMS = 0.005


def tune_allocator() -> str | None:
    """Raise glibc's mmap and trim thresholds; a description, or None where not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) and libc.mallopt(
            M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES
        )
    except (OSError, AttributeError):
        return None
    if not ok:
        return None
    return (
        f"glibc mallopt M_MMAP_THRESHOLD={MMAP_THRESHOLD_BYTES}, "
        f"M_TRIM_THRESHOLD={TRIM_THRESHOLD_BYTES}"
    )


def rel_rms(x: np.ndarray, ref: np.ndarray) -> float:
    return float(np.sqrt(np.mean((x - ref) ** 2)) / np.sqrt(np.mean(ref**2)))


def arm26_path() -> Path:
    from nmm.data.sources import shared_models_root

    return shared_models_root() / "arm26.osim"


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "physics.json"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--n-opensim", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=20, help="torch timing repeats")
    parser.add_argument("--opensim-repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
        sys.path.insert(0, str(REPO_ROOT))
    osim_path = arm26_path()
    try:
        import opensim  # noqa: F401
    except ImportError:
        print("bench_physics skipped: OpenSim (pip 'opensim') is not installed")
        return None
    if not osim_path.is_file():
        print(f"bench_physics skipped: {osim_path} not found (set NMM_SHARED_MODELS)")
        return None

    import torch

    from benchmarks.machine import best_time, describe_machine, write_result
    from nmm.opensim.elbow_twin import load_muscle_twin, opensim_muscle_torque
    from nmm.opensim.torch_elbow import muscle_geometry_from_osim
    from nmm.physics.elbow import muscle_torque

    with tempfile.TemporaryDirectory() as cache:
        geometry = muscle_geometry_from_osim(osim_path, cache_dir=cache)
    n_muscles = geometry.n_muscles
    lo, hi = geometry.domain
    rng = np.random.default_rng(args.seed)
    shape = (args.batch, args.steps)
    q = rng.uniform(lo, hi, shape)
    u = rng.uniform(-ELBOW_SPEED_RAD_S, ELBOW_SPEED_RAD_S, shape)
    a = rng.uniform(0.0, 1.0, (*shape, n_muscles))
    n_torch = q.size

    def time_torch() -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
        results, values = {}, {}
        for dtype in (torch.float32, torch.float64):
            theta, theta_dot, act = (torch.tensor(x, dtype=dtype) for x in (q, u, a))
            params = geometry.to_muscle_parameters(dtype)

            def evaluate(
                theta: torch.Tensor = theta,
                theta_dot: torch.Tensor = theta_dot,
                act: torch.Tensor = act,
                params=params,
            ) -> torch.Tensor:
                with torch.inference_mode():
                    return muscle_torque(theta, theta_dot, act, geometry, params).torque

            name = str(dtype).removeprefix("torch.")
            values[name] = evaluate().double().numpy().reshape(-1)  # warm-up and the values
            seconds = best_time(evaluate, args.repeats)
            results[name] = {"seconds": seconds, "evals_per_second": n_torch / seconds}
        return results, values

    default_results, _ = time_torch()
    allocator = tune_allocator()
    torch_results, torques = time_torch()

    # OpenSim on the first n_opensim states (row-major over batch x steps).
    n_osim = min(args.n_opensim, n_torch)
    q_o, u_o, a_o = (
        q.reshape(-1)[:n_osim],
        u.reshape(-1)[:n_osim],
        a.reshape(-1, n_muscles)[:n_osim],
    )
    twin = load_muscle_twin(osim_path, muscles=geometry.muscle_names)
    reference = opensim_muscle_torque(twin, q_o, u_o, a_o)
    osim_ma_s = best_time(lambda: opensim_muscle_torque(twin, q_o, u_o, a_o), args.opensim_repeats)
    generalized = opensim_muscle_torque(twin, q_o, u_o, a_o, method="generalized_force")
    osim_gf_s = best_time(
        lambda: opensim_muscle_torque(twin, q_o, u_o, a_o, method="generalized_force"),
        args.opensim_repeats,
    )
    osim_rate = n_osim / osim_ma_s
    osim_gf_rate = n_osim / osim_gf_s

    f32 = torch_results["float32"]["evals_per_second"]
    f64 = torch_results["float64"]["evals_per_second"]
    f32_default = default_results["float32"]["evals_per_second"]
    err32 = rel_rms(torques["float32"][:n_osim], reference)
    err64 = rel_rms(torques["float64"][:n_osim], reference)
    result = {
        "speedup_vs_opensim": f32 / osim_rate,
        "torque_rel_rms_vs_opensim": err32,
        "torch_evals_per_second": f32,
        "opensim_evals_per_second": osim_rate,
        "speedup_vs_opensim_default_allocator": f32_default / osim_rate,
        "torch_evals_per_second_default_allocator": f32_default,
        "allocator": allocator or "default (mallopt not available)",
        "goal": {"speedup": GOAL_SPEEDUP, "torque_rel_rms": GOAL_REL_RMS},
        "goal_met": bool(f32 / osim_rate >= GOAL_SPEEDUP and err32 <= GOAL_REL_RMS),
        "evaluation": (
            "state (elbow angle, speed, 6 activations) -> 6 l_MT, r, rigid-tendon "
            "DeGrooteFregly2016 tendon forces and the elbow torque"
        ),
        "torch": {
            "dtype_headline": "float32",
            "batch": args.batch,
            "steps": args.steps,
            "n_states": n_torch,
            "mode": "eager, torch.inference_mode",
            "threads": torch.get_num_threads(),
            **torch_results,
            "default_allocator": default_results,
            "float64_torque_rel_rms_vs_opensim": err64,
            "float64_speedup_vs_opensim": f64 / osim_rate,
        },
        "opensim": {
            "n_states": n_osim,
            "method": "setActivation, realizeDynamics, sum of getTendonForce * computeMomentArm",
            "seconds": osim_ma_s,
            "generalized_force": {
                "method": "InverseDynamicsSolver residual (torque only)",
                "evals_per_second": osim_gf_rate,
                "seconds": osim_gf_s,
                "speedup_vs_it": f32 / osim_gf_rate,
                "max_abs_diff_to_moment_arm_method_nm": float(
                    np.max(np.abs(generalized - reference))
                ),
            },
        },
        "torque_rms_opensim_nm": float(np.sqrt(np.mean(reference**2))),
        "repeats": {"torch": args.repeats, "opensim": args.opensim_repeats},
        "seed": args.seed,
        "osim": str(osim_path),
        "machine": describe_machine("numpy", "torch", "opensim"),
    }
    write_result(result, args.out)
    print(
        f"muscle torque, {n_torch} states: torch float32 {f32:,.0f} /s "
        f"(float64 {f64:,.0f} /s; default allocator {f32_default:,.0f} /s), OpenSim "
        f"{osim_rate:,.0f} /s (ID solver {osim_gf_rate:,.0f} /s); speedup "
        f"{result['speedup_vs_opensim']:.0f}x (default allocator "
        f"{result['speedup_vs_opensim_default_allocator']:.0f}x; vs ID solver "
        f"{f32 / osim_gf_rate:.0f}x), torque rel RMS {err32:.1e} (float64 {err64:.1e}) "
        f"-> {args.out}"
    )
    return result


if __name__ == "__main__":
    main()
