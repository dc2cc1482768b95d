"""OpenSim storage files (.sto, .mot): read and write, both header versions.

Two header styles exist (OpenSim's Storage and STOFileAdapter classes):
- legacy (version=1): a name line, then `version=1`, `nRows=`, `nColumns=`, `inDegrees=`;
- OpenSim 4 (version=3): `inDegrees=`, `DataType=double`, `version=3`, `OpenSimVersion=`.
Both end with `endheader`, then a column-label line starting with `time`, then rows. Readers accept
tab, comma or whitespace delimiters (some exporters write comma-separated .sto files). The file
must end with a line break and keep within the limits of `nmm.data.io.textfile`, so a file cut
inside its last value is refused rather than read as another number.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmm.atomic import atomic_path
from nmm.data.errors import ReaderError
from nmm.data.io.textfile import read_text
from nmm.data.schema import Signal


class StoRowCountWarning(UserWarning):
    """The header's nRows disagrees with the rows actually in the file."""


@dataclass
class StoTable:
    """A parsed storage file. time: (T,) s; data: (T, C) in the file's units."""

    name: str
    columns: tuple[str, ...]
    time: np.ndarray
    data: np.ndarray
    in_degrees: bool
    header: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def column(self, name: str) -> np.ndarray:
        """(T,) values of column `name`; ReaderError naming the file if it is absent."""
        try:
            return self.data[:, self.columns.index(name)]
        except ValueError:
            raise ReaderError(
                f"column not found (have: {', '.join(self.columns)})",
                source=self.source,
                channel=name,
            ) from None

    @property
    def rate(self) -> float:
        """Sampling rate, Hz, from the median time step."""
        if self.time.size < 2:
            raise ReaderError("a single row has no sampling rate", source=self.source)
        return float(np.round(1.0 / np.median(np.diff(self.time)), 9))

    def to_signal(
        self,
        columns: Sequence[str],
        units: Sequence[str],
        kind: str,
        names: Sequence[str] | None = None,
        rate: float | None = None,
        allow_gaps: bool = False,
    ) -> Signal:
        """A validated Signal of `columns` (renamed to `names`) with the given units.

        rate: Hz; by default estimated from the median time step. allow_gaps: accept rows
        missing mid-file (see Signal); by default a gap is a DataValidationError.
        """
        values = np.column_stack([self.column(c) for c in columns])
        return Signal(
            self.time,
            values,
            tuple(names or columns),
            tuple(units),
            self.rate if rate is None else rate,
            kind,
            self.source,
            allow_gaps,
        )


def _split(line: str, delimiter: str | None) -> list[str]:
    parts = line.split(delimiter) if delimiter else line.split()
    while parts and parts[-1].strip() == "":
        parts.pop()
    return [p.strip() for p in parts]


def read_sto(path: str | os.PathLike[str]) -> StoTable:
    """Read an OpenSim .sto/.mot file.

    Raises ReaderError for a missing `endheader`, a missing `time` column, a row with the wrong
    number of values, a non-numeric value, a file that does not end with a line break (cut
    short), one that is not UTF-8 or that exceeds the limits of `nmm.data.io.textfile`. If the
    header announces a different number of rows than the file holds, the rows present are read
    and a StoRowCountWarning says so: real OpenSim exports do this (the shared pyomeca files).
    """
    path = Path(path)
    src = str(path)
    lines = read_text(path).splitlines()
    try:
        end = next(i for i, ln in enumerate(lines) if ln.strip().strip(",\t ") == "endheader")
    except StopIteration:
        raise ReaderError(
            "no 'endheader' line: not an OpenSim storage file, or truncated within its header",
            source=src,
        ) from None
    header: dict[str, str] = {}
    name = ""
    for i, raw in enumerate(lines[:end]):
        text = raw.strip().rstrip(",\t ")
        if "=" in text:
            key, _, value = text.partition("=")
            header[key.strip()] = value.strip()
        elif i == 0:
            name = text
    body = [(i, ln) for i, ln in enumerate(lines[end + 1 :], start=end + 2) if ln.strip(",\t ")]
    if not body:
        raise ReaderError("no column labels after 'endheader'", source=src)
    label_line = body[0][1]
    delimiter = "\t" if "\t" in label_line else ("," if "," in label_line else None)
    labels = _split(label_line, delimiter)
    if not labels or labels[0].lower() != "time":
        raise ReaderError(
            f"first column must be 'time', got '{labels[0] if labels else ''}'", source=src
        )
    rows = _parse_rows(body[1:], delimiter, labels, src)
    if rows.shape[0] == 0:
        raise ReaderError("no data rows", source=src)
    announced = header.get("nRows")
    if announced is not None and announced.isdigit() and int(announced) != rows.shape[0]:
        msg = (
            f"{src}: header announces nRows={announced} but the file holds {rows.shape[0]} "
            f"rows (t = {rows[0, 0]:g}-{rows[-1, 0]:g} s); read the {rows.shape[0]} present"
        )
        warnings.warn(msg, StoRowCountWarning, stacklevel=2)
    in_degrees = header.get("inDegrees", "no").lower() == "yes"
    return StoTable(
        name or path.stem,
        tuple(labels[1:]),
        rows[:, 0].copy(),
        rows[:, 1:].copy(),
        in_degrees,
        header,
        src,
    )


def _parse_rows(
    body: list[tuple[int, str]], delimiter: str | None, labels: list[str], src: str
) -> np.ndarray:
    """(rows, len(labels)) floats; a fast path, then a line-by-line pass that names the fault."""
    try:
        rows = np.loadtxt([ln for _, ln in body], delimiter=delimiter, ndmin=2, comments=None)
        if rows.shape[1] == len(labels) or rows.size == 0:
            return rows.reshape(len(body), len(labels))
    except ValueError:
        pass
    rows = np.empty((len(body), len(labels)))
    for r, (lineno, ln) in enumerate(body):
        parts = _split(ln, delimiter)
        if len(parts) != len(labels):
            raise ReaderError(
                f"line {lineno} has {len(parts)} values, expected {len(labels)} "
                "(file truncated or malformed)",
                source=src,
            )
        try:
            rows[r] = [float(p) for p in parts]
        except ValueError:
            bad = next(p for p in parts if not _is_float(p))
            raise ReaderError(
                f"line {lineno}: '{bad}' is not a number",
                source=src,
                channel=labels[parts.index(bad)],
            ) from None
    return rows


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_sto(
    path: str | os.PathLike[str],
    time: np.ndarray,
    data: np.ndarray,
    columns: Sequence[str],
    *,
    name: str = "nmm-painsig",
    in_degrees: bool = False,
    style: str = "opensim4",
) -> Path:
    """Write an OpenSim storage file atomically, values at full double precision.

    time: (T,) s; data: (T, C); style: 'opensim4' (version=3, as STOFileAdapter writes) or
    'legacy' (version=1 with nRows/nColumns, as Storage writes).
    """
    time = np.asarray(time, dtype=float)
    data = np.asarray(data, dtype=float).reshape(time.size, -1)
    if data.shape[1] != len(columns):
        raise ValueError(f"{path}: {data.shape[1]} data columns but {len(columns)} labels")
    degrees = "yes" if in_degrees else "no"
    if style == "legacy":
        head = [
            name,
            "version=1",
            f"nRows={time.size}",
            f"nColumns={len(columns) + 1}",
            f"inDegrees={degrees}",
        ]
    elif style == "opensim4":
        head = [f"inDegrees={degrees}", "DataType=double", "version=3", "OpenSimVersion=4.6"]
    else:
        raise ValueError(f"unknown storage header style '{style}' (use 'opensim4' or 'legacy')")
    lines = [*head, "endheader", "\t".join(["time", *columns])]
    table = np.column_stack([time, data])
    lines += ["\t".join(repr(float(v)) for v in row) for row in table]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
