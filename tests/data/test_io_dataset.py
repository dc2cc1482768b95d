"""The project's dataset folder: exact round trips, OpenSim reads its files, atomic rewrites,
and errors that name the manifest or the file and channel."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import nmm.data.io.dataset as dataset_mod
from nmm.data import Cohort, DataValidationError, Load, ReaderError, Signal, Subject, Trial
from nmm.data.io.dataset import MANIFEST, read_dataset, write_dataset


def _cohort(seed: int = 0, name: str = "pilot") -> Cohort:
    """Two subjects, three trials, streams at different rates and start times."""
    rng = np.random.default_rng(seed)

    def uniform(n, rate, channels, units, kind, start=0.0, scale=1.0):
        return Signal.uniform(
            rng.normal(scale=scale, size=(n, len(channels))),
            rate,
            channels,
            units,
            start=start,
            kind=kind,
        )

    n_kin = 150
    t_kin = 0.05 + np.arange(n_kin) / 100.0
    angle = 0.6 + 0.8 * np.sin(t_kin)
    kin = Signal(
        t_kin,
        np.column_stack([angle, 0.8 * np.cos(t_kin)]),
        ("elbow_flexion", "elbow_flexion_speed"),
        ("rad", "rad/s"),
        100.0,
        "kinematics",
    )
    subjects = [
        Subject(
            "S01",
            mvic={"BIClong": 0.81 + seed, "TRIlong": 0.43},
            body_mass_kg=72.5,
            height_m=1.81,
            metadata={"hand": "right", "age": 31},
        ),
        Subject("S02", mvic={"BIClong": 1.2e-3, "TRIlong": 9.5e-4}),
    ]
    trials = [
        Trial(
            "S01",
            "flexion_01",
            emg=uniform(1500, 1000.0, ("BIClong", "TRIlong"), "mV", "emg", scale=0.2),
            kinematics=kin,
            torque=uniform(75, 50.0, ("elbow_flexion_moment",), "N·m", "torque", start=0.07),
            load=Load(mass_kg=2.0, lever_arm_m=0.35),
            metadata={"vas": 0, "note": "warm-up done"},
        ),
        Trial(
            "S01",
            "flexion_01",
            session="2",
            condition="pain",
            envelope=uniform(300, 200.0, ("BIClong", "TRIlong"), "1", "envelope", start=1.0),
            kinematics=kin,
            load=Load(mass_kg=4.0),
            metadata={"vas": 6},
        ),
        Trial(
            "S02",
            "hold",
            emg=uniform(4000, 2000.0, ("BIClong", "TRIlong", "BRA"), "uV", "emg", scale=50.0),
        ),
    ]
    return Cohort(subjects, trials, name=name)


def _assert_same(back: Cohort, ref: Cohort) -> None:
    assert back.name == ref.name
    assert back.subject_ids == ref.subject_ids
    for sid, s in ref.subjects.items():
        b = back.subjects[sid]
        assert (b.mvic, b.body_mass_kg, b.height_m, b.metadata, b.model) == (
            s.mvic,
            s.body_mass_kg,
            s.height_m,
            s.metadata,
            s.model,
        )
    assert len(back) == len(ref)
    for bt, rt in zip(back, ref, strict=True):
        assert (bt.subject, bt.trial_id, bt.session, bt.condition, bt.coordinate) == (
            rt.subject,
            rt.trial_id,
            rt.session,
            rt.condition,
            rt.coordinate,
        )
        assert bt.muscle_set.name == rt.muscle_set.name
        assert bt.load == rt.load
        assert bt.metadata == rt.metadata
        assert set(bt.streams()) == set(rt.streams())
        for kind, rs in rt.streams().items():
            bs = bt.streams()[kind]
            assert (bs.kind, bs.channels, bs.units, bs.rate) == (
                kind,
                rs.channels,
                rs.units,
                rs.rate,
            )
            assert np.array_equal(bs.time, rs.time), kind
            assert np.array_equal(bs.values, rs.values), kind


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_round_trip_is_exact(tmp_path: Path):
    cohort = _cohort()
    manifest = write_dataset(cohort, tmp_path / "ds")
    assert manifest == tmp_path / "ds" / MANIFEST
    back = read_dataset(tmp_path / "ds")
    _assert_same(back, cohort)
    # each stream is its own file, named in the manifest
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    files = [s["file"] for t in doc["trials"] for s in t["streams"].values()]
    assert len(files) == len(set(files)) == 6
    assert all((tmp_path / "ds" / f).is_file() for f in files)
    # raw EMG is a compressed .npz, the other streams OpenSim .sto files; no temporary files
    for t in back:
        for kind, s in t.streams().items():
            assert s.source.endswith(".npz" if kind == "emg" else ".sto")
    assert not [p for p in (tmp_path / "ds").rglob("*") if p.name.endswith(".tmp")]


def _with_models(cohort: Cohort, models: dict[str, Path]) -> Cohort:
    subjects = [
        Subject(s.subject_id, s.mvic, s.body_mass_kg, s.height_m, s.metadata, str(models[sid]))
        for sid, s in cohort.subjects.items()
    ]
    return Cohort(subjects, cohort.trials, name=cohort.name)


def test_subject_models_inside_are_relative_outside_absolute(tmp_path: Path):
    folder = tmp_path / "ds"
    (folder / "models").mkdir(parents=True)
    inside, outside = folder / "models" / "S01.osim", tmp_path / "S02.osim"
    for path in (inside, outside):
        path.write_text("<OpenSimDocument/>\n", encoding="utf-8")
    cohort = _with_models(_cohort(), {"S01": inside, "S02": outside})
    manifest = write_dataset(cohort, folder)
    doc = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    assert [s["model"] for s in doc["subjects"]] == ["models/S01.osim", str(outside)]
    back = read_dataset(folder)
    assert [s.model for s in back.subjects.values()] == [str(inside), str(outside)]
    # the folder moves with the models inside it
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert read_dataset(moved).subjects["S01"].model == str(moved / "models" / "S01.osim")
    assert _cohort().subjects["S01"].model is None


def test_missing_or_escaping_subject_model_names_the_key(tmp_path: Path):
    folder = tmp_path / "ds"
    write_dataset(_cohort(), folder)
    _edit_manifest(folder, lambda d: d["subjects"][1].update(model="S02.osim"))
    with pytest.raises(ReaderError, match="does not exist") as err:
        read_dataset(folder)
    assert "key 'subjects[1].model'" in str(err.value)
    _edit_manifest(folder, lambda d: d["subjects"][1].update(model="../S02.osim"))
    with pytest.raises(ReaderError, match="lies outside the dataset folder"):
        read_dataset(folder)


def test_subject_model_must_be_absolute():
    with pytest.raises(DataValidationError, match="absolute path"):
        Subject("S01", model="S01.osim")


def test_numpy_scalars_in_subject_and_load_are_written(tmp_path: Path):
    ref = _cohort()
    subjects = [
        Subject(
            s.subject_id,
            mvic={k: np.float64(v) for k, v in s.mvic.items()},
            body_mass_kg=np.float64(s.body_mass_kg) if s.body_mass_kg else None,
            height_m=s.height_m,
            metadata=s.metadata,
        )
        for s in ref.subjects.values()
    ]
    trials = [t.replace(load=Load(np.float64(t.load.mass_kg), t.load.lever_arm_m)) for t in ref]
    write_dataset(Cohort(subjects, trials, name=ref.name), tmp_path)
    _assert_same(read_dataset(tmp_path), ref)


def test_opensim_reads_the_stream_files(tmp_path: Path):
    osim = pytest.importorskip("opensim")
    cohort = _cohort()
    write_dataset(cohort, tmp_path)
    doc = yaml.safe_load((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    checked = 0
    for entry, trial in zip(doc["trials"], cohort, strict=True):
        for kind, spec in entry["streams"].items():
            if spec["file"].endswith(".npz"):
                continue  # raw EMG is stored as .npz, not for OpenSim
            sig = trial.streams()[kind]
            table = osim.TimeSeriesTable(str(tmp_path / spec["file"]))
            assert list(table.getColumnLabels()) == list(sig.channels)
            assert table.getNumRows() == sig.n_samples
            np.testing.assert_allclose(
                np.array(table.getIndependentColumn()), sig.time, rtol=0, atol=1e-12
            )
            np.testing.assert_allclose(
                table.getMatrix().to_numpy(), sig.values, rtol=1e-12, atol=1e-12
            )
            checked += 1
    assert checked == 4


def test_failed_rewrite_leaves_previous_dataset_intact(tmp_path: Path, monkeypatch):
    first = _cohort(seed=0)
    write_dataset(first, tmp_path)
    before = _files(tmp_path)

    calls = {"n": 0}
    real_write_sto = dataset_mod.write_sto

    def flaky_write_sto(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        return real_write_sto(*args, **kwargs)

    monkeypatch.setattr(dataset_mod, "write_sto", flaky_write_sto)
    # the same identities with new values: the rewrite would replace the same trials
    with pytest.raises(OSError, match="simulated"):
        write_dataset(_cohort(seed=1, name="pilot-v2"), tmp_path)
    assert calls["n"] == 2
    after = _files(tmp_path)
    assert after[MANIFEST] == before[MANIFEST]
    for rel, content in before.items():
        assert after.get(rel) == content, f"{rel} changed by a failed write"
    assert sorted(after) == sorted(before)  # and the failed write left nothing behind
    _assert_same(read_dataset(tmp_path), first)


def test_successful_rewrite_replaces_dataset(tmp_path: Path):
    write_dataset(_cohort(seed=0), tmp_path)
    second = _cohort(seed=1, name="pilot-v2")
    write_dataset(second, tmp_path)
    _assert_same(read_dataset(tmp_path), second)
    # stale stream files of the first write are not left behind
    doc = yaml.safe_load((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    referenced = {s["file"] for t in doc["trials"] for s in t["streams"].values()}
    on_disk = {
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if p.suffix in (".sto", ".npz")
    }
    assert on_disk == referenced


def _edit_manifest(folder: Path, edit) -> Path:
    path = folder / MANIFEST
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda d: d.update(version=2), "version 2 is not supported"),
        (lambda d: d.pop("version"), "version None"),
        (lambda d: d.update(format="some-other-format"), "not a dataset manifest"),
        (lambda d: d.pop("format"), "not a dataset manifest"),
    ],
)
def test_manifest_format_and_version(tmp_path: Path, edit, match):
    write_dataset(_cohort(), tmp_path)
    path = _edit_manifest(tmp_path, edit)
    with pytest.raises(ReaderError, match=match) as err:
        read_dataset(tmp_path)
    assert str(path) in str(err.value)


def test_manifest_that_is_not_yaml_or_absent(tmp_path: Path):
    with pytest.raises(ReaderError, match="manifest") as err:
        read_dataset(tmp_path)
    assert str(tmp_path / MANIFEST) in str(err.value)
    (tmp_path / MANIFEST).write_text("format: [unclosed\n")
    with pytest.raises(ReaderError, match="manifest"):
        read_dataset(tmp_path)
    (tmp_path / MANIFEST).write_text("- a list\n- not a mapping\n")
    with pytest.raises(ReaderError, match="not a dataset manifest"):
        read_dataset(tmp_path)


def test_manifest_channel_missing_from_file(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    rel = {}

    def add_channel(doc):
        spec = doc["trials"][0]["streams"]["emg"]
        spec["units"]["BRA"] = "mV"
        rel["file"] = spec["file"]

    _edit_manifest(tmp_path, add_channel)
    with pytest.raises(ReaderError) as err:
        read_dataset(tmp_path)
    assert err.value.channel == "BRA"
    assert str(tmp_path / rel["file"]) in str(err.value) and "BRA" in str(err.value)


def test_stream_file_missing(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    doc = yaml.safe_load((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    victim = tmp_path / doc["trials"][2]["streams"]["emg"]["file"]
    victim.unlink()
    with pytest.raises(ReaderError) as err:
        read_dataset(tmp_path)
    assert str(victim) in str(err.value)


def test_reading_some_subjects_opens_only_their_files(tmp_path: Path):
    """read_dataset(subjects=...): those subjects and their trials, exactly, in the manifest's
    order; another subject's missing stream file is never opened; an id the manifest lacks,
    or none, is a ReaderError naming the manifest."""
    cohort = _cohort()
    write_dataset(cohort, tmp_path)
    doc = yaml.safe_load((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    (tmp_path / doc["trials"][2]["streams"]["emg"]["file"]).unlink()  # S02's only stream
    _assert_same(read_dataset(tmp_path, ["S01"]), cohort.select(subject="S01"))
    with pytest.raises(ReaderError):  # S02's file is read when S02 is chosen
        read_dataset(tmp_path, ["S02", "S01"])
    for bad, match in ((["S01", "S07"], r"\['S07'\] not in the dataset"), ([], "no subject")):
        with pytest.raises(ReaderError, match=match) as err:
            read_dataset(tmp_path, bad)
        assert err.value.source == str(tmp_path / MANIFEST)


# --- hostile or damaged folders -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["/etc/passwd", "../../outside.sto", "../outside.npz"])
def test_stream_paths_must_stay_inside_the_folder(tmp_path: Path, name: str):
    folder = tmp_path / "dataset"
    write_dataset(_cohort(), folder)
    (tmp_path / "outside.npz").write_bytes((next(folder.rglob("*.npz"))).read_bytes())
    path = _edit_manifest(folder, lambda d: d["trials"][0]["streams"]["emg"].update(file=name))
    with pytest.raises(ReaderError, match="lies outside the dataset folder") as err:
        read_dataset(folder)
    assert err.value.source == str(path)
    assert "key 'trials[0].streams.emg.file'" in str(err.value)


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "dataset"
    write_dataset(_cohort(), folder)
    victim = next(folder.rglob("*_kinematics.sto"))
    outside = tmp_path / "elsewhere.sto"
    victim.rename(outside)
    victim.symlink_to(outside)  # the manifest's path is inside, the file it resolves to is not
    with pytest.raises(ReaderError, match="lies outside the dataset folder"):
        read_dataset(folder)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["trials"][0].pop("streams"), "key 'trials[0].streams': missing"),
        (
            lambda d: d["trials"][0]["load"].update(mass_kg="2 kg"),
            "'trials[0].load.mass_kg': expected a number",
        ),
        (
            lambda d: d["trials"][0]["streams"]["emg"].update(units=["BIClong"]),
            "key 'trials[0].streams.emg.units' must be a mapping",
        ),
        (
            lambda d: d["trials"][0]["streams"].update(force={}),
            "key 'trials[0].streams.force': unknown stream",
        ),
        (lambda d: d.update(trials={"a": 1}), "key 'trials': expected a list"),
        (
            lambda d: d["subjects"][0]["mvic"].update(BIClong="high"),
            "'subjects[0].mvic.BIClong': expected a number",
        ),
        (lambda d: d["subjects"][1].pop("id"), "key 'subjects[1].id': missing"),
        (lambda d: d["trials"][2].update(subject=None), "key 'trials[2].subject': missing"),
        (lambda d: d.update(muscle_set="legs"), "unknown muscle set 'legs'"),
        (
            lambda d: d["trials"][0]["streams"]["emg"].update(units={}),
            "key 'trials[0].streams.emg.units': no channels",
        ),
        (lambda d: d["subjects"][0].update(height_m=-1.8), "height_m of subject 'S01' must be > 0"),
    ],
)
def test_manifest_of_wrong_types_names_file_and_key(tmp_path: Path, edit, message):
    write_dataset(_cohort(), tmp_path)
    path = _edit_manifest(tmp_path, edit)
    with pytest.raises((ReaderError, DataValidationError)) as err:
        read_dataset(tmp_path)
    assert err.value.source == str(path)
    assert message in str(err.value)


def test_oversized_manifest_line_is_refused_before_parsing(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    path = tmp_path / MANIFEST
    text = path.read_text(encoding="utf-8")
    path.write_text("# " + "x" * 50_000_000 + "\n" + text, encoding="utf-8")  # a 50 MB comment
    start = time.perf_counter()
    with pytest.raises(ReaderError, match="over the limit") as err:
        read_dataset(tmp_path)
    assert time.perf_counter() - start < 2.0  # PyYAML alone takes about a minute on it
    assert err.value.source == str(path)


def test_deeply_nested_manifest_is_a_reader_error(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    path = tmp_path / MANIFEST
    nested = "[" * 50_000 + "]" * 50_000
    path.write_text(path.read_text().replace("metadata:", f"deep: {nested}\n  metadata:", 1))
    with pytest.raises(ReaderError, match="YAML") as err:
        read_dataset(tmp_path)
    assert err.value.source == str(path)


def test_manifest_cut_inside_a_value_is_refused(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    path = tmp_path / MANIFEST
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n") and text.count("mass_kg: 2.0\n") == 1
    path.write_text(text[: text.index("mass_kg: 2.0\n") + len("mass_kg: 2.")])  # 2. reads as 2
    with pytest.raises(ReaderError, match="does not end with a line break"):
        read_dataset(tmp_path)


def _npz_damage(data: bytes) -> dict[str, bytes]:
    """Damaged variants of a stream .npz (np.savez_compressed), by the error each raises inside
    zipfile, zlib or numpy."""
    name = data.index(b"values.npy")  # in the member's local header (30 bytes, then the name)
    header = data.rindex(b"PK\x03\x04", 0, name)
    extra = int.from_bytes(data[header + 28 : header + 30], "little")
    deflated = name + len("values.npy") + extra  # the first byte of the deflate stream
    inside = deflated + 200
    return {
        "BadZipFile: File is not a zip file": data[: len(data) // 2],
        "BadZipFile: Bad CRC-32": data[:inside] + bytes([data[inside] ^ 0xFF]) + data[inside + 1 :],
        "invalid block type": data[:deflated] + b"\xff" + data[deflated + 1 :],  # zlib.error
        "OSError": data[:inside] + data[-200:],  # a member cut short
        "ValueError: we only support format version": b"\x93NUMPY" + data[6:],
    }


@pytest.mark.parametrize(
    "error",
    [
        "BadZipFile: File is not a zip file",
        "BadZipFile: Bad CRC-32",
        "invalid block type",
        "OSError",
        "ValueError: we only support format version",
    ],
)
def test_damaged_npz_is_a_reader_error_naming_it(tmp_path: Path, error: str):
    write_dataset(_cohort(), tmp_path)
    victim = next(tmp_path.rglob("*_emg.npz"))
    victim.write_bytes(_npz_damage(victim.read_bytes())[error])
    with pytest.raises(ReaderError, match="damaged") as err:
        read_dataset(tmp_path)
    assert err.value.source == str(victim)
    assert error in str(err.value)


def test_npz_with_an_object_array_is_refused_without_unpickling(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    victim = next(tmp_path.rglob("*_emg.npz"))
    with np.load(victim) as npz:
        arrays = dict(npz)
    arrays["channels"] = np.array([{"a": 1}, None], dtype=object)  # needs pickle to load
    with victim.open("wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ReaderError, match="allow_pickle") as err:
        read_dataset(tmp_path)
    assert err.value.source == str(victim)


def test_npz_of_wrong_shapes_is_refused(tmp_path: Path):
    write_dataset(_cohort(), tmp_path)
    victim = next(tmp_path.rglob("*_emg.npz"))
    with np.load(victim) as npz:
        arrays = dict(npz)
    arrays["values"] = arrays["values"][:, :1]  # one column for two channel names
    with victim.open("wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ReaderError, match=r"expected time \(T,\), values \(T, C\)") as err:
        read_dataset(tmp_path)
    assert err.value.source == str(victim)
