"""C3D files through ezc3d: analog channels with their rate and units, and point (marker) data.

ezc3d 1.7.2 can crash the interpreter (SIGSEGV) or loop on a damaged parameter section, so a file
is read in two steps:

1. `check_c3d` validates the header and the parameter section in Python, against the C3D format
   (C3D.ORG, "The C3D File Format User Guide", ch. 2-3): the section's pointer and block count
   within the file, every group and parameter record inside the section, their chain of offsets
   going forward, parameter types and dimensions within their record, every parameter in a
   declared group, the counts of POINT and ANALOG matching the header, one SCALE, OFFSET and
   LABEL per analog channel, and the data section as long as the header's frames need (up to
   the padding of its last block: longer means a damaged frame range or format). It reads at
   most the first 255 KiB, takes about a millisecond and names what is wrong.
2. ezc3d parses the file in a long-lived child process (`_c3d_process.py`: about 0.5 s to start
   once, then only the parsing per file). Whatever damage step 1 does not foresee, a crash or a
   hang there is a ReaderError naming the file, never the end of the caller's process.
"""

from __future__ import annotations

import logging
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmm.data.errors import DataValidationError, ReaderError, naming_file
from nmm.data.io._c3d_process import parse_in_child
from nmm.data.muscles import MuscleSet, get_muscle_set
from nmm.data.schema import Signal
from nmm.data.units import si_factor

log = logging.getLogger(__name__)

BLOCK = 512  # bytes per C3D block
_PROCESSOR_ENDIAN = {84: "<", 85: "<", 86: ">"}  # Intel, DEC (little-endian integers), MIPS
# The header and parameter section lie within the first 510 blocks (both block numbers are bytes)
_HEAD_BYTES = 2 * 255 * BLOCK
_TYPE_SIZE = {-1: 1, 1: 1, 2: 2, 4: 4}  # parameter type (char, byte, int16, float) -> bytes


@dataclass
class C3DRecording:
    """Contents of a C3D file.

    analogs: all analog channels (T_a, C) at the analog rate, units from ANALOG:UNITS;
    points: (T_p, P, 3) marker positions in m (NaN where a marker was not seen);
    point_labels: P names; point_time: (T_p,) s; point_rate: Hz.
    """

    analogs: Signal
    points: np.ndarray
    point_labels: tuple[str, ...]
    point_time: np.ndarray
    point_rate: float
    source: str


@dataclass(frozen=True)
class _Param:
    """One parameter record: type (-1 char, 1 byte, 2 int16, 4 float), dims, raw value bytes."""

    type: int
    dims: tuple[int, ...]
    data: bytes

    @property
    def count(self) -> int:
        """Number of values (strings for a char array: all dimensions but the first)."""
        dims = self.dims[1:] if self.type == -1 else self.dims
        return math.prod(dims)


def _int(param: _Param | None, endian: str) -> int | None:
    """The first value of an integer parameter (int16 or byte), or None."""
    if param is None or param.count == 0 or param.type not in (1, 2):
        return None
    fmt = "b" if param.type == 1 else endian + "h"
    return struct.unpack_from(fmt, param.data)[0]


def check_c3d(path: str | os.PathLike[str]) -> None:
    """ReaderError naming the file unless its header and parameter section are consistent and
    its data section is as long as the header declares (see the module's docstring)."""
    path = Path(path)
    src = str(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            raw = f.read(_HEAD_BYTES)
    except OSError as exc:
        raise ReaderError(f"cannot read file: {exc}", source=src) from exc
    if len(raw) < BLOCK or raw[1] != 0x50 or raw[0] < 2:
        raise ReaderError("not a C3D file (bad header)", source=src)
    start = (raw[0] - 1) * BLOCK
    if start + 4 > size:
        raise ReaderError(f"parameter section at block {raw[0]} lies beyond the file", source=src)
    n_blocks, processor = raw[start + 2], raw[start + 3]
    endian = _PROCESSOR_ENDIAN.get(processor)
    if endian is None:
        raise ReaderError(f"unknown processor type {processor} (84, 85 or 86)", source=src)
    end = start + n_blocks * BLOCK
    (data_block,) = struct.unpack_from(endian + "H", raw, 16)
    if n_blocks == 0 or end > size or (data_block - 1) * BLOCK < end:
        raise ReaderError(
            f"parameter section of {n_blocks} blocks from block {raw[0]} overlaps the data "
            f"(block {data_block}) or the end of the file",
            source=src,
        )
    params = _parameter_records(raw, start, end, endian, src)
    _check_counts(raw, size, params, processor, src)


def _parameter_records(
    raw: bytes, start: int, end: int, endian: str, src: str
) -> dict[str, dict[str, _Param]]:
    """GROUP -> NAME -> parameter, walking the records of the section raw[start:end]."""
    groups: dict[int, str] = {}
    members: list[tuple[int, str, _Param]] = []
    pos = start + 4
    while pos + 2 <= end:
        name_len = abs(struct.unpack_from("b", raw, pos)[0])  # negative: a locked record
        if name_len == 0:
            break
        body = pos + 2 + name_len  # the 2-byte offset to the next record
        if body + 4 > end:  # offset, then a group's description length or a parameter's type
            raise ReaderError(f"parameter record at byte {pos} runs past its section", source=src)
        name = raw[pos + 2 : body].decode("ascii", "replace").strip().upper()
        (offset,) = struct.unpack_from(endian + "h", raw, body)
        group_id = struct.unpack_from("b", raw, pos + 1)[0]
        if group_id < 0:
            record_end = body + 3 + raw[body + 2]  # description
            groups[-group_id] = name
        elif group_id > 0:
            kind, n_dims = struct.unpack_from("b", raw, body + 2)[0], raw[body + 3]
            if kind not in _TYPE_SIZE:
                raise ReaderError(f"parameter {name}: unknown type {kind}", source=src)
            dims = tuple(raw[body + 4 : body + 4 + n_dims])
            first = body + 4 + n_dims
            size = _TYPE_SIZE[kind] * math.prod(dims)
            record_end = first + size + 1
            if record_end <= end:
                record_end += raw[record_end - 1]  # description
                members.append((group_id, name, _Param(kind, dims, raw[first : first + size])))
        else:
            raise ReaderError(f"record '{name}' at byte {pos} has group id 0", source=src)
        nxt = body + offset
        if record_end > end or (offset != 0 and not record_end <= nxt <= end):
            raise ReaderError(
                f"parameter record '{name}' at byte {pos} does not fit its section "
                f"(ends at {record_end}, next record at {nxt}, section ends at {end})",
                source=src,
            )
        if offset == 0:
            break
        pos = nxt
    params: dict[str, dict[str, _Param]] = {name: {} for name in groups.values()}
    for group_id, name, param in members:
        if group_id not in groups:
            raise ReaderError(f"parameter {name} of undeclared group {group_id}", source=src)
        params[groups[group_id]][name] = param
    return params


def _check_counts(
    raw: bytes, size: int, params: dict[str, dict[str, _Param]], processor: int, src: str
) -> None:
    """The header's counts (in `raw`, the file's first bytes) against POINT and ANALOG, and the
    file's `size` (bytes) against its frames."""
    endian = _PROCESSOR_ENDIAN[processor]
    n_points, n_analog, first, last = struct.unpack_from(endian + "4H", raw, 2)
    (data_block, per_frame) = struct.unpack_from(endian + "2H", raw, 16)
    point, analog = params.get("POINT", {}), params.get("ANALOG", {})
    used_points, used_analog = _int(point.get("USED"), endian), _int(analog.get("USED"), endian)
    if used_points is None or used_points != n_points:
        raise ReaderError(
            f"POINT:USED is {used_points} but the header declares {n_points} points", source=src
        )
    if used_analog is None or used_analog * max(per_frame, 1) != n_analog:
        raise ReaderError(
            f"ANALOG:USED is {used_analog} with {per_frame} samples per frame, but the header "
            f"declares {n_analog} analog values per frame",
            source=src,
        )
    for name in ("LABELS", "SCALE", "OFFSET"):
        held = analog[name].count if name in analog else 0
        if used_analog and held < used_analog:
            raise ReaderError(
                f"ANALOG:{name} has {held} entries for {used_analog} analog channels", source=src
            )
    if last < first or last == 0xFFFF:  # long recordings keep their frame count elsewhere
        return
    # bytes per value: 4 if the header's scale factor is negative (float data), else 2; a DEC
    # (VAX) float keeps its sign bit in its second byte
    negative = (
        raw[13] >= 0x80 if processor == 85 else struct.unpack_from(endian + "f", raw, 12)[0] < 0
    )
    word = 4 if negative else 2
    needed = (data_block - 1) * BLOCK + (last - first + 1) * (n_points * 4 + n_analog) * word
    if size < needed:
        raise ReaderError(
            f"file holds {size} bytes but its header declares {last - first + 1} frames that "
            f"need {needed}: truncated",
            source=src,
        )
    if size - needed >= BLOCK:  # more than the padding of the last block
        raise ReaderError(
            f"file holds {size} bytes but its header declares {last - first + 1} frames that "
            f"need {needed}: the header's frame range or data format is damaged",
            source=src,
        )


def _first(values: np.ndarray, default: float) -> float:
    return float(values.ravel()[0]) if values.size else default


def _texts(values: np.ndarray) -> list[str]:
    return [str(x).strip() for x in values.ravel()]


def read_c3d(path: str | os.PathLike[str]) -> C3DRecording:
    """Read a C3D file: `check_c3d`, then ezc3d in a child process; ReaderError naming the file if
    it is missing, damaged or not a C3D file."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise ReaderError("file not found", source=src)
    check_c3d(path)
    c3d = parse_in_child(path)
    analog_rate = _first(c3d["ANALOG_RATE"], 0.0)
    labels = _texts(c3d["ANALOG_LABELS"])
    units = _texts(c3d["ANALOG_UNITS"])
    analog_values = c3d["analogs"][0].T  # (T_a, C)
    if len(units) != len(labels):
        log.warning(
            "%s: ANALOG:UNITS has %d entries for %d labels; assuming V",
            src,
            len(units),
            len(labels),
        )
        units = ["V"] * len(labels)
    if analog_rate <= 0:
        raise ReaderError(f"ANALOG:RATE is {analog_rate} Hz (must be > 0)", source=src)
    frame_rate = float(c3d["frame_rate"]) or 1.0
    analogs = Signal.uniform(
        analog_values,
        analog_rate,
        _unique(labels),
        units,
        start=float(c3d["first_frame"]) / frame_rate,
        kind="analog",
        source=src,
    )
    point_rate = _first(c3d["POINT_RATE"], 0.0)
    point_labels = tuple(str(x) for x in c3d["POINT_LABELS"].ravel())
    with naming_file(src):
        _, factor = si_factor((_texts(c3d["POINT_UNITS"]) or ["mm"])[0] or "mm")
    points = c3d["points"][:3].transpose(2, 1, 0) * factor  # (T_p, P, 3)
    point_time = (
        (float(c3d["first_frame"]) + np.arange(points.shape[0])) / point_rate
        if point_rate > 0
        else np.arange(points.shape[0], dtype=float)
    )
    return C3DRecording(analogs, points, point_labels, point_time, point_rate, src)


def _unique(labels: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


def emg_from_c3d(
    recording: C3DRecording,
    channel_map: Mapping[str, str] | None = None,
    muscle_set: MuscleSet | str = "upper_limb_surface",
) -> Signal:
    """The EMG of `recording` as a Signal with canonical muscle names (:func:`emg_channels` of
    its analog channels)."""
    return emg_channels(recording.analogs, channel_map, muscle_set)


def emg_channels(
    analogs: Signal,
    channel_map: Mapping[str, str] | None = None,
    muscle_set: MuscleSet | str = "upper_limb_surface",
) -> Signal:
    """The EMG channels of `analogs` (a C3D file's analogs, a .sto or CSV table) as a Signal
    with canonical muscle names.

    channel_map: label -> muscle name (canonical or alias). Without it, every label whose last
    '/'-separated part, up to its first dot, is a muscle or an alias of `muscle_set` is taken
    ('Biceps.EMG4', '/forceset/BIClong'); the labels left unmapped are logged. A mapped label
    missing from the file is an error naming the file and the label.
    """
    mset = get_muscle_set(muscle_set)
    sig = analogs
    if channel_map is None:
        channel_map = {}
        for label in sig.channels:
            try:
                channel_map[label] = mset.canonical(label.rsplit("/", 1)[-1].split(".")[0])
            except DataValidationError:
                continue
        unmapped = [c for c in sig.channels if c not in channel_map]
        if unmapped:
            log.info(
                "%s: analog channels not mapped to muscles of '%s': %s",
                sig.source,
                mset.name,
                ", ".join(unmapped),
            )
        if not channel_map:
            raise DataValidationError(
                f"no analog channel matches a muscle of '{mset.name}' "
                f"(labels: {', '.join(sig.channels)})",
                source=sig.source,
            )
    missing = [label for label in channel_map if label not in sig.channels]
    if missing:
        raise DataValidationError(
            f"EMG channel missing from the file (labels: {', '.join(sig.channels)})",
            source=sig.source,
            channel=missing[0],
        )
    names = [mset.canonical(m, source=sig.source) for m in channel_map.values()]
    emg = sig.select(list(channel_map))
    return emg.with_values(emg.values, channels=names, kind="emg")
