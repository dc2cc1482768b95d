"""Fuzz every reader with damaged copies of real files and count what each case gives.

python benchmarks/fuzz_readers.py --cases 2000      # per reader; writes results/fuzz.json
python benchmarks/fuzz_readers.py --cases 50 --only c3d uci

Seeds: the shared real recordings ($NMM_SHARED_DATA: the pyomeca C3D, .mot and .sto files, two
UCI files) and the embedded cohort (data/default_cohort/dataset: a two-trial dataset folder
rewritten from it, an OpenSim 4 .sto, a CSV trial and its schema). Each case copies a seed,
damages one file with one `Mutation` and reads it in a worker process, so that a crash or a hang
is counted instead of ending the campaign.

Outcomes of a case:
- valid: the reader returned a result;
- typed: ReaderError or DataValidationError naming a file of the case (``exc.source``);
- untyped: any other exception, or a typed one that names no file;
- crash: the worker process died; hang: no answer within ``--timeout`` s;
- silent_damage: the oracle below says the damage is detectable, yet the reader returned a result.

The oracle, `known_damage`: these mutations must give an error.
- ``truncate`` that removes a digit, where the file declares its size (C3D frames, UCI sample
  counts; .npz: any cut), or cuts inside a line of a file under the final-line-break rule
  (`nmm.data.io.textfile`): the last value would be read shortened;
- ``drop_row`` and ``dup_row`` (a data row from the middle third of the file removed or
  repeated) in files whose rows carry time or are counted;
- ``count`` (a UCI EMG channel's declared sample count changed), ``escape`` (a manifest stream
  path that leaves the dataset folder), ``long_line`` (a line over the line limit),
  ``zero_block`` in a text file (NUL bytes, which no text format here holds).
Byte flips, zeroed blocks in binary files, inserted bytes and YAML values of another type may
read as valid: a changed digit is another recording, not a detectable fault. Not in the oracle,
by design: a cut at a line break in a file without a row count (an OpenSim 4 .sto, a CSV, a
manifest losing whole trials), a legacy .sto whose nRows disagrees (read with a
StoRowCountWarning, as real OpenSim exports need) and a cut CSV schema (hand-written YAML is not
held to the final line break).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO_ROOT))

from nmm.data.errors import DataValidationError, ReaderError  # noqa: E402
from nmm.data.io.c3d import BLOCK, read_c3d  # noqa: E402
from nmm.data.io.csv import read_csv_trial, write_csv_trial  # noqa: E402
from nmm.data.io.dataset import read_dataset, write_dataset  # noqa: E402
from nmm.data.io.opensim_files import trial_from_opensim  # noqa: E402
from nmm.data.io.sto import StoRowCountWarning, read_sto  # noqa: E402
from nmm.data.io.textfile import MAX_LINE_BYTES  # noqa: E402
from nmm.data.io.uci import read_uci_file  # noqa: E402
from nmm.data.schema import Cohort  # noqa: E402
from nmm.data.sources import shared_data_root  # noqa: E402

EMBEDDED = REPO_ROOT / "data" / "default_cohort" / "dataset"
OUTCOMES = ("valid", "typed", "untyped", "crash", "hang", "silent_damage")
FAILURES = ("untyped", "crash", "hang", "silent_damage")
# Typed errors made by the C3D reader's child-process guard (damage its Python check let through)
GUARD_PHRASES = ("ezc3d crashed", "ezc3d did not finish")
# Mutation kinds by file form; c3d kinds act on the parameter section or the header
KINDS = {
    "c3d": ("flip_param", "zero_param", "flip_header", "truncate"),
    "text": ("flip", "zero_block", "insert", "truncate", "drop_row", "dup_row"),
    "yaml": ("flip", "truncate", "yaml_delete", "yaml_retype", "yaml_nest", "long_line"),
    "npz": ("flip", "zero_block", "truncate"),
}
# Where the real seeds are, under the shared recordings
SHARED_SOURCES = {
    "c3d": "pyomeca-upper-limb",
    "sto": "pyomeca-upper-limb",
    "opensim": "pyomeca-upper-limb",
    "uci": "uci-lower-limb",
}
SEED_TRIALS = ("baseline_0kg_1", "pain_2kg_1")  # of subject S01 of the embedded cohort
GENERATION = "data-5eed00000000"  # the dataset seed's stream folder, renamed to a fixed name
# Values of another type put in place of a YAML node by `yaml_retype` (chosen by Mutation.byte)
_RETYPED = (None, 7, -1.5, float("nan"), "text", True, [], {}, [1, [2]], {"a": {"b": None}})


@dataclass(frozen=True)
class Mutation:
    """One damage: `kind`, in file number `file` (modulo the seed's files), at fraction `at`
    in [0, 1) of the region the kind acts on, of `size` bytes (1-64), with byte value `byte`."""

    kind: str
    file: int
    at: float
    size: int
    byte: int


@dataclass(frozen=True)
class SeedFile:
    """A file of a seed: `name` in the seed folder, its `form` (a KINDS key); `timed`: its data
    rows carry time or are counted; `counted`: its header counts the data; `newline_rule`: read
    under the final-line-break rule; `extra`: kinds beyond those of its form."""

    name: str
    form: str
    timed: bool = False
    counted: bool = False
    newline_rule: bool = True
    extra: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS[self.form] + self.extra


@dataclass(frozen=True)
class Target:
    """A reader under test: its seed files and `read(case folder, mutated file name)`."""

    name: str
    files: tuple[SeedFile, ...]
    read: Callable[[Path, str], object]
    needs_shared: bool


def _read_sto_signal(folder: Path, name: str) -> object:
    table = read_sto(folder / name)
    return table.to_signal(table.columns, ["1"] * len(table.columns), "analog")


def _read_opensim(folder: Path, _: str) -> object:
    return trial_from_opensim(
        subject="pyomeca",
        trial_id="lift",
        kinematics=folder / "inverse_kin.mot",
        torque=folder / "inverse_dyn.sto",
        muscle_set="upper_limb_surface",
    )


TARGETS = {
    t.name: t
    for t in (
        Target(
            "c3d",
            (SeedFile("markers_analogs.c3d", "c3d", counted=True),),
            lambda folder, name: read_c3d(folder / name),
            True,
        ),
        Target(
            "sto",
            (
                SeedFile("inverse_dyn.sto", "text", timed=True),
                SeedFile("kinematics.sto", "text", timed=True),
            ),
            _read_sto_signal,
            True,
        ),
        Target(
            "opensim",
            (
                SeedFile("inverse_kin.mot", "text", timed=True),
                SeedFile("inverse_dyn.sto", "text", timed=True),
            ),
            _read_opensim,
            True,
        ),
        Target(
            "csv",
            (
                SeedFile("trial.csv", "text", timed=True),
                SeedFile("trial.yaml", "yaml", newline_rule=False),
            ),
            lambda folder, _: read_csv_trial(folder / "trial.csv", folder / "trial.yaml"),
            False,
        ),
        Target(
            "dataset",
            (
                SeedFile("manifest.yaml", "yaml", extra=("escape",)),
                SeedFile(f"{GENERATION}/S01/1_baseline_0kg_1_emg.npz", "npz"),
                SeedFile(f"{GENERATION}/S01/1_pain_2kg_1_emg.npz", "npz"),
                SeedFile(f"{GENERATION}/S01/1_baseline_0kg_1_kinematics.sto", "text", timed=True),
                SeedFile(f"{GENERATION}/S01/1_pain_2kg_1_torque.sto", "text", timed=True),
            ),
            lambda folder, _: read_dataset(folder),
            False,
        ),
        Target(
            "uci",
            (
                SeedFile("1Amar.txt", "text", timed=True, counted=True, extra=("count",)),
                SeedFile("9Nmar.txt", "text", timed=True, counted=True, extra=("count",)),
            ),
            lambda folder, name: read_uci_file(folder / name),
            True,
        ),
    )
}


# --- seeds -----------------------------------------------------------------------------------


def build_seeds(root: Path, shared: Path | None) -> dict[str, Path]:
    """A seed folder per target under `root`, from the embedded cohort and, where `shared` (the
    shared recordings) is given and present, the real recordings; targets without their seeds
    are left out."""
    cohort = read_dataset(EMBEDDED)
    trials = [t for t in cohort if t.subject == "S01" and t.trial_id in SEED_TRIALS]
    seeds = {name: root / name for name in TARGETS}
    for folder in seeds.values():
        folder.mkdir(parents=True)
    dataset = seeds["dataset"]
    write_dataset(Cohort([cohort.subjects["S01"]], trials, name="fuzz_seed"), dataset)
    (generation,) = dataset.glob("data-*")
    manifest = dataset / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace(generation.name, GENERATION))
    generation.rename(dataset / GENERATION)
    shutil.copy(dataset / TARGETS["dataset"].files[3].name, seeds["sto"] / "kinematics.sto")
    write_csv_trial(
        trials[0].replace(emg=None), seeds["csv"] / "trial.csv", seeds["csv"] / "trial.yaml"
    )
    for target, subfolder in SHARED_SOURCES.items():
        for seed in TARGETS[target].files:
            found = sorted((shared / subfolder).rglob(seed.name)) if shared else []
            if found and not (seeds[target] / seed.name).exists():
                shutil.copy(found[0], seeds[target] / seed.name)
    return {
        name: folder
        for name, folder in seeds.items()
        if all((folder / f.name).is_file() for f in TARGETS[name].files)
    }


# --- mutations -------------------------------------------------------------------------------


def _c3d_region(data: bytes, kind: str) -> tuple[int, int]:
    """Byte range [lo, hi) a c3d kind acts on: the header block or the parameter section."""
    if kind == "flip_header":
        return 0, BLOCK
    start = (data[0] - 1) * BLOCK
    return start, min(start + data[start + 2] * BLOCK, len(data))


def _middle_line(lines: list[bytes], at: float) -> int:
    """Index of a line in the middle third of `lines` (data rows in every text seed)."""
    lo, hi = len(lines) // 3, max(2 * len(lines) // 3, len(lines) // 3 + 1)
    return lo + int(at * (hi - lo))


def _yaml_paths(node: object, path: tuple = ()) -> list[tuple]:
    """Key paths of every node under the root of a YAML document, depth first."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    out = []
    for key, child in items:
        out.append((*path, key))
        out.extend(_yaml_paths(child, (*path, key)))
    return out


def _mutate_yaml(data: bytes, m: Mutation) -> bytes:
    """Structural damage to a YAML document: a node deleted, retyped or nested deeply, or a
    stream file path that escapes the folder."""
    doc = yaml.safe_load(data)
    paths = _yaml_paths(doc)
    if m.kind == "escape":
        paths = [p for p in paths if p[-1] == "file"]
    *parent_path, key = paths[int(m.at * len(paths))]
    parent = doc
    for k in parent_path:
        parent = parent[k]
    if m.kind == "yaml_delete":
        del parent[key]
    elif m.kind == "yaml_retype":
        parent[key] = _RETYPED[m.byte % len(_RETYPED)]
    elif m.kind == "yaml_nest":  # 10 to 40,960 levels of flow lists, written as text
        parent[key] = "NESTED"
        depth = 10 * m.size * m.size
        text = yaml.safe_dump(doc, sort_keys=False).encode()
        return text.replace(b"NESTED", b"[" * depth + b"]" * depth, 1)
    elif m.kind == "escape":
        parent[key] = ("/etc/passwd", "../../outside.sto", "../fuzz_seed.npz")[m.byte % 3]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()


def mutate(seed: SeedFile, data: bytes, m: Mutation) -> bytes:
    """`data` (the seed file's bytes) damaged by `m`."""
    if m.kind.startswith("yaml_") or m.kind == "escape":
        return _mutate_yaml(data, m)
    lo, hi = (
        _c3d_region(data, m.kind) if seed.form == "c3d" and m.kind != "truncate" else (0, len(data))
    )
    pos = lo + int(m.at * (hi - lo))
    if m.kind in ("flip", "flip_param", "flip_header"):
        new = m.byte if m.byte != data[pos] else (m.byte + 1) % 256
        return data[:pos] + bytes([new]) + data[pos + 1 :]
    if m.kind in ("zero_block", "zero_param"):
        return data[:pos] + bytes(len(data[pos : pos + m.size])) + data[pos + m.size :]
    if m.kind == "insert":
        return data[:pos] + bytes([m.byte]) * m.size + data[pos:]
    if m.kind == "truncate":
        return data[:pos]
    if m.kind == "long_line":
        return b"# " + b"x" * MAX_LINE_BYTES + b"\n" + data
    lines = data.split(b"\n")
    i = _middle_line(lines, m.at)
    if m.kind == "drop_row":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if m.kind == "dup_row":
        return b"\n".join(lines[: i + 1] + lines[i:])
    if m.kind == "count":
        return _change_count(data, m)
    raise ValueError(f"unknown mutation kind {m.kind!r}")


_EMG_COUNT = re.compile(rb"(Channel \d+: '[^']*', )(\d+)( values, engineering units: mV)")


def _change_count(data: bytes, m: Mutation) -> bytes:
    """A UCI EMG channel's declared count set to 1 (byte < 128) or to count + size."""
    found = list(_EMG_COUNT.finditer(data))
    hit = found[int(m.at * len(found))]
    new = 1 if m.byte < 128 or int(hit[2]) == 1 else int(hit[2]) + m.size
    return data[: hit.start(2)] + str(new).encode() + data[hit.end(2) :]


def known_damage(seed: SeedFile, data: bytes, m: Mutation) -> bool:
    """Whether the reader must refuse `data` damaged by `m` (the oracle of the module doc)."""
    if m.kind in ("count", "escape", "long_line"):
        return True
    if m.kind in ("drop_row", "dup_row"):
        return seed.timed
    if m.kind == "zero_block" and seed.form in ("text", "yaml"):
        return True  # NUL bytes: no text format here holds them
    if m.kind != "truncate":
        return False
    pos = int(m.at * len(data))
    if seed.form in ("c3d", "npz"):
        return True
    if re.search(rb"[0-9]", data[pos:]) is None:
        return False
    inside_line = pos > 0 and data[pos - 1 : pos] != b"\n"
    return seed.counted or (inside_line and seed.newline_rule)


# --- cases -----------------------------------------------------------------------------------


def draw_mutation(target: Target, rng: np.random.Generator) -> Mutation:
    """A random mutation of one of the target's seed files (the campaign's counterpart of the
    tests' hypothesis strategy)."""
    i = int(rng.integers(len(target.files)))
    kinds = target.files[i].kinds
    return Mutation(
        kinds[int(rng.integers(len(kinds)))],
        i,
        float(rng.random()),
        int(rng.integers(1, 65)),
        int(rng.integers(256)),
    )


def make_case(target: Target, seed_folder: Path, m: Mutation, case: Path) -> tuple[SeedFile, bool]:
    """Fill `case` with the seed's files (hard links where possible), the one chosen by `m`
    damaged; returns that file and whether the oracle calls its damage known."""
    seed = target.files[m.file % len(target.files)]
    for source in seed_folder.rglob("*"):
        if source.is_file():
            dest = case / source.relative_to(seed_folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, dest)
            except OSError:
                shutil.copy(source, dest)
    data = (seed_folder / seed.name).read_bytes()
    damaged = case / seed.name
    damaged.unlink()  # a hard link: writing through it would damage the seed
    damaged.write_bytes(mutate(seed, data, m))
    return seed, known_damage(seed, data, m)


def run_case(target: Target, case: Path, mutated: str) -> tuple[str, str]:
    """(outcome, detail) of reading `case` in this process: 'valid', 'typed' or 'untyped'."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", StoRowCountWarning)
            target.read(case, mutated)
    except (ReaderError, DataValidationError) as exc:
        if exc.source and Path(exc.source).resolve().is_relative_to(case.resolve()):
            return "typed", str(exc)
        return "untyped", f"{type(exc).__name__} naming no file of the case: {exc}"
    except Exception as exc:  # the outcome being measured: any other exception is a finding
        return "untyped", f"{type(exc).__name__}: {exc}"
    return "valid", ""


def judge(outcome: str, damaged: bool) -> str:
    """The final outcome: a valid result of known damage is silent_damage."""
    return "silent_damage" if outcome == "valid" and damaged else outcome


def _serve(conn: multiprocessing.connection.Connection) -> None:
    """The worker process: answer (target, case, mutated file) requests with run_case."""
    conn.send_bytes(b"ready")
    while True:
        try:
            request = json.loads(conn.recv_bytes())
        except EOFError:
            return
        outcome, detail = run_case(TARGETS[request[0]], Path(request[1]), request[2])
        conn.send_bytes(json.dumps([outcome, detail[:300]]).encode())


class Worker:
    """A worker process that reads cases; one that dies (crash) or does not answer within
    `timeout` s (hang) is replaced."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._start()

    def _start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(300) or self.conn.recv_bytes() != b"ready":
            raise RuntimeError("the fuzz worker did not start")

    def _restart(self) -> int | None:
        """Replace the worker; the exit status it had (-9 if it had to be killed)."""
        self.proc.join(1.0)  # a worker that died has ended or is ending
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        code = self.proc.exitcode
        self.conn.close()
        self._start()
        return code

    def run(self, target: Target, case: Path, mutated: str) -> tuple[str, str]:
        self.conn.send_bytes(json.dumps([target.name, str(case), mutated]).encode())
        if not self.conn.poll(self.timeout):
            self._restart()
            return "hang", f"no answer within {self.timeout:g} s"
        try:
            outcome, detail = json.loads(self.conn.recv_bytes())
        except EOFError:
            return "crash", f"worker died (exit status {self._restart()})"
        return outcome, detail

    def close(self) -> None:
        self.conn.close()
        self.proc.join(10)


# --- the campaign ----------------------------------------------------------------------------


def campaign(
    target: Target, seed_folder: Path, cases: int, rng: np.random.Generator, worker: Worker
) -> dict:
    """`cases` random mutations of the target's seeds, each read by `worker`: counts per outcome,
    per mutation kind and outcome, of typed errors made by the C3D guard, and up to 3 details
    of each failing outcome and of the guard's catches ("examples")."""
    counts: Counter[str] = Counter()
    guarded = 0
    by_kind: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{target.name}-") as work:
        for i in range(cases):
            m = draw_mutation(target, rng)
            case = Path(work) / f"case{i}"
            seed, damaged = make_case(target, seed_folder, m, case)
            outcome, detail = worker.run(target, case, seed.name)
            outcome = judge(outcome, damaged)
            shutil.rmtree(case, ignore_errors=True)
            counts[outcome] += 1
            by_guard = outcome == "typed" and any(p in detail for p in GUARD_PHRASES)
            guarded += by_guard
            by_kind.setdefault(m.kind, Counter())[outcome] += 1
            shown = "typed_by_c3d_guard" if by_guard else outcome
            if (
                shown in (*FAILURES, "typed_by_c3d_guard")
                and len(examples.setdefault(shown, [])) < 3
            ):
                examples[shown].append(f"{asdict(m)} on {seed.name}: {detail}")
    return {
        "cases": cases,
        "outcomes": {o: counts[o] for o in OUTCOMES},
        "by_mutation": {k: dict(sorted(v.items())) for k, v in sorted(by_kind.items())},
        "typed_by_c3d_guard": guarded,
        "examples": examples,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="cases per reader")
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS), default=sorted(TARGETS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="s per case before a hang")
    parser.add_argument(
        "--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "fuzz.json"
    )
    args = parser.parse_args(argv)
    from benchmarks.machine import describe_machine, write_result

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    readers, skipped = {}, {}
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as root:
        seeds = build_seeds(Path(root), shared_data_root())
        worker = Worker(args.timeout)
        try:
            for name in args.only:
                if name not in seeds:
                    skipped[name] = f"seed files not found under {shared_data_root()}"
                    continue
                readers[name] = campaign(TARGETS[name], seeds[name], args.cases, rng, worker)
                print(f"{name}: {readers[name]['outcomes']}", flush=True)
        finally:
            worker.close()
    totals = {o: sum(r["outcomes"][o] for r in readers.values()) for o in OUTCOMES}
    result = {
        "what": "damaged copies of real files per reader; outcomes per case (see the script)",
        "cases_per_reader": args.cases,
        "readers": readers,
        "skipped": skipped,
        "totals": totals,
        "clean": all(totals[o] == 0 for o in FAILURES),
        "seed": args.seed,
        "timeout_s": args.timeout,
        "wall_s": time.perf_counter() - start,
        "machine": describe_machine("numpy", "pandas", "yaml", "ezc3d"),
    }
    write_result(result, args.out)
    print(f"totals {totals}, {result['wall_s']:.0f} s -> {args.out}")
    return result


if __name__ == "__main__":
    main()
