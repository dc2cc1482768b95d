"""Lab Streaming Layer: a live amplifier and motion capture as a source, and the estimates as
outlets. A thin adapter around ``pylsl`` (the ``lsl`` extra), imported only when used.

This is the one part of the stream tested by hand, never by the test suite: LSL finds streams
by multicast, which the test machines must not send. The replay sources
(:mod:`nmm.stream.sources`) carry the tests; this module only moves samples between pylsl and
the engine's :class:`~nmm.stream.sources.Chunk` / :class:`~nmm.stream.engine.Frame`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from nmm.stream.engine import Frame
from nmm.stream.sources import EMG, KINEMATICS, Chunk, SourceError

__all__ = ["LslOutlets", "LslSource"]


def _labels(info: Any) -> list[str]:
    """The channel labels of an LSL stream (``desc/channels/channel/label``)."""
    out, channel = [], info.desc().child("channels").child("channel")
    while not channel.empty():
        out.append(channel.child_value("label"))
        channel = channel.next_sibling()
    return out


def _inlet(name: str, channels: Sequence[str], timeout_s: float) -> tuple[Any, list[int]]:
    """An inlet on the LSL stream called ``name`` and the columns of ``channels`` in it."""
    import pylsl  # live amplifiers only (HEAVY: the lsl extra)

    found = pylsl.resolve_byprop("name", name, 1, timeout_s)
    if not found:
        raise SourceError(f"no LSL stream named {name!r} found within {timeout_s:g} s")
    inlet = pylsl.StreamInlet(
        found[0], max_buflen=10, processing_flags=pylsl.proc_clocksync | pylsl.proc_dejitter
    )
    labels = _labels(inlet.info())
    missing = [c for c in channels if c not in labels]
    if missing:
        raise SourceError(f"LSL stream {name!r} lacks channel(s) {missing} (channels: {labels})")
    return inlet, [labels.index(c) for c in channels]


class LslSource:
    """The EMG and kinematics LSL streams called ``emg_stream`` and ``kinematics_stream``, their
    channels picked by label in the estimator's order; timestamps are LSL's (clock-synchronised,
    de-jittered), arrival the time of the pull."""

    realtime = True

    def __init__(
        self,
        emg_stream: str,
        emg_channels: Sequence[str],
        kinematics_stream: str,
        kinematic_channels: Sequence[str],
        resolve_timeout_s: float = 5.0,
    ) -> None:
        self._inlets = {
            EMG: _inlet(emg_stream, emg_channels, resolve_timeout_s),
            KINEMATICS: _inlet(kinematics_stream, kinematic_channels, resolve_timeout_s),
        }

    @property
    def finished(self) -> bool:
        return False  # a live stream ends when the user stops the app

    def poll(self) -> list[Chunk]:
        """What each inlet holds now (``pull_chunk`` with a zero timeout: never waits)."""
        out = []
        for name, (inlet, columns) in self._inlets.items():
            samples, stamps = inlet.pull_chunk(timeout=0.0)
            if len(stamps):  # lists, or arrays with as_numpy
                values = np.asarray(samples, dtype=float)[:, columns]
                out.append(Chunk(name, np.asarray(stamps), values, time.perf_counter()))
        return out

    def close(self) -> None:
        for inlet, _ in self._inlets.values():
            inlet.close_stream()


class LslOutlets:
    """The estimates as LSL outlets named ``<prefix>_envelopes`` (one channel per muscle, at the
    model rate), ``<prefix>_torque`` (N·m), ``<prefix>_cocontraction`` (Falconer & Winter %,
    Rudolph; one sample per update) and ``<prefix>_pain`` (the probability of each completed
    contraction, sent when it completes); an engine output."""

    def __init__(self, muscles: Sequence[str], rate_hz: float, prefix: str = "nmm") -> None:
        import pylsl  # live outputs only (HEAVY: the lsl extra)

        def outlet(name: str, labels: Sequence[str], rate: float, unit: str) -> Any:
            info = pylsl.StreamInfo(f"{prefix}_{name}", name, len(labels), rate, pylsl.cf_float32)
            channels = info.desc().append_child("channels")
            for label in labels:
                ch = channels.append_child("channel")
                ch.append_child_value("label", label)
                ch.append_child_value("unit", unit)
            return pylsl.StreamOutlet(info)

        self._clock = pylsl.local_clock
        self._envelopes = outlet("envelopes", muscles, rate_hz, "fraction of MVIC")
        self._torque = outlet("torque", ["muscle_torque"], rate_hz, "N.m")
        self._cci = outlet("cocontraction", ["falconer_winter", "rudolph"], 0.0, "%, 1")
        self._pain = outlet("pain", ["pain_probability"], 0.0, "1")

    def send(self, frame: Frame) -> None:
        if frame.t_s.size == 0:
            return
        now = self._clock()
        self._envelopes.push_chunk(frame.envelopes.tolist(), now)
        self._torque.push_chunk(frame.torque_nm[:, None].tolist(), now)
        self._cci.push_sample([frame.cocontraction_pct, frame.rudolph], now)
        for c in frame.contractions:
            self._pain.push_sample([c.probability], now)

    def close(self) -> None:
        """Outlets close when released."""
        self._envelopes = self._torque = self._cci = self._pain = None
