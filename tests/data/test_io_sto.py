"""OpenSim storage files: round trips, OpenSim's own reader, and honest handling of bad files."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data import ReaderError
from nmm.data.io.sto import StoRowCountWarning, read_sto, write_sto


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    time = np.arange(50) / 100.0 + 0.37
    return time, rng.normal(size=(50, 3)) * 1e3, ["elbow_flexion", "BIClong", "TRImed"]


@pytest.mark.parametrize("style", ["opensim4", "legacy"])
def test_round_trip_is_exact(tmp_path, table, style):
    time, data, cols = table
    path = write_sto(tmp_path / "x.sto", time, data, cols, style=style, in_degrees=True)
    back = read_sto(path)
    assert back.columns == tuple(cols)
    assert back.in_degrees
    assert np.array_equal(back.time, time)
    assert np.array_equal(back.data, data)
    assert back.rate == pytest.approx(100.0)


@pytest.mark.parametrize("style", ["opensim4", "legacy"])
def test_opensim_reads_what_we_write(tmp_path, table, style):
    osim = pytest.importorskip("opensim")
    time, data, cols = table
    path = write_sto(tmp_path / "x.sto", time, data, cols, style=style)
    t = osim.TimeSeriesTable(str(path))
    assert list(t.getColumnLabels()) == cols
    assert np.allclose(np.array(t.getIndependentColumn()), time, rtol=0, atol=1e-12)
    got = np.array([[t.getDependentColumn(c)[i] for c in cols] for i in range(t.getNumRows())])
    np.testing.assert_allclose(got, data, rtol=1e-12)


def test_we_read_what_opensim_writes(tmp_path):
    osim = pytest.importorskip("opensim")
    t = osim.TimeSeriesTable()
    t.setColumnLabels(["a", "b"])
    for i in range(5):
        t.appendRow(i * 0.01, osim.RowVector([float(i), -2.5 * i]))
    t.addTableMetaDataString("inDegrees", "no")
    osim.STOFileAdapter.write(t, str(tmp_path / "o.sto"))
    back = read_sto(tmp_path / "o.sto")
    assert back.columns == ("a", "b")
    np.testing.assert_array_equal(back.data, [[i, -2.5 * i] for i in range(5)])
    assert back.header["version"] == "3"


def test_header_announcing_more_rows_warns_and_reads_present_rows(tmp_path, table):
    time, data, cols = table
    path = write_sto(tmp_path / "x.sto", time, data, cols, style="legacy")
    text = path.read_text().replace("nRows=50", "nRows=250")
    path.write_text(text)
    with pytest.warns(StoRowCountWarning, match="announces nRows=250 but the file holds 50"):
        back = read_sto(path)
    assert back.data.shape == (50, 3)


def test_comma_separated_storage_with_padded_header(tmp_path):
    path = tmp_path / "c.mot"
    path.write_text(
        "Coordinates,,\nversion=1,,\nnRows=2,,\nnColumns=3,,\ninDegrees=yes,,\n"
        "endheader,,\ntime,elbow_flexion,pro_sup\n1.5,42.0,-20\n1.51,41.5,-20.5\n"
    )
    back = read_sto(path)
    assert back.name == "Coordinates" and back.in_degrees
    np.testing.assert_array_equal(back.column("elbow_flexion"), [42.0, 41.5])


def test_truncated_row_is_an_error_naming_the_line(tmp_path, table):
    time, data, cols = table
    path = write_sto(tmp_path / "t.sto", time, data, cols)
    text = path.read_text()
    path.write_text(text[: len(text) - 30])  # cut inside the last row
    with pytest.raises(ReaderError, match=r"line \d+ has \d values, expected 4") as err:
        read_sto(path)
    assert "t.sto" in str(err.value)


def test_truncated_header_is_an_error(tmp_path):
    path = tmp_path / "h.sto"
    path.write_text("name\nversion=1\nnRows=10\n")
    with pytest.raises(ReaderError, match="no 'endheader'"):
        read_sto(path)


def test_non_numeric_value_names_column(tmp_path):
    path = tmp_path / "n.sto"
    path.write_text("endheader\ntime\ta\tb\n0\t1\t2\n0.01\t1\tabc\n")
    with pytest.raises(ReaderError, match="'abc' is not a number") as err:
        read_sto(path)
    assert "channel 'b'" in str(err.value)


def test_missing_column_names_file_and_channel(tmp_path, table):
    time, data, cols = table
    back = read_sto(write_sto(tmp_path / "x.sto", time, data, cols))
    with pytest.raises(ReaderError, match="column not found") as err:
        back.column("BRA")
    assert "x.sto" in str(err.value) and "'BRA'" in str(err.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(ReaderError, match="cannot read"):
        read_sto(tmp_path / "absent.sto")


def test_failed_write_keeps_earlier_file(tmp_path, table, monkeypatch):
    time, data, cols = table
    path = write_sto(tmp_path / "x.sto", time, data, cols)
    before = path.read_text()

    def half_then_crash(self, text, **kw):
        with open(self, "w") as f:
            f.write(text[: len(text) // 2])
        raise OSError("disk full")

    monkeypatch.setattr("pathlib.Path.write_text", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        write_sto(path, time, data * 2, cols)
    monkeypatch.undo()
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.sto"]
