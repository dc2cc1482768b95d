"""C3D files through ezc3d: analog channels with their rate and units, and point (marker) data."""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmm.data.errors import DataValidationError, ReaderError
from nmm.data.muscles import MuscleSet, get_muscle_set
from nmm.data.schema import Signal
from nmm.data.units import si_factor

log = logging.getLogger(__name__)


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


def _param(params: Mapping, group: str, name: str, default=None):
    """The value of GROUP:NAME, or `default` if it is absent or empty (ezc3d writes `[]`)."""
    try:
        value = params[group][name]["value"]
    except KeyError:
        return default
    return default if np.size(value) == 0 else value


# C3D header layout (C3D.ORG, "The C3D File Format User Guide", ch. 3): 16-bit words
_PROCESSOR_ENDIAN = {84: "<", 86: ">"}  # Intel, MIPS; DEC (85) floats are not IEEE: not checked


def _check_not_truncated(path: Path) -> None:
    """ReaderError if the file is shorter than the frames its header declares.

    ezc3d reads a truncated file without complaint, rewriting the frame count, so the header is
    checked here: bytes needed = (data_start_block - 1) * 512
    + frames * (points * 4 + analog_values_per_frame) * (4 if float else 2).
    """
    with path.open("rb") as f:
        header = f.read(512)
        if len(header) < 512 or header[1] != 0x50:
            raise ReaderError("not a C3D file (bad header)", source=str(path))
        f.seek((header[0] - 1) * 512)
        param = f.read(4)
    endian = _PROCESSOR_ENDIAN.get(param[3] if len(param) == 4 else 0)
    if endian is None:
        return
    n_points, n_analog, first, last = struct.unpack(endian + "4H", header[2:10])
    (scale,) = struct.unpack(endian + "f", header[12:16])
    (data_start,) = struct.unpack(endian + "H", header[16:18])
    if last < first or last == 0xFFFF:  # long recordings keep their frame count elsewhere
        return
    word = 4 if scale < 0 else 2
    needed = (data_start - 1) * 512 + (last - first + 1) * (n_points * 4 + n_analog) * word
    size = path.stat().st_size
    if size < needed:
        raise ReaderError(
            f"file holds {size} bytes but its header declares {last - first + 1} frames that "
            f"need {needed}: truncated",
            source=str(path),
        )


def read_c3d(path: str | os.PathLike[str]) -> C3DRecording:
    """Read a C3D file; ReaderError naming the file if it is missing or not a valid C3D."""
    import ezc3d

    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise ReaderError("file not found", source=src)
    _check_not_truncated(path)
    try:
        c3d = ezc3d.c3d(src)
    except Exception as exc:  # ezc3d raises bare RuntimeError/IOError on corrupt files
        raise ReaderError(f"not a readable C3D file ({exc})", source=src) from exc
    params = c3d["parameters"]
    analog_rate = float(np.ravel(_param(params, "ANALOG", "RATE", [0.0]))[0])
    labels = [str(x).strip() for x in _param(params, "ANALOG", "LABELS", [])]
    units = [str(x).strip() for x in _param(params, "ANALOG", "UNITS", [])]
    first = int(c3d["header"]["points"]["first_frame"])
    analog_values = np.asarray(c3d["data"]["analogs"])[0].T  # (T_a, C)
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
    analogs = Signal.uniform(
        analog_values,
        analog_rate,
        _unique(labels),
        units,
        start=first / float(c3d["header"]["points"]["frame_rate"] or 1.0),
        kind="analog",
        source=src,
    )
    point_rate = float(np.ravel(_param(params, "POINT", "RATE", [0.0]))[0])
    point_labels = tuple(str(x) for x in _param(params, "POINT", "LABELS", []))
    unit = str(np.ravel(_param(params, "POINT", "UNITS", ["mm"]))[0]).strip() or "mm"
    _, factor = si_factor(unit)
    points = np.asarray(c3d["data"]["points"])[:3].transpose(2, 1, 0) * factor  # (T_p, P, 3)
    point_time = (
        (first + np.arange(points.shape[0])) / point_rate
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
    """The EMG of `recording` as a Signal with canonical muscle names.

    channel_map: C3D analog label -> muscle name (canonical or alias). Without it, every label
    whose first dot-separated part is a known alias of `muscle_set` (e.g. 'Biceps.EMG4') is taken;
    the labels left unmapped are logged. A mapped label missing from the file is an error.
    """
    mset = get_muscle_set(muscle_set)
    sig = recording.analogs
    if channel_map is None:
        channel_map = {}
        for label in sig.channels:
            try:
                channel_map[label] = mset.canonical(label.split(".")[0])
            except DataValidationError:
                continue
        unmapped = [c for c in sig.channels if c not in channel_map]
        if unmapped:
            log.info(
                "%s: analog channels not mapped to muscles of '%s': %s",
                recording.source,
                mset.name,
                ", ".join(unmapped),
            )
        if not channel_map:
            raise DataValidationError(
                f"no analog channel matches a muscle of '{mset.name}'", source=recording.source
            )
    missing = [label for label in channel_map if label not in sig.channels]
    if missing:
        raise DataValidationError(
            f"EMG channel missing from the C3D file (analog labels: {', '.join(sig.channels)})",
            source=recording.source,
            channel=missing[0],
        )
    names = [mset.canonical(m, source=recording.source) for m in channel_map.values()]
    emg = sig.select(list(channel_map))
    return emg.with_values(emg.values, channels=names, kind="emg")
