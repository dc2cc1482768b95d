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

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.errors import ReaderError, naming_file
from nmm.data.io.textfile import Fields, load_yaml, read_text
from nmm.data.schema import Load, Signal, Trial
from nmm.data.units import canonical_unit, si_factor

_STREAMS = ("emg", "envelope", "kinematics", "torque")
_TRIAL_KEYS = ("subject", "trial_id", "session", "condition", "coordinate", "muscle_set")


def read_csv_trial(csv_path: str | os.PathLike[str], schema_path: str | os.PathLike[str]) -> Trial:
    """A Trial from a CSV file and its YAML schema; errors name the file and the column or key.

    The CSV must end with a line break (`nmm.data.io.textfile`: a file cut inside its last value
    is refused). With a time column, every time step must be 1/rate (see Signal); a schema
    entry `allow_gaps: true` accepts rows missing on purpose.
    """
    src = str(csv_path)
    document = load_yaml(schema_path, final_newline=False)
    if not isinstance(document, dict) or "streams" not in document:
        raise ReaderError(
            "schema must be a mapping with a 'streams' entry", source=str(schema_path)
        )
    schema = Fields(document, str(schema_path))
    try:
        frame = pd.read_csv(io.StringIO(read_text(csv_path)))
    except ValueError as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise ReaderError(f"cannot read CSV: {exc}", source=src) from exc
    if frame.empty:
        raise ReaderError("CSV has no data rows", source=src)
    time, rate = _time_base(frame, schema, src)
    allow_gaps = schema.flag("allow_gaps", False)
    streams: dict[str, Signal] = {}
    spec = schema.mapping("streams")
    for stream in spec.names():
        if stream not in _STREAMS:
            raise spec.error(stream, f"unknown stream (known: {', '.join(_STREAMS)})")
        channels = spec.mapping(stream)
        names, units, values = [], [], []
        for name in channels.names():
            channel = channels.mapping(name).only(("column", "unit"))
            unit = canonical_unit(channel.text("unit"), source=schema.source, channel=name)
            x = _column(frame, channel.text("column"), src)
            if stream == "kinematics":
                unit, factor = si_factor(unit)
                x = x * factor
            names.append(name)
            units.append(unit)
            values.append(x)
        if not names:
            raise spec.error(stream, "no channels")
        streams[stream] = Signal(
            time, np.column_stack(values), tuple(names), tuple(units), rate, stream, src, allow_gaps
        )
    load = schema.mapping("load", {}).only(("mass_kg", "lever_arm_m"))
    with naming_file(schema.source):  # the Load's and the muscle set's checks know no file
        return Trial(
            subject=schema.text("subject"),
            trial_id=schema.text("trial_id"),
            **{k: schema.text(k) for k in _TRIAL_KEYS[2:] if k in schema},
            **streams,
            load=Load(load.number("mass_kg", 0.0), load.number("lever_arm_m", None)),
            source=src,
            metadata=schema.plain("metadata"),
        )


def _time_base(frame: pd.DataFrame, schema: Fields, src: str) -> tuple[np.ndarray, float]:
    """(time (T,) s, rate Hz) from the schema's time column and/or rate_hz."""
    if "time_column" in schema:
        time = _column(frame, schema.text("time_column"), src)
        if "rate_hz" in schema:  # declared rate; Signal checks it against the time column
            return time, schema.number("rate_hz")
        rate = float(1.0 / np.median(np.diff(time))) if time.size > 1 else float("nan")
        return time, rate
    if "rate_hz" in schema:
        rate = schema.number("rate_hz")
        if rate <= 0:
            raise schema.error("rate_hz", f"must be > 0 Hz, got {rate:g}")
        return schema.number("start_s", 0.0) + np.arange(len(frame)) / rate, rate
    raise ReaderError("schema needs 'time_column' or 'rate_hz'", source=schema.source)


def _column(frame: pd.DataFrame, column: str, src: str) -> np.ndarray:
    """(T,) floats of `column`; text that is not a number becomes NaN, which Signal refuses."""
    if column not in frame.columns:
        raise ReaderError(
            f"column missing (have: {', '.join(map(str, frame.columns))})",
            source=src,
            channel=column,
        )
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)


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
