"""The UCI "EMG dataset in Lower Limb" text files (Sanchez et al. 2014, CC BY 4.0).

Each file: `File Name: ...`, one header line per channel (`Channel N: 'name', K values,
engineering units: mV, ...`), sometimes a `Digitals combined ...` line (an extra column of event
codes), a blank line, then tab-separated rows at 1000 Hz. Channel names and numbering vary, so
channels are mapped by name; the goniometer ('Flexo-Extension', 'Flexo', 'FX') becomes the
`knee_angle` coordinate in rad. Its 50 Hz samples are held to 1000 Hz in the file (stepped).

The header's counts are checked against the rows: each EMG channel must hold exactly the number
of values its header line declares, in the first rows (rows after them are the goniometer's
padding, with empty EMG cells). The file must end with a line break and keep within the limits
of `nmm.data.io.textfile`.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nmm.data.errors import DataValidationError, ReaderError
from nmm.data.io.textfile import read_text
from nmm.data.muscles import MuscleSet, get_muscle_set
from nmm.data.schema import Cohort, Signal, Subject, Trial

log = logging.getLogger(__name__)

RATE_HZ = 1000.0  # stated by the dataset's documentation
GONIOMETER_RATE_HZ = 50.0  # "extrapolated from 50 to 1000 samples per second" (file headers)
COORDINATE = "knee_angle"
_GONIOMETER = {"flexo-extension", "flexo", "fx", "flexo extension"}
_CHANNEL = re.compile(
    r"^Channel\s+\d+:\s*'(?P<name>[^']*)',\s*(?P<n>\d+)\s+values,\s*"
    r"engineering units:\s*(?P<unit>[^,]*)",
    re.IGNORECASE,
)
_FILE = re.compile(r"^(?P<num>\d+)(?P<group>[AN])(?P<task>mar|pie|sen)\.txt$", re.IGNORECASE)
TASKS = {"mar": "gait", "pie": "standing", "sen": "sitting"}
GROUPS = {"A": "abnormal", "N": "normal"}


@dataclass
class _Header:
    """The channel header of a UCI file.

    Attributes:
        columns: ``(kind, name, unit)`` per data column; kind ``emg``, ``angle``, ``events``
            or ``unmapped``.
        counts: data column -> the number of values its header declares (EMG channels).
        unmapped: channel names not in the knee muscle set.
        goniometer: the goniometer's header line ('' without one).
        end: index of the blank line that ends the header.
    """

    columns: list[tuple[str, str, str]] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    goniometer: str = ""
    end: int = 0


def _names(
    path: Path, subject: str | None, condition: str | None, trial_id: str | None
) -> tuple[str, str, str]:
    """Subject, condition and trial id: those given, else those of the file name."""
    match = _FILE.match(path.name)
    if match:
        subject = subject or f"{match['group'].upper()}{int(match['num'])}"
        condition = condition or GROUPS[match["group"].upper()]
        trial_id = trial_id or TASKS[match["task"].lower()]
    if not (subject and condition and trial_id):
        raise ReaderError(
            "file name is not <n><A|N><mar|pie|sen>.txt: pass subject, condition and trial_id",
            source=str(path),
        )
    return subject, condition, trial_id


def _read_header(lines: list[str], muscles: MuscleSet, src: str) -> _Header:
    """The channel lines between the file-name line and the first blank line."""
    try:
        end = next(i for i, ln in enumerate(lines) if not ln.strip())
    except StopIteration:
        raise ReaderError("no blank line ends the header", source=src) from None
    header = _Header(end=end)
    for ln in lines[1:end]:
        if ln.lower().startswith("digitals"):
            header.columns.append(("events", "events", "1"))
            continue
        m = _CHANNEL.match(ln.strip())
        if not m:
            raise ReaderError(f"unrecognised header line: {ln!r}", source=src)
        name, unit = m["name"].strip(), m["unit"].strip()
        if name.lower() in _GONIOMETER:
            header.columns.append(("angle", COORDINATE, unit))
            header.goniometer = ln.strip()
            continue
        header.counts[len(header.columns)] = int(m["n"])
        try:
            header.columns.append(("emg", muscles.canonical(name, source=src), unit))
        except DataValidationError:
            header.columns.append(("unmapped", name, unit))
            header.unmapped.append(name)
    if header.unmapped:
        log.warning(
            "%s: channels not mapped to the knee muscle set: %s", src, ", ".join(header.unmapped)
        )
    return header


def _read_rows(lines: list[str], header: _Header, src: str) -> np.ndarray:
    """The data rows (samples × columns), checked against the header's counts and cut to the
    declared EMG samples (the goniometer's padding rows dropped)."""
    try:
        data = pd.read_csv(
            io.StringIO("\n".join(lines[header.end + 1 :])), sep="\t", header=None, dtype=float
        ).to_numpy()
    except (ValueError, pd.errors.ParserError) as exc:
        raise ReaderError(f"data rows are not tab-separated numbers ({exc})", source=src) from exc
    if data.shape[1] != len(header.columns):
        raise ReaderError(
            f"{data.shape[1]} data columns but the header declares {len(header.columns)} channels",
            source=src,
        )
    _check_counts(data, header.counts, header.columns, src)
    n = min(header.counts.values()) if header.counts else data.shape[0]
    if data.shape[0] > n:
        log.info(
            "%s: ignoring %d rows after the %d declared EMG samples (goniometer padding)",
            src,
            data.shape[0] - n,
            n,
        )
    return data[:n]


def _signals(data: np.ndarray, header: _Header, src: str) -> tuple[Signal, Signal | None]:
    """The raw EMG (its units, 1000 Hz) and the knee angle (rad; None without a goniometer)."""
    columns = header.columns
    emg_idx = [i for i, c in enumerate(columns) if c[0] == "emg"]
    angle_idx = [i for i, c in enumerate(columns) if c[0] == "angle"]
    if not emg_idx:
        raise DataValidationError("no EMG channel could be mapped", source=src)
    emg = Signal.uniform(
        data[:, emg_idx],
        RATE_HZ,
        [columns[i][1] for i in emg_idx],
        [columns[i][2] for i in emg_idx],
        kind="emg",
        source=src,
    )
    if not angle_idx:
        return emg, None
    i = angle_idx[0]
    factor = math.pi / 180.0 if columns[i][2].lower().startswith("deg") else 1.0
    angle = _hold_trailing_gap(data[:, i], src)
    kinematics = Signal.uniform(
        angle * factor, RATE_HZ, [COORDINATE], "rad", kind="kinematics", source=src
    )
    return emg, kinematics


def read_uci_file(
    path: str | os.PathLike[str],
    subject: str | None = None,
    condition: str | None = None,
    trial_id: str | None = None,
) -> Trial:
    """One UCI file as a Trial: raw EMG (mV) of the 4 thigh muscles and the knee angle (rad).

    subject/condition/trial_id default to those encoded in the file name (`1Amar.txt` ->
    subject 'A1', condition 'abnormal', trial 'gait').
    """
    path = Path(path)
    src = str(path)
    lines = read_text(path, encoding="latin-1").splitlines()
    subject, condition, trial_id = _names(path, subject, condition, trial_id)
    muscles = get_muscle_set("knee")
    header = _read_header(lines, muscles, src)
    emg, kinematics = _signals(_read_rows(lines, header, src), header, src)
    metadata = {
        "task": trial_id,
        "group": condition,
        "unmapped_channels": header.unmapped,
        "goniometer": header.goniometer,
        "dataset": "uci-lower-limb",
    }
    return Trial(
        subject=subject,
        trial_id=trial_id,
        muscle_set=muscles,
        emg=emg,
        kinematics=kinematics,
        condition=condition,
        coordinate=COORDINATE,
        source=src,
        metadata=metadata,
    )


def _check_counts(
    data: np.ndarray, counts: dict[int, int], columns: list[tuple[str, str, str]], src: str
) -> None:
    """ReaderError unless each counted column holds exactly its declared number of values, in
    its first rows: a count that disagrees with the data means a damaged header or lost rows."""
    for i, declared in counts.items():
        held = np.isfinite(data[:, i])
        n_held = int(held.sum())
        if n_held != declared or not held[:declared].all():
            raise ReaderError(
                f"header declares {declared} values but the column holds {n_held}"
                + ("" if n_held != declared else " with gaps among the first rows")
                + " (file damaged or truncated)",
                source=src,
                channel=columns[i][1],
            )


def _hold_trailing_gap(angle: np.ndarray, src: str) -> np.ndarray:
    """Hold the last goniometer value over a trailing gap of at most one 50 Hz sample period.

    The goniometer (50 Hz, held to 1000 Hz) can stop one period before the EMG; a longer or
    interior gap is left as NaN for validation to reject.
    """
    finite = np.isfinite(angle)
    if finite.all() or not finite.any():
        return angle
    last = int(np.flatnonzero(finite)[-1])
    gap = angle.size - 1 - last
    if 0 < gap <= RATE_HZ / GONIOMETER_RATE_HZ and finite[: last + 1].all():
        log.info("%s: goniometer ends %d samples before the EMG; holding its last value", src, gap)
        angle = angle.copy()
        angle[last + 1 :] = angle[last]
    return angle


def _file_order(path: Path) -> tuple[str, int, str]:
    """Group, subject number, task: A1 before A2 before A10."""
    m = _FILE.match(path.name)
    return m["group"].upper(), int(m["num"]), m["task"]


def read_uci_lower_limb(
    folder: str | os.PathLike[str], tasks: tuple[str, ...] = ("mar", "pie", "sen")
) -> Cohort:
    """Every `<n><A|N><task>.txt` under `folder` (e.g. A_TXT/ and N_TXT/) as one Cohort."""
    folder = Path(folder)
    files = [
        p
        for p in folder.rglob("*.txt")
        if (m := _FILE.match(p.name)) and m["task"].lower() in tasks
    ]
    files.sort(key=_file_order)
    if not files:
        raise ReaderError(
            "no UCI lower-limb files (<n><A|N><mar|pie|sen>.txt) found", source=str(folder)
        )
    trials = [read_uci_file(p) for p in files]
    subjects = [
        Subject(s, metadata={"group": next(t.condition for t in trials if t.subject == s)})
        for s in dict.fromkeys(t.subject for t in trials)
    ]
    return Cohort(subjects, trials, name="uci-lower-limb")
