"""Property-based fuzzing of every reader from real seed files: whatever the damage, a reader
returns a valid result or raises ReaderError/DataValidationError naming a file of the case, and
damage the oracle calls known is never read as valid.

The seeds, the mutations and the oracle are those of `benchmarks/fuzz_readers.py` (its module
docstring states the oracle); `python benchmarks/fuzz_readers.py --cases 2000` is the full
campaign. Here hypothesis draws a few hundred cases in all, the same ones on every run
(derandomised), read in this process: the C3D reader's own child process is what keeps a crash
of ezc3d out of it (tests/data/test_io_c3d_corrupt.py checks that in a subprocess).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.fuzz_readers import (
    TARGETS,
    Mutation,
    Target,
    Worker,
    build_seeds,
    draw_mutation,
    judge,
    known_damage,
    make_case,
    run_case,
)
from nmm.data.sources import shared_data_root

# Cases per reader, about 30 s in all: 0.1 s each for the C3D reader, 0.01-0.03 s for the others
CASES = {"c3d": 80, "sto": 250, "opensim": 150, "csv": 250, "dataset": 200, "uci": 150}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_seeds(tmp_path_factory.mktemp("seeds"), shared_data_root())


def mutations(target: Target) -> st.SearchStrategy[Mutation]:
    """A mutation of one of the target's seed files, of a kind that file admits: half drawn by
    hypothesis field by field (which favours edges: offset 0, the last byte, size 1), half by
    the campaign's `draw_mutation` from a drawn seed (uniform over the file)."""

    def of_file(i: int) -> st.SearchStrategy[Mutation]:
        return st.builds(
            Mutation,
            kind=st.sampled_from(target.files[i].kinds),
            file=st.just(i),
            at=st.integers(0, 2**20 - 1).map(lambda k: k / 2**20),
            size=st.integers(1, 64),
            byte=st.integers(0, 255),
        )

    edges = st.integers(0, len(target.files) - 1).flatmap(of_file)
    uniform = st.integers(0, 2**32 - 1).map(
        lambda s: draw_mutation(target, np.random.default_rng(s))
    )
    return st.one_of(edges, uniform)


def _seed(seeds: dict[str, Path], name: str) -> Path:
    if name not in seeds:
        pytest.skip(
            f"seed files of '{name}' not found under {shared_data_root()} (NMM_SHARED_DATA)"
        )
    return seeds[name]


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_damaged_files_give_a_result_or_a_typed_error(
    name: str, seeds: dict[str, Path], tmp_path: Path
):
    target, seed_folder = TARGETS[name], _seed(seeds, name)

    @settings(
        max_examples=CASES[name],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(m=mutations(target))
    def check(m: Mutation) -> None:
        case = Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            seed, damaged = make_case(target, seed_folder, m, case)
            outcome, detail = run_case(target, case, seed.name)
            assert judge(outcome, damaged) in ("valid", "typed"), f"{outcome}: {detail}"
        finally:
            shutil.rmtree(case)

    check()


def test_the_seeds_read_as_valid(seeds: dict[str, Path]):
    for name, folder in seeds.items():
        for seed in TARGETS[name].files:
            assert run_case(TARGETS[name], folder, seed.name) == ("valid", ""), (name, seed.name)


def test_the_oracle_flags_a_cut_inside_the_last_value(seeds: dict[str, Path], tmp_path: Path):
    # an OpenSim 4 .sto has no row count: only the final-line-break rule catches this cut
    target, folder = TARGETS["sto"], _seed(seeds, "sto")
    i = next(i for i, f in enumerate(target.files) if f.name == "kinematics.sto")
    data = (folder / "kinematics.sto").read_bytes()
    at = (len(data) - 3) / len(data)  # two bytes before the final line break
    m = Mutation("truncate", i, at, 1, 0)
    assert known_damage(target.files[i], data, m)
    seed, damaged = make_case(target, folder, m, tmp_path / "case")
    assert damaged and (tmp_path / "case" / seed.name).read_bytes() == data[: int(at * len(data))]
    outcome, detail = run_case(target, tmp_path / "case", seed.name)
    assert outcome == "typed" and "does not end with a line break" in detail
    # a cut at a line break of the same file is not known damage: fewer rows, nothing to tell
    at_break = (data.rindex(b"\n", 0, len(data) - 1) + 1) / len(data)
    assert not known_damage(target.files[i], data, Mutation("truncate", i, at_break, 1, 0))


def test_the_campaign_worker_counts_a_dying_reader_as_a_crash(seeds: dict[str, Path]):
    worker = Worker(timeout=60.0)
    try:
        # a reader name the worker does not know ends it with a KeyError, as a crash would
        ghost = Target("no-such-reader", (), lambda folder, name: None, False)
        outcome, detail = worker.run(ghost, Path("."), "x")
        assert outcome == "crash" and "exit status 1" in detail
        # a new worker took over
        assert worker.run(TARGETS["csv"], seeds["csv"], "trial.csv") == ("valid", "")
    finally:
        worker.close()
