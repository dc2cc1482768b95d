"""`make bench`: run every benchmark script in this folder, each writing its JSON result, then
rewrite the README's table from the results (benchmarks/table.py).

python -m benchmarks.run_all                 # quick: the NMM's training speed, the cohort family's
                                             # pipeline on small cohorts
python -m benchmarks.run_all --full          # the NMM end to end and on the cohort family (hours)
python -m benchmarks.run_all --only classifier features

Every ``bench_*.py`` runs (a new one, e.g. ``bench_mse.py``, is picked up), with the arguments
of :data:`QUICK_ARGS` unless ``--full``. A script that fails is reported and the others go on;
the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# What `make bench` passes to a script to keep it short; --full runs them without.
QUICK_ARGS = {
    "bench_allowable.py": ["--quick"],
    "bench_nmm.py": ["--quick"],
    "bench_generalise.py": ["--quick"],
    "bench_lovo.py": ["--quick"],
    "bench_scaling.py": ["--quick"],
    "bench_monitor.py": ["--quick"],
    "bench_stream.py": ["--quick"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="no quick settings (hours)")
    parser.add_argument("--only", nargs="+", default=None, help="names, e.g. nmm features")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        unknown = set(args.only) - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            parser.error(f"no benchmark {sorted(unknown)} in {HERE} (bench_<name>.py)")
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    failed = []
    for script in scripts:
        extra = [] if args.full else QUICK_ARGS.get(script.name, [])
        print(f"== {script.name} {' '.join(extra)}".rstrip(), flush=True)
        t0 = time.perf_counter()
        code = subprocess.run([sys.executable, str(script), *extra], cwd=HERE.parent).returncode
        print(f"   {script.name}: exit {code} after {time.perf_counter() - t0:.0f} s", flush=True)
        if code != 0:
            failed.append(script.name)
    from benchmarks.table import update_readme

    print(f"table rewritten: {update_readme()}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
