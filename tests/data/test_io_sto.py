"""OpenSim storage files: round trips, OpenSim's own reader, and honest handling of bad files."""

from __future__ import annotations

import numpy as np
import pytest

from nmm.data import DataValidationError, ReaderError
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
    path.write_text(text[: len(text) - 30] + "\n")  # values lost inside the last row
    with pytest.raises(ReaderError, match=r"line \d+ has \d values, expected 4") as err:
        read_sto(path)
    assert "t.sto" in str(err.value)


@pytest.mark.parametrize("style", ["opensim4", "legacy"])
def test_cut_inside_the_last_number_is_an_error(tmp_path, table, style):
    # the OpenSim 4 header has no row count: without the final-line-break rule the shortened
    # last number would be read as another value
    time, data, cols = table
    path = write_sto(tmp_path / "t.sto", time, data, cols, style=style)
    text = path.read_text()
    last = repr(float(data[-1, -1]))
    assert text.endswith(last + "\n") and len(last) > 4
    path.write_text(text[: -len(last) + 2])  # keeps the sign and first digit (or two)
    with pytest.raises(ReaderError, match="does not end with a line break") as err:
        read_sto(path)
    assert err.value.source == str(path)


def test_rows_missing_mid_file_are_an_error_unless_allowed(tmp_path, table):
    time, data, cols = table
    keep = np.r_[0:20, 23:50]  # three rows (30 ms at 100 Hz) lost in the middle
    path = write_sto(tmp_path / "gap.sto", time[keep], data[keep], cols)
    table_read = read_sto(path)
    assert table_read.rate == pytest.approx(100.0)  # the median step does not see the gap
    with pytest.raises(DataValidationError, match=r"gap of 0\.04 s .*t=0\.56 s") as err:
        table_read.to_signal(cols, ["1"] * 3, "analog")
    assert err.value.source == str(path)
    sig = table_read.to_signal(cols, ["1"] * 3, "analog", allow_gaps=True)
    np.testing.assert_array_equal(sig.time, time[keep])


def test_non_utf8_and_oversized_lines_are_errors(tmp_path, table):
    time, data, cols = table
    path = write_sto(tmp_path / "t.sto", time, data, cols)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"elbow_flexion", b"elbow_fl\xe9xion"))
    with pytest.raises(ReaderError, match=r"not UTF-8 text: byte 0xe9"):
        read_sto(path)
    path.write_bytes(raw.replace(b"endheader", b"x" * (2**20 + 1) + b"\nendheader"))
    with pytest.raises(ReaderError, match="a line of 1,048,577 bytes, over the limit"):
        read_sto(path)


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
