"""CSV recordings described by a small YAML schema file.

One CSV holds one trial whose streams share a time base. The schema says which column is which
channel, in which unit, and who/what the trial is::

    subject: S01
    trial_id: flexion_01
    condition: baseline          # optional: session, coordinate, muscle_set, load, metadata
    time_column: time            # and/or rate_hz: 2000 (without a time column, samples start
                                 # at start_s, default 0; with one, rate_hz is its declared rate)
    streams:
      emg:        {BIClong: {column: EMG1, unit: mV}, TRIlong: {column: EMG2, unit: mV}}
      kinematics: {elbow_flexion: {column: angle, unit: deg}}
      torque:     {elbow_flexion_moment: {column: moment, unit: N·m}}

Angles given in degrees are converted to rad on reading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.errors import ReaderError
from nmm.data.schema import Load, Signal, Trial
from nmm.data.units import canonical_unit, si_factor

_STREAMS = ("emg", "envelope", "kinematics", "torque")
_TRIAL_KEYS = ("subject", "trial_id", "session", "condition", "coordinate", "muscle_set")


def read_csv_trial(csv_path: str | os.PathLike[str], schema_path: str | os.PathLike[str]) -> Trial:
    """A Trial from a CSV file and its YAML schema; errors name the file and the column."""
    csv_path, schema_path = Path(csv_path), Path(schema_path)
    src = str(csv_path)
    try:
        schema = yaml.safe_load(schema_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ReaderError(f"cannot read CSV schema: {exc}", source=str(schema_path)) from exc
    if not isinstance(schema, dict) or "streams" not in schema:
        raise ReaderError(
            "schema must be a mapping with a 'streams' entry", source=str(schema_path)
        )
    try:
        frame = pd.read_csv(csv_path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ReaderError(f"cannot read CSV: {exc}", source=src) from exc
    if frame.empty:
        raise ReaderError("CSV has no data rows", source=src)
    time_col = schema.get("time_column")
    if time_col is not None:
        time = _column(frame, time_col, src)
        if "rate_hz" in schema:  # declared rate; Signal checks it against the time column
            rate = float(schema["rate_hz"])
        else:
            rate = float(1.0 / np.median(np.diff(time))) if time.size > 1 else float("nan")
    elif "rate_hz" in schema:
        rate = float(schema["rate_hz"])
        time = float(schema.get("start_s", 0.0)) + np.arange(len(frame)) / rate
    else:
        raise ReaderError("schema needs 'time_column' or 'rate_hz'", source=str(schema_path))
    streams: dict[str, Signal] = {}
    for stream, channels in schema["streams"].items():
        if stream not in _STREAMS:
            raise ReaderError(
                f"unknown stream '{stream}' (known: {', '.join(_STREAMS)})", source=str(schema_path)
            )
        names, units, values = [], [], []
        for name, spec in channels.items():
            unit = canonical_unit(spec["unit"], source=str(schema_path), channel=name)
            x = _column(frame, spec["column"], src)
            if stream == "kinematics":
                unit, factor = si_factor(unit)
                x = x * factor
            names.append(name)
            units.append(unit)
            values.append(x)
        streams[stream] = Signal(
            time, np.column_stack(values), tuple(names), tuple(units), rate, stream, src
        )
    load = schema.get("load") or {}
    return Trial(
        **{k: str(schema[k]) for k in _TRIAL_KEYS if k in schema},
        **streams,
        load=Load(**load),
        source=src,
        metadata=dict(schema.get("metadata") or {}),
    )


def _column(frame: pd.DataFrame, column: str, src: str) -> np.ndarray:
    if column not in frame.columns:
        raise ReaderError(
            f"column missing (have: {', '.join(map(str, frame.columns))})",
            source=src,
            channel=column,
        )
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    return values


def write_csv_trial(
    trial: Trial, csv_path: str | os.PathLike[str], schema_path: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Write `trial` as CSV + YAML schema (atomically); its streams must share one time base."""
    streams = trial.streams()
    bases = {(s.n_samples, s.time[0], s.rate) for s in streams.values()}
    first = next(iter(streams.values()))
    if len(bases) > 1 or not all(np.array_equal(s.time, first.time) for s in streams.values()):
        raise ValueError(
            f"trial '{trial.trial_id}': streams have different time bases; write "
            "them as a dataset folder (write_dataset) instead"
        )
    columns: dict[str, np.ndarray] = {"time": first.time}
    spec: dict[str, Any] = {}
    for stream, sig in streams.items():
        spec[stream] = {}
        for ch, unit in zip(sig.channels, sig.units, strict=True):
            col = f"{stream}:{ch}"
            columns[col] = sig[ch]
            spec[stream][ch] = {"column": col, "unit": unit}
    schema: dict[str, Any] = {k: getattr(trial, k) for k in _TRIAL_KEYS if k != "muscle_set"}
    schema["muscle_set"] = trial.muscle_set.name
    schema["time_column"] = "time"
    schema["rate_hz"] = first.rate
    schema["load"] = {"mass_kg": trial.load.mass_kg, "lever_arm_m": trial.load.lever_arm_m}
    schema["streams"] = spec
    if trial.metadata:
        schema["metadata"] = trial.metadata
    with atomic_path(csv_path) as tmp:
        pd.DataFrame(columns).to_csv(tmp, index=False, float_format="%.17g")
    atomic_write_text(schema_path, yaml.safe_dump(schema, sort_keys=False, allow_unicode=True))
    return Path(csv_path), Path(schema_path)
