"""One input stream put on the stream's time base: each sample's index from its timestamp,
late samples dropped, missing ones filled so that the time base continues.

A sample stamped t (s, the source's clock) is sample ``round((t - origin_s) * rate_hz)`` of the
stream, ``origin_s`` being the first timestamp of the stream's start (shared by the EMG and the
kinematics). Timestamps jitter by less than half a sample period without effect. A sample whose
index was already pushed (late, repeated) is dropped and counted. Indices skipped (dropped by
the source, or before a stream's first sample) are filled: with zeros for EMG (no activity
known; the envelope decays through the gap), or by linear interpolation between the samples on
either side for kinematics (``interpolate=True``). Each filled run is returned as a
:class:`Gap`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from painsig.bursts import true_runs

__all__ = ["Gap", "StreamAligner"]


@dataclass(frozen=True)
class Gap:
    """A stretch of one stream without samples.

    stream: its name; kind: ``"dropped"`` (samples missing from the timestamps, filled) or
    ``"stall"`` (nothing arrived for longer than the engine's ``stall_s``); start_s: stream time
    (s since the stream's start) of the first missing sample, or of the last sample before the
    stall; duration_s: s of stream time filled, or s of wall time waited; n_filled: samples
    filled (0 for a stall).
    """

    stream: str
    kind: str
    start_s: float
    duration_s: float
    n_filled: int

    def as_dict(self) -> dict[str, object]:
        return {
            "stream": self.stream,
            "kind": self.kind,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "n_filled": self.n_filled,
        }


class StreamAligner:
    """The samples of one stream, in order and without holes (module doc).

    name: the stream's name (for its gaps); rate_hz: its nominal rate; n_channels: C;
    interpolate: fill by linear interpolation (kinematics) instead of zeros (EMG).
    """

    def __init__(self, name: str, rate_hz: float, n_channels: int, interpolate: bool) -> None:
        self.name, self.rate_hz = name, float(rate_hz)
        self._interpolate = interpolate
        self._next = 0
        self._last = np.zeros(n_channels)
        self.n_late = 0

    @property
    def time_s(self) -> float:
        """Stream time (s) of the next sample expected."""
        return self._next / self.rate_hz

    def align(
        self, timestamps: np.ndarray, values: np.ndarray, origin_s: float
    ) -> tuple[np.ndarray, list[Gap]]:
        """The new samples (n, C), gaps filled, and the filled gaps; ``timestamps`` (n,) s and
        ``values`` (n, C) as they arrived."""
        index = np.rint((np.asarray(timestamps) - origin_s) * self.rate_hz).astype(np.int64)
        fresh = index >= self._next
        self.n_late += int((~fresh).sum())
        index, values = index[fresh], np.asarray(values, dtype=float)[fresh]
        if index.size == 0:
            return np.empty((0, self._last.size)), []
        index, last = np.unique(index[::-1], return_index=True)  # a repeated index: keep the newest
        values = values[::-1][last]
        offset = index - self._next
        out = np.zeros((int(offset[-1]) + 1, self._last.size))
        missing = np.ones(out.shape[0], dtype=bool)
        out[offset], missing[offset] = values, False
        if self._interpolate and missing.any():
            known = np.concatenate([[-1], offset])
            points = np.vstack([self._last, values])
            for c in range(out.shape[1]):
                out[missing, c] = np.interp(np.flatnonzero(missing), known, points[:, c])
        gaps = [
            Gap(
                self.name, "dropped", (self._next + a) / self.rate_hz, (b - a) / self.rate_hz, b - a
            )
            for a, b in true_runs(missing)
        ]
        self._next += out.shape[0]
        self._last = out[-1].copy()
        return out, gaps
