"""The UCI "EMG dataset in Lower Limb" reader: every real file against an independent plain-Python
parse, and synthetic files for unmapped channels and damaged files."""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import numpy as np
import pytest

from nmm.data import DataValidationError, ReaderError
from nmm.data.io.uci import read_uci_file, read_uci_lower_limb

CANONICAL = ("rectus_femoris", "biceps_femoris", "vastus_medialis", "semitendinosus")
# the header spellings found in the files, mapped by hand (independently of muscle_sets.yaml)
SPELLINGS = {
    "RF": "rectus_femoris",
    "Recto Femoral": "rectus_femoris",
    "Recto femoral": "rectus_femoris",
    "BF": "biceps_femoris",
    "Biceps Femoral": "biceps_femoris",
    "VM": "vastus_medialis",
    "Vasto Medial": "vastus_medialis",
    "ST": "semitendinosus",
    "Semitendinoso": "semitendinosus",
    "EMG Semitendinoso": "semitendinosus",
}
GONIOMETER = {"FX", "Flexo", "Flexo-Extension"}
HOLD_MAX = 20  # samples: one 50 Hz goniometer period at 1000 Hz


def parse_plain(path: Path) -> dict:
    """Parse a UCI file with plain Python: header channels in column order, declared counts,
    and the first `declared` data rows (empty cells as NaN)."""
    lines = path.read_text(encoding="latin-1").splitlines()
    assert lines[0].startswith("File Name:")
    blank = next(i for i, ln in enumerate(lines) if not ln.strip())
    names, units, counts = [], [], []
    for ln in lines[1:blank]:
        if ln.startswith("Digitals"):
            names.append("<events>")
            units.append("")
            counts.append(None)
            continue
        _, name, rest = ln.split("'", 2)
        names.append(name)
        fields = [f.strip() for f in rest.strip(", ").split(",")]
        counts.append(int(fields[0].split()[0]))
        units.append(fields[1].split(":")[1].strip())
    declared = min(c for n, c in zip(names, counts, strict=True) if n in SPELLINGS)
    rows = [
        [float(x) if x.strip() else math.nan for x in ln.split("\t")]
        for ln in lines[blank + 1 : blank + 1 + declared]
    ]
    return {
        "names": names,
        "units": units,
        "declared": declared,
        "data": np.array(rows, dtype=float),
        "header": "\n".join(lines[:blank]),
    }


@pytest.fixture(scope="module")
def cohort(uci_dir: Path):
    return read_uci_lower_limb(uci_dir)


@pytest.fixture(scope="module")
def files(uci_dir: Path) -> list[Path]:
    found = sorted(uci_dir.rglob("*.txt"))
    assert len(found) == 66
    return found


def test_cohort_shape(cohort):
    assert len(cohort) == 66
    ids = cohort.subject_ids
    assert len(ids) == 22
    assert sorted(ids) == sorted([f"A{i}" for i in range(1, 12)] + [f"N{i}" for i in range(1, 12)])
    for sid, subject in cohort.subjects.items():
        group = "abnormal" if sid.startswith("A") else "normal"
        assert subject.metadata["group"] == group
        trials = [t for t in cohort if t.subject == sid]
        assert sorted(t.trial_id for t in trials) == ["gait", "sitting", "standing"]
        assert {t.condition for t in trials} == {group}
    assert cohort.conditions == ["abnormal", "normal"]
    assert sum(t.condition == "abnormal" for t in cohort) == 33
    # subject-grouped folds are possible: one group label per trial
    assert len(set(cohort.groups())) == 22


def test_every_file_matches_plain_parse(cohort, files):
    by_name = {Path(t.source).name: t for t in cohort}
    assert sorted(by_name) == sorted(p.name for p in files)
    six_columns = 0
    for path in files:
        ref = parse_plain(path)
        trial = by_name[path.name]
        names, data = ref["names"], ref["data"]
        where = path.name
        assert data.shape[1] == len(names), where
        # EMG: the 4 canonical muscles, mV, 1000 Hz, as many samples as the header declares
        emg_cols = [i for i, n in enumerate(names) if n in SPELLINGS]
        assert trial.emg.channels == tuple(SPELLINGS[names[i]] for i in emg_cols), where
        assert set(trial.emg.channels) == set(CANONICAL), where
        assert trial.emg.units == ("mV",) * 4, where
        assert trial.emg.rate == 1000.0, where
        assert trial.emg.n_samples == ref["declared"] == data.shape[0], where
        assert np.array_equal(trial.emg.values, data[:, emg_cols]), where
        np.testing.assert_allclose(trial.emg.time[[0, -1]], [0.0, (ref["declared"] - 1) / 1000])
        # goniometer: deg in the file, rad in the trial, same time base
        (gi,) = [i for i, n in enumerate(names) if n in GONIOMETER]
        assert ref["units"][gi] == "deg", where
        if len(names) == 6:
            six_columns += 1
            assert names[-1] == "<events>" and gi == 4, where
        else:
            assert gi == len(names) - 1, where  # the last data column
        deg = data[:, gi].copy()
        missing = np.flatnonzero(~np.isfinite(deg))
        if missing.size:  # a short trailing gap is held at the last reading
            assert missing[0] == deg.size - missing.size and missing.size <= HOLD_MAX, where
            deg[missing] = deg[missing[0] - 1]
        assert trial.kinematics.units == ("rad",), where
        assert trial.kinematics.rate == 1000.0, where
        assert np.array_equal(trial.kinematics.time, trial.emg.time), where
        np.testing.assert_allclose(trial.angle, np.deg2rad(deg), rtol=1e-15, atol=0, err_msg=where)
        assert trial.coordinate == "knee_angle"
        assert trial.metadata["unmapped_channels"] == [], where
        assert trial.metadata["dataset"] == "uci-lower-limb"
    assert six_columns == 9  # the files with a 'Digitals combined' line


@pytest.mark.parametrize(
    ("group", "name", "variant"),
    [
        ("A_TXT", "1Amar.txt", "'Recto Femoral'"),
        ("A_TXT", "10Asen.txt", "'Recto femoral'"),
        ("N_TXT", "4Npie.txt", "'RF'"),
        ("A_TXT", "9Apie.txt", "Digitals combined"),
    ],
)
def test_header_variants_read_alone(uci_dir: Path, group: str, name: str, variant: str):
    path = uci_dir / group / name
    ref = parse_plain(path)
    assert variant in ref["header"]  # the file really has that variant
    trial = read_uci_file(path)
    m = re.match(r"(\d+)([AN])(mar|pie|sen)", name)
    assert trial.subject == f"{m[2]}{int(m[1])}"
    assert trial.trial_id == {"mar": "gait", "pie": "standing", "sen": "sitting"}[m[3]]
    assert trial.emg.channels == CANONICAL
    assert trial.emg.n_samples == ref["declared"]
    rf = next(i for i, n in enumerate(ref["names"]) if SPELLINGS.get(n) == "rectus_femoris")
    assert np.array_equal(trial.emg["rectus_femoris"], ref["data"][:, rf])


def test_goniometer_padding_rows_are_dropped(uci_dir: Path):
    # 1Nmar: 5681 EMG values declared; the file holds ~20 more rows with only the goniometer
    path = uci_dir / "N_TXT" / "1Nmar.txt"
    body = path.read_text(encoding="latin-1").split("\n\n", 1)[1].splitlines()
    assert len([ln for ln in body if ln.strip()]) > 5681
    trial = read_uci_file(path)
    assert trial.emg.n_samples == trial.kinematics.n_samples == 5681
    assert "50 to 1000" in trial.metadata["goniometer"]


def test_task_filter(uci_dir: Path):
    sitting = read_uci_lower_limb(uci_dir, tasks=("sen",))
    assert len(sitting) == 22
    assert {t.trial_id for t in sitting} == {"sitting"}


# --- synthetic files ----------------------------------------------------------------------------


def write_uci(
    path: Path,
    channels: list[tuple[str, str]],
    rows: np.ndarray | list[list[str]],
    declared: int | None = None,
    digitals: bool = False,
) -> Path:
    n = declared if declared is not None else len(rows)
    lines = [f"File Name: {path.stem}.log"]
    for i, (name, unit) in enumerate(channels, start=1):
        lines.append(f"Channel {i}: '{name}', {n} values, engineering units: {unit}, no filters.")
    if digitals:
        lines.append(f"Digitals combined (event=16, d=8, c=4, b=2, a=1): {n} values, .")
    lines.append("")
    for row in rows:
        lines.append("\t".join(x if isinstance(x, str) else f"{x:.4f}" for x in row))
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    return path


STD = [("RF", "mV"), ("BF", "mV"), ("VM", "mV"), ("ST", "mV"), ("FX", "deg")]


def _rows(n: int, cols: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rows = np.round(rng.normal(scale=0.05, size=(n, cols)), 4)
    rows[:, -1] = np.round(np.repeat(rng.uniform(0, 90, n // 20 + 1), 20)[:n], 1)
    return rows


def test_extra_unknown_channel_is_reported(tmp_path: Path, caplog):
    channels = [*STD[:2], ("Gastrocnemio", "mV"), *STD[2:]]
    rows = _rows(120, 6)
    path = write_uci(tmp_path / "3Nsen.txt", channels, rows)
    with caplog.at_level(logging.WARNING, logger="nmm.data.io.uci"):
        trial = read_uci_file(path)
    assert trial.metadata["unmapped_channels"] == ["Gastrocnemio"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Gastrocnemio" in r.getMessage() and str(path) in r.getMessage() for r in warnings)
    assert (trial.subject, trial.condition, trial.trial_id) == ("N3", "normal", "sitting")
    assert trial.emg.channels == CANONICAL
    np.testing.assert_array_equal(trial.emg.values, rows[:, [0, 1, 3, 4]])
    np.testing.assert_allclose(trial.angle, np.deg2rad(rows[:, 5]), rtol=1e-15, atol=0)


def test_file_with_digitals_column(tmp_path: Path):
    rows = np.column_stack([_rows(60, 5), np.full(60, 31.0)])
    path = write_uci(tmp_path / "2Apie.txt", STD, rows, digitals=True)
    trial = read_uci_file(path)
    np.testing.assert_array_equal(trial.emg.values, rows[:, :4])
    np.testing.assert_allclose(trial.angle, np.deg2rad(rows[:, 4]), rtol=1e-15, atol=0)


def test_explicit_identity_for_other_file_names(tmp_path: Path):
    path = write_uci(tmp_path / "session3.txt", STD, _rows(40, 5))
    with pytest.raises(ReaderError, match="file name") as err:
        read_uci_file(path)
    assert str(path) in str(err.value)
    trial = read_uci_file(path, subject="P9", condition="normal", trial_id="gait")
    assert (trial.subject, trial.condition, trial.trial_id) == ("P9", "normal", "gait")


def test_rows_cut_short_of_declared_count(tmp_path: Path):
    path = write_uci(tmp_path / "1Amar.txt", STD, _rows(60, 5), declared=100)
    with pytest.raises(ReaderError, match="truncated") as err:
        read_uci_file(path)
    assert str(path) in str(err.value) and "100" in str(err.value)


@pytest.mark.parametrize("cols", [4, 6])
def test_column_count_differs_from_header(tmp_path: Path, cols: int):
    path = write_uci(tmp_path / "1Amar.txt", STD, _rows(50, cols))
    with pytest.raises(ReaderError, match="columns") as err:
        read_uci_file(path)
    assert str(path) in str(err.value)


def test_ragged_row(tmp_path: Path):
    rows = [[f"{v:.4f}" for v in r] for r in _rows(50, 5)]
    rows[17].append("0.5000")
    path = write_uci(tmp_path / "1Amar.txt", STD, rows)
    with pytest.raises(ReaderError) as err:
        read_uci_file(path)
    assert str(path) in str(err.value)


def test_non_numeric_value(tmp_path: Path):
    rows = [[f"{v:.4f}" for v in r] for r in _rows(50, 5)]
    rows[9][2] = "0,0045"
    path = write_uci(tmp_path / "1Amar.txt", STD, rows)
    with pytest.raises(ReaderError, match="numbers"):
        read_uci_file(path)


def test_damaged_header(tmp_path: Path):
    path = write_uci(tmp_path / "1Amar.txt", STD, _rows(20, 5))
    text = path.read_text(encoding="latin-1")
    path.write_text(text.replace("Channel 2:", "Kanal 2 ="), encoding="latin-1")
    with pytest.raises(ReaderError, match="header line"):
        read_uci_file(path)
    path.write_text(text.replace("\n\n", "\n"), encoding="latin-1")
    with pytest.raises(ReaderError, match="blank line"):
        read_uci_file(path)


def test_goniometer_gap(tmp_path: Path):
    rows = [[f"{v:.4f}" for v in r] for r in _rows(100, 5)]
    for r in rows[-3:]:
        r[4] = ""  # the goniometer stops 3 samples early: held at its last reading
    trial = read_uci_file(write_uci(tmp_path / "1Amar.txt", STD, rows))
    assert np.all(trial.angle[-4:] == trial.angle[-4])
    for r in rows[-40:]:
        r[4] = ""  # 40 samples (two goniometer periods): not invented
    with pytest.raises(DataValidationError) as err:
        read_uci_file(write_uci(tmp_path / "2Amar.txt", STD, rows))
    assert err.value.channel == "knee_angle"


def test_empty_emg_cell_mid_file(tmp_path: Path):
    rows = [[f"{v:.4f}" for v in r] for r in _rows(50, 5)]
    rows[20][1] = ""
    with pytest.raises(ReaderError, match="declares 50 values but the column holds 49") as err:
        read_uci_file(write_uci(tmp_path / "1Amar.txt", STD, rows))
    assert err.value.channel == "biceps_femoris"


def test_non_numeric_emg_cell(tmp_path: Path):
    rows = [[f"{v:.4f}" for v in r] for r in _rows(50, 5)]
    rows[20][1] = "nan"
    with pytest.raises(ReaderError, match="declares 50 values but the column holds 49") as err:
        read_uci_file(write_uci(tmp_path / "1Amar.txt", STD, rows))
    assert err.value.channel == "biceps_femoris"


def test_header_count_corrupted_to_one_is_an_error(uci_dir: Path, tmp_path: Path):
    real = uci_dir / "A_TXT" / "1Amar.txt"
    text = real.read_text(encoding="latin-1")
    assert "'Recto Femoral', 12973 values" in text  # the real header, read independently
    path = tmp_path / "1Amar.txt"
    damaged = text.replace("'Recto Femoral', 12973 values", "'Recto Femoral', 1 values")
    path.write_bytes(damaged.encode("latin-1"))
    with pytest.raises(ReaderError, match="declares 1 values but the column holds 12973") as err:
        read_uci_file(path)
    assert err.value.source == str(path) and err.value.channel == "rectus_femoris"


def test_row_dropped_mid_file_is_an_error(uci_dir: Path, tmp_path: Path):
    lines = (uci_dir / "A_TXT" / "1Amar.txt").read_bytes().split(b"\n")
    path = tmp_path / "1Amar.txt"
    path.write_bytes(b"\n".join(lines[:5000] + lines[5001:]))
    with pytest.raises(ReaderError, match="declares 12973 values but the column holds 12972"):
        read_uci_file(path)


def test_cut_inside_the_last_value_is_an_error(uci_dir: Path, tmp_path: Path):
    raw = (uci_dir / "A_TXT" / "1Amar.txt").read_bytes()
    assert raw.endswith(b"-7.2\n\t\t\t\t\n")  # last row, then an empty row
    path = tmp_path / "1Amar.txt"
    path.write_bytes(raw[: -len(b".2\n\t\t\t\t\n")])  # the knee angle -7.2 would read as -7
    with pytest.raises(ReaderError, match="does not end with a line break"):
        read_uci_file(path)


def test_folder_without_uci_files(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ReaderError, match="no UCI") as err:
        read_uci_lower_limb(tmp_path)
    assert str(tmp_path) in str(err.value)
