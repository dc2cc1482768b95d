"""Where the stream's samples come from: a replay of recorded arrays (a trial, a subject's
trials, a study; at real speed or as fast as possible) or of an ``.xdf`` file (what LSL's
LabRecorder writes). The live LSL inlet is :mod:`nmm.stream.lsl`.

A source is polled, never waited on: :meth:`Source.poll` returns the :class:`Chunk` s that
arrived since the last call (possibly none) and returns at once. Each chunk carries its samples'
timestamps on the source's clock (s) and the time it arrived on the engine's clock
(``time.perf_counter``, s); the engine (:mod:`nmm.stream.engine`) finds stalls and dropped
samples from them.

A replay emulates an amplifier that sends a chunk every ``chunk_s``: the samples stamped in
[k·chunk_s, (k+1)·chunk_s) of stream time arrive together at (k+1)·chunk_s / ``speed`` after
the replay's start, when the newest of them has been measured. With ``speed=None`` the replay
runs as fast as the engine polls: every poll delivers the next ``chunk_s`` of stream time, and
its arrival is the time of the poll.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "EMG",
    "KINEMATICS",
    "ArrayReplay",
    "Chunk",
    "RecordedStream",
    "Source",
    "SourceError",
    "concatenated",
    "xdf_replay",
]

#: The two input streams of the NMM.
EMG = "emg"
KINEMATICS = "kinematics"


class SourceError(ValueError):
    """A source that cannot be streamed (names the file or stream and what was expected)."""


@dataclass(frozen=True)
class Chunk:
    """Consecutive samples of one stream as they arrived.

    stream: :data:`EMG` or :data:`KINEMATICS`; timestamps: (n,) s on the source's clock;
    values: (n, C) in the stream's channel order and units; arrival_s: when the chunk arrived,
    s on the engine's clock (``time.perf_counter``).
    """

    stream: str
    timestamps: np.ndarray
    values: np.ndarray
    arrival_s: float


class Source(Protocol):
    """What the engine polls. ``realtime``: chunks arrive on the wall clock (the engine paces
    its updates); False: as fast as polled. ``finished``: every sample has been delivered."""

    realtime: bool

    def poll(self) -> list[Chunk]: ...

    @property
    def finished(self) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RecordedStream:
    """One recorded stream: values (N, C) sampled at ``rate_hz`` and their timestamps (N,) s,
    increasing (a jump is a run of dropped samples, which a replay keeps)."""

    values: np.ndarray
    rate_hz: float
    timestamps: np.ndarray

    @classmethod
    def regular(cls, values: npt.ArrayLike, rate_hz: float, t0_s: float = 0.0) -> RecordedStream:
        """Samples (N, C) at ``rate_hz`` Hz stamped t0_s + i / rate_hz."""
        x = np.asarray(values, dtype=float)
        return cls.checked(x, rate_hz, t0_s + np.arange(x.shape[0]) / rate_hz, "values")

    @classmethod
    def checked(
        cls, values: npt.ArrayLike, rate_hz: float, timestamps: npt.ArrayLike, name: str
    ) -> RecordedStream:
        """A stream after the checks (SourceError naming ``name``): values 2-D and finite,
        one increasing timestamp per row, a positive rate."""
        x, t = np.asarray(values, dtype=float), np.asarray(timestamps, dtype=float)
        if x.ndim != 2 or x.shape[0] == 0:
            raise SourceError(f"{name}: samples must be (N, C) with N >= 1, got {x.shape}")
        if t.shape != (x.shape[0],) or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
            raise SourceError(f"{name}: timestamps must be finite, increasing, one per sample")
        if not np.all(np.isfinite(x)):
            raise SourceError(f"{name}: {int((~np.isfinite(x)).sum())} non-finite sample(s)")
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise SourceError(f"{name}: rate must be a positive number of Hz, got {rate_hz!r}")
        return cls(x, float(rate_hz), t)


def concatenated(streams: Sequence[RecordedStream]) -> RecordedStream:
    """Recordings of one stream played one after the other (each trial's timestamps shifted to
    follow the previous one's last sample by one sample period): a session of trials."""
    if not streams:
        raise SourceError("no recordings to replay")
    rate = streams[0].rate_hz
    if any(s.rate_hz != rate for s in streams):
        raise SourceError(f"recordings at different rates {sorted({s.rate_hz for s in streams})}")
    parts, t_next = [], 0.0
    for s in streams:
        parts.append(s.timestamps - s.timestamps[0] + t_next)
        t_next = parts[-1][-1] + 1.0 / rate
    return RecordedStream(np.concatenate([s.values for s in streams]), rate, np.concatenate(parts))


class ArrayReplay:
    """A replay of an EMG and a kinematics recording (module doc: chunks of ``chunk_s`` s,
    at ``speed`` times real time, or as fast as polled with ``speed=None``)."""

    def __init__(
        self,
        emg: RecordedStream,
        kinematics: RecordedStream,
        speed: float | None = 1.0,
        chunk_s: float = 0.02,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise SourceError(f"replay speed must be > 0 or None (as fast as possible): {speed}")
        if not (math.isfinite(chunk_s) and chunk_s > 0):
            raise SourceError(f"replay chunk_s must be a positive number of s: {chunk_s}")
        self.realtime = speed is not None
        self._streams = {EMG: emg, KINEMATICS: kinematics}
        self._speed, self._chunk_s, self._clock = speed, chunk_s, clock
        self._t0 = min(emg.timestamps[0], kinematics.timestamps[0])
        self._end = max(emg.timestamps[-1], kinematics.timestamps[-1]) - self._t0
        self._sent = {EMG: 0, KINEMATICS: 0}
        self._chunks_sent = 0
        self._start: float | None = None

    @property
    def finished(self) -> bool:
        return all(self._sent[k] == s.timestamps.size for k, s in self._streams.items())

    def poll(self) -> list[Chunk]:
        """The chunks due by now (every one stamped before the last due chunk boundary)."""
        now = self._clock()
        if self._start is None:
            self._start = now
        if self.realtime:
            due = math.floor((now - self._start) * self._speed / self._chunk_s + 1e-9)
        else:
            due = self._chunks_sent + 1
        out = []
        while self._chunks_sent < due and not self.finished:
            self._chunks_sent += 1
            boundary = self._chunks_sent * self._chunk_s
            arrival = self._start + boundary / self._speed if self.realtime else now
            out += self._chunks_before(boundary, arrival)
        return out

    def _chunks_before(self, boundary_s: float, arrival_s: float) -> list[Chunk]:
        """Each stream's unsent samples stamped before ``boundary_s`` s of replay time."""
        out = []
        for name, s in self._streams.items():
            first = self._sent[name]
            stop = int(np.searchsorted(s.timestamps - self._t0, boundary_s - 1e-12, "left"))
            if boundary_s >= self._end + self._chunk_s:
                stop = s.timestamps.size
            if stop > first:
                out.append(Chunk(name, s.timestamps[first:stop], s.values[first:stop], arrival_s))
                self._sent[name] = stop
        return out

    def close(self) -> None:
        """Nothing to release."""


def _xdf_channels(stream: dict) -> list[str]:
    """The channel labels of one pyxdf stream (``desc/channels/channel/label``)."""
    try:
        channels = stream["info"]["desc"][0]["channels"][0]["channel"]
        return [c["label"][0] for c in channels]
    except (KeyError, IndexError, TypeError):
        return []


def _xdf_stream(
    streams: list[dict], name: str, channels: Sequence[str], path: Path
) -> RecordedStream:
    """The stream called ``name`` in an .xdf file, its columns in ``channels`` order."""
    found = {s["info"]["name"][0]: s for s in streams}
    if name not in found:
        raise SourceError(f"{path}: no stream named {name!r} (streams: {sorted(found)})")
    s = found[name]
    labels = _xdf_channels(s)
    missing = [c for c in channels if c not in labels]
    if missing:
        raise SourceError(
            f"{path}: stream {name!r} lacks channel(s) {missing} (channels: {labels})"
        )
    rate = float(s["info"]["nominal_srate"][0])
    values = np.asarray(s["time_series"], dtype=float)
    columns = [labels.index(c) for c in channels]
    return RecordedStream.checked(
        values[:, columns], rate, s["time_stamps"], f"{path} stream {name!r}"
    )


def xdf_replay(
    path: str | Path,
    emg_stream: str,
    emg_channels: Sequence[str],
    kinematics_stream: str,
    kinematic_channels: Sequence[str],
    speed: float | None = 1.0,
    chunk_s: float = 0.02,
) -> ArrayReplay:
    """A replay of the EMG and kinematics streams of an ``.xdf`` file (read with ``pyxdf``,
    clock offsets applied, timestamps kept: a recording's dropped samples stay dropped), their
    channels picked by label in the estimator's order. SourceError naming the file for a
    missing file, stream or channel."""
    import pyxdf  # the .xdf replay only (HEAVY in tests/test_architecture.py)

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such .xdf file")
    try:
        streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    except Exception as exc:  # pyxdf raises many kinds on a damaged file
        raise SourceError(f"{path}: cannot read as .xdf ({exc})") from exc
    return ArrayReplay(
        _xdf_stream(streams, emg_stream, emg_channels, path),
        _xdf_stream(streams, kinematics_stream, kinematic_channels, path),
        speed,
        chunk_s,
    )
