"""Corrupted C3D files never end the process. A corpus is made here from the real pyomeca file
(byte flips and zeroed blocks in the parameter section, flips in the header, cuts) and read in
a subprocess, so that a crash fails this test instead of ending pytest: each file gives a valid
recording or a ReaderError/DataValidationError naming it. Three single edits of the real file
that crash or hang ezc3d 1.7.2 itself (found by fuzzing) are kept as named cases, and a fourth
that passes the Python check and crashes ezc3d: the child process turns it into a ReaderError."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nmm.data.io._c3d_process as c3d_process
from benchmarks.fuzz_readers import TARGETS, draw_mutation, known_damage, mutate
from nmm.data import ReaderError
from nmm.data.io.c3d import check_c3d, read_c3d
from tests.conftest import existing

REPO = Path(__file__).resolve().parents[2]
# (byte offset, new bytes) in markers_analogs.c3d; its parameter section is bytes 512-14335
EZC3D_SEGFAULT = (14074, b"\x97")  # the SUBJECTS record's link to the next one points inside it
EZC3D_HANG = (13754, b"\xdc")  # the same in the ICON_IDS record
EZC3D_SEGFAULT_ZEROS = (8553, bytes(64))  # ANALOG:LABELS left with one label for 38 channels
# ANALOG:DESCRIPTIONS turned into a group record (group id 4 -> -74): well formed, so check_c3d
# passes it, yet ezc3d crashes; found by benchmarks/fuzz_readers.py, caught by the child process
EZC3D_SEGFAULT_PAST_CHECK = (9774, b"\xb6")
CORPUS_SIZE = 60

# Reads each file named on the command line; prints one JSON [path, outcome, message] per file
_READ_ALL = """
import json, sys
from nmm.data.errors import DataValidationError, ReaderError
from nmm.data.io.c3d import read_c3d
for path in sys.argv[1:]:
    try:
        read_c3d(path)
        outcome, message = "valid", ""
    except (ReaderError, DataValidationError) as exc:
        outcome, message = ("typed" if exc.source == path else "unnamed"), str(exc)
    except Exception as exc:
        outcome, message = "untyped", f"{type(exc).__name__}: {exc}"
    print(json.dumps([path, outcome, message]), flush=True)
"""


@pytest.fixture(scope="module")
def real(pyomeca_dir: Path) -> bytes:
    return existing(pyomeca_dir / "markers_analogs.c3d", "pyomeca C3D file").read_bytes()


def _edited(data: bytes, edit: tuple[int, bytes]) -> bytes:
    pos, new = edit
    return data[:pos] + new + data[pos + len(new) :]


def _ezc3d_alone(path: Path, timeout: float) -> int | str:
    """ezc3d's own fate on `path` in a subprocess: exit status, or 'hang'."""
    code = "import ezc3d, sys; ezc3d.c3d(sys.argv[1])"
    try:
        return subprocess.run(
            [sys.executable, "-c", code, str(path)], capture_output=True, timeout=timeout
        ).returncode
    except subprocess.TimeoutExpired:
        return "hang"


def test_corrupted_corpus_gives_results_or_typed_errors(real: bytes, tmp_path: Path):
    target = TARGETS["c3d"]
    rng = np.random.default_rng(2026)
    corpus: dict[str, bool] = {}  # path -> the oracle calls its damage known
    for i in range(CORPUS_SIZE):
        m = draw_mutation(target, rng)
        path = tmp_path / f"{i:03d}_{m.kind}.c3d"
        path.write_bytes(mutate(target.files[0], real, m))
        corpus[str(path)] = known_damage(target.files[0], real, m)
    for name, edit in (
        ("segfault", EZC3D_SEGFAULT),
        ("hang", EZC3D_HANG),
        ("segfault_zeros", EZC3D_SEGFAULT_ZEROS),
        ("segfault_past_check", EZC3D_SEGFAULT_PAST_CHECK),
    ):
        path = tmp_path / f"ezc3d_{name}.c3d"
        path.write_bytes(_edited(real, edit))
        corpus[str(path)] = False
    run = subprocess.run(
        [sys.executable, "-c", _READ_ALL, *corpus], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, f"the reading process ended with {run.returncode}: {run.stderr}"
    outcomes = {
        path: (outcome, msg) for path, outcome, msg in map(json.loads, run.stdout.split("\n")[:-1])
    }
    assert outcomes.keys() == corpus.keys()
    bad = {p: o for p, o in outcomes.items() if o[0] not in ("valid", "typed")}
    assert not bad
    silent = [p for p, damaged in corpus.items() if damaged and outcomes[p][0] == "valid"]
    assert not silent
    kinds = [outcome for outcome, _ in outcomes.values()]
    # the corpus reaches both ends: damage refused, and damage ezc3d reads as a recording
    assert kinds.count("typed") >= 15 and kinds.count("valid") >= 15


@pytest.mark.parametrize("edit", [EZC3D_SEGFAULT, EZC3D_HANG, EZC3D_SEGFAULT_ZEROS])
def test_check_refuses_the_files_that_crash_ezc3d(real: bytes, tmp_path: Path, edit):
    path = tmp_path / "damaged.c3d"
    path.write_bytes(_edited(real, edit))
    with pytest.raises(ReaderError) as err:
        check_c3d(path)
    assert err.value.source == str(path)
    intact = tmp_path / "real.c3d"
    intact.write_bytes(real)
    check_c3d(intact)  # the undamaged file passes


def test_a_crash_inside_ezc3d_is_a_reader_error(real: bytes, tmp_path: Path):
    path = tmp_path / "segfault.c3d"
    path.write_bytes(_edited(real, EZC3D_SEGFAULT_PAST_CHECK))
    if _ezc3d_alone(path, 60) != -11:
        pytest.skip("this ezc3d no longer crashes on the file")
    check_c3d(path)  # nothing the Python check can see
    with pytest.raises(ReaderError, match=r"ezc3d crashed parsing the file \(SIGSEGV\)") as err:
        read_c3d(path)
    assert err.value.source == str(path)
    intact = tmp_path / "intact.c3d"
    intact.write_bytes(real)
    assert read_c3d(intact).analogs.n_samples == 11600  # a new child took over


def test_a_hang_inside_ezc3d_is_a_reader_error(real: bytes, tmp_path: Path, monkeypatch):
    path = tmp_path / "hang.c3d"
    path.write_bytes(_edited(real, EZC3D_HANG))
    if _ezc3d_alone(path, 3) != "hang":
        pytest.skip("this ezc3d no longer hangs on the file")
    monkeypatch.setattr(c3d_process, "TIMEOUT_BASE_S", 1.0)
    monkeypatch.setattr(c3d_process, "TIMEOUT_S_PER_MB", 0.0)
    with pytest.raises(ReaderError, match="did not finish parsing within 1 s") as err:
        c3d_process.parse_in_child(path)
    assert err.value.source == str(path)
