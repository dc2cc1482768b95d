"""The streaming loop: one update every ``update_s`` (20 ms).

Each update polls the source (never waits on it), puts what arrived on the stream's time base
(:class:`nmm.stream.gaps.StreamAligner`: late samples dropped, dropped ones filled), pushes it
into the :class:`~nmm.stream.estimator.StreamEstimator`, takes every model-rate sample now
complete (envelopes of all muscles, the muscle torque), adds the running co-contraction and
the contractions completed with their pain probability (:mod:`nmm.stream.online`), and hands
the :class:`Frame` to every output (the live page, LSL outlets, a :class:`Recording`).

Latency of an update: from the arrival of the newest sample it used (the chunk's
``arrival_s``) to the moment its frame is ready (estimates, co-contraction and pain probability
computed), just before the outputs are handed it; on ``time.perf_counter``. Only updates that
produced estimates have one.

A stream that delivers nothing for ``stall_s`` of wall time while the source is live is
stalled: every frame says so (the outputs keep receiving frames) and the stall is recorded as a
:class:`~nmm.stream.gaps.Gap` when data resumes. Samples dropped by the source (a timestamp
jump) are filled, and the estimates on filled samples are marked ``in_gap``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from nmm.stream.gaps import Gap, StreamAligner
from nmm.stream.online import Contraction, OnlineContractions, RunningCoContraction
from nmm.stream.sources import EMG, KINEMATICS, Chunk, Source

if TYPE_CHECKING:  # annotations only: the engine runs any estimator of this interface
    from nmm.stream.estimator import StreamEstimator

__all__ = ["Engine", "EngineReport", "Frame", "Output", "Recording", "warm_up"]


@dataclass(frozen=True)
class Frame:
    """One update's output.

    t_s: (k,) s of stream time; envelopes: (k, M) in [0, 1], columns ``muscles``; torque_nm:
    (k,) N·m; in_gap: (k,) True on estimates of filled samples; cocontraction_pct: Falconer &
    Winter's CI (%) and rudolph: Rudolph's CCI, over the last window (NaN when undefined);
    contractions: those completed in this update; stalled: the streams stalled now; latency_s:
    this update's latency (None when it produced no estimate).
    """

    t_s: np.ndarray
    envelopes: np.ndarray
    torque_nm: np.ndarray
    in_gap: np.ndarray
    cocontraction_pct: float
    rudolph: float
    contractions: tuple[Contraction, ...]
    stalled: tuple[str, ...]
    latency_s: float | None


class Output(Protocol):
    """Where frames go (the live page, LSL outlets, a recording); ``send`` must not block."""

    def send(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class Recording:
    """An output that keeps every frame's estimates (for the run folder and the benchmark)."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def send(self, frame: Frame) -> None:
        if frame.t_s.size:
            self.frames.append(frame)

    def arrays(self) -> dict[str, np.ndarray]:
        """t_s (N,), envelopes (N, M), torque_nm (N,), in_gap (N,) of every frame."""
        keys = ("t_s", "envelopes", "torque_nm", "in_gap")
        if not self.frames:
            return {"t_s": np.empty(0)}
        return {k: np.concatenate([getattr(f, k) for f in self.frames]) for k in keys}

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class EngineReport:
    """What a run did: latencies_s (one per update with estimates), gaps, contractions,
    n_updates, stream_s (s of stream time estimated), wall_s, n_late (samples dropped as
    late or repeated, per stream)."""

    latencies_s: list[float] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    contractions: list[Contraction] = field(default_factory=list)
    n_updates: int = 0
    stream_s: float = 0.0
    wall_s: float = 0.0
    n_late: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: latency p50/p99/max (ms), the counts, the gaps and the contractions."""
        lat = np.asarray(self.latencies_s) * 1e3
        stats = {
            "p50": float(np.percentile(lat, 50)) if lat.size else None,
            "p99": float(np.percentile(lat, 99)) if lat.size else None,
            "max": float(lat.max()) if lat.size else None,
        }
        return {
            "latency_ms": stats,
            "n_updates": self.n_updates,
            "n_updates_with_estimates": int(lat.size),
            "stream_s": self.stream_s,
            "wall_s": self.wall_s,
            "late_samples": self.n_late,
            "gaps": [g.as_dict() for g in self.gaps],
            "contractions": [
                {"onset_s": c.onset_s, "offset_s": c.offset_s, "pain_probability": c.probability}
                for c in self.contractions
            ],
        }


class Engine:
    """The loop of the module doc: ``estimator`` fed by ``source``, frames to ``outputs``.

    cocontraction, contractions: the online indices (None: left out, NaN / none); update_s:
    s between updates; stall_s: s of wall time without data after which a stream is stalled;
    clock, sleep: the wall clock and the wait (``time.perf_counter``, ``time.sleep``).
    """

    def __init__(
        self,
        estimator: StreamEstimator,
        source: Source,
        outputs: Sequence[Output] = (),
        cocontraction: RunningCoContraction | None = None,
        contractions: OnlineContractions | None = None,
        update_s: float = 0.02,
        stall_s: float = 0.1,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.estimator, self.source, self.outputs = estimator, source, list(outputs)
        self._cocontraction, self._contractions = cocontraction, contractions
        self.update_s, self.stall_s = update_s, stall_s
        self._clock, self._sleep = clock, sleep
        self._aligners = {
            EMG: StreamAligner(
                EMG, estimator.emg_rate_hz, len(estimator.emg_channels), interpolate=False
            ),
            KINEMATICS: StreamAligner(
                KINEMATICS,
                estimator.kinematic_rate_hz,
                len(estimator.kinematic_channels),
                interpolate=True,
            ),
        }
        self._push = {EMG: estimator.push_emg, KINEMATICS: estimator.push_kinematics}
        self._origin: float | None = None
        self._last_arrival: dict[str, float] = {}
        self._stalls: dict[str, tuple[float, float]] = {}  # stream -> (stream time, wall start)
        self._filled: list[tuple[float, float]] = []  # [start, stop] s of filled stream time
        self.report = EngineReport()

    def step(self) -> Frame:
        """One update (module doc); returns the frame it sent."""
        now = self._clock()
        chunks = self.source.poll()
        if self._origin is None and chunks:  # the stream's start: its earliest first sample
            self._origin = min(float(c.timestamps[0]) for c in chunks)
        for chunk in chunks:
            self._feed(chunk)
        stalled = self._stalled(now, chunks)
        update = self.estimator.update()
        cci, cc_r = (math.nan, math.nan)
        if self._cocontraction is not None:
            cci, cc_r = self._cocontraction.push(update.envelopes)
        done = self._contractions.push(update.t_s, update.envelopes) if self._contractions else []
        latency = None
        if update.t_s.size:
            self.report.stream_s = float(update.t_s[-1])
            if chunks:
                latency = self._clock() - max(c.arrival_s for c in chunks)
                self.report.latencies_s.append(latency)
        frame = Frame(
            update.t_s,
            update.envelopes,
            update.torque_nm,
            self._in_gap(update.t_s),
            cci,
            cc_r,
            tuple(done),
            stalled,
            latency,
        )
        for out in self.outputs:
            out.send(frame)
        self.report.n_updates += 1
        self.report.contractions += done
        return frame

    def run(self, max_stream_s: float | None = None) -> EngineReport:
        """Updates until the source has delivered everything and it is all estimated, or the
        stream reaches ``max_stream_s`` s; paced every ``update_s`` of wall time for a
        real-time source."""
        start = next_tick = self._clock()
        while True:
            frame = self.step()
            if self.source.finished and frame.t_s.size == 0:
                break
            if max_stream_s is not None and self.report.stream_s >= max_stream_s:
                break
            if self.source.realtime:
                next_tick = max(next_tick + self.update_s, self._clock() - self.update_s)
                self._sleep(max(0.0, next_tick - self._clock()))
        self._end_stalls(self._clock())
        self.report.wall_s = self._clock() - start
        self.report.n_late = {k: a.n_late for k, a in self._aligners.items()}
        return self.report

    def _feed(self, chunk: Chunk) -> None:
        """Aligns one chunk, pushes it and records the gaps it filled."""
        values, gaps = self._aligners[chunk.stream].align(
            chunk.timestamps, chunk.values, self._origin
        )
        if values.shape[0]:
            self._push[chunk.stream](values)
        self.report.gaps += gaps
        self._filled += [(g.start_s, g.start_s + g.duration_s) for g in gaps]

    def _stalled(self, now: float, chunks: list[Chunk]) -> tuple[str, ...]:
        """The streams stalled now; a stall that ended is recorded as a gap."""
        for c in chunks:
            self._last_arrival[c.stream] = now
        arrived = {c.stream for c in chunks}
        self._end_stalls(now, arrived)
        if not self.source.realtime or self.source.finished:
            return ()
        for name, t in self._last_arrival.items():
            if name not in self._stalls and now - t > self.stall_s:
                self._stalls[name] = (self._aligners[name].time_s, t)
        return tuple(sorted(self._stalls))

    def _end_stalls(self, now: float, streams: set[str] | None = None) -> None:
        for name in list(self._stalls):
            if streams is None or name in streams:
                at, since = self._stalls.pop(name)
                self.report.gaps.append(Gap(name, "stall", at, now - since, 0))

    def _in_gap(self, t_s: np.ndarray) -> np.ndarray:
        """(k,) True where t_s lies in a filled stretch (one model sample of margin)."""
        mask = np.zeros(t_s.shape, dtype=bool)
        if t_s.size:
            margin = 1.0 / self.estimator.out_rate_hz
            self._filled = [(a, b) for a, b in self._filled if b + margin >= t_s[0]]
            for a, b in self._filled:
                mask |= (t_s >= a - margin) & (t_s <= b + margin)
        return mask


def warm_up(estimator: StreamEstimator, seconds: float = 0.1) -> None:
    """Runs a throwaway ``estimator`` (spent afterwards) on ``seconds`` of zeros, so that a
    stream's first update does not pay the libraries' one-time initialisation in this process
    (torch's first forward: 0.3-0.9 s measured on the tiny model, against a few ms after)."""
    estimator.push_emg(
        np.zeros((round(seconds * estimator.emg_rate_hz), len(estimator.emg_channels)))
    )
    estimator.push_kinematics(
        np.zeros((round(seconds * estimator.kinematic_rate_hz), len(estimator.kinematic_channels)))
    )
    estimator.update()
