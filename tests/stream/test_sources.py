"""The stream's sources: a replay of arrays (chunking, pacing on the wall clock, as fast as
polled, a session of trials) and of an .xdf file written here byte by byte after the XDF
specification (https://github.com/sccn/xdf/wiki/Specifications), read back through pyxdf."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from nmm.stream.sources import (
    EMG,
    KINEMATICS,
    ArrayReplay,
    RecordedStream,
    SourceError,
    concatenated,
    xdf_replay,
)


class FakeClock:
    """A wall clock the test moves by hand (s)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _streams(seconds: float = 1.0) -> tuple[RecordedStream, RecordedStream]:
    rng = np.random.default_rng(0)
    emg = RecordedStream.regular(rng.normal(size=(round(seconds * 1000), 2)), 1000.0)
    kin = RecordedStream.regular(rng.normal(size=(round(seconds * 100), 3)), 100.0)
    return emg, kin


def _joined(chunks, stream):
    mine = [c for c in chunks if c.stream == stream]
    return np.concatenate([c.values for c in mine]), np.concatenate([c.timestamps for c in mine])


def test_fast_replay_delivers_every_sample_once_a_chunk_per_poll() -> None:
    emg, kin = _streams(1.0)
    replay = ArrayReplay(emg, kin, speed=None, chunk_s=0.02)
    polls = []
    while not replay.finished:
        polls.append(replay.poll())
    assert len(polls) == 50  # 1 s in chunks of 20 ms
    assert all(len(p) == 2 for p in polls)  # one chunk of each stream per poll
    first = {c.stream: c for c in polls[0]}
    assert first[EMG].values.shape == (20, 2) and first[KINEMATICS].values.shape == (2, 3)
    chunks = [c for p in polls for c in p]
    for stream, rec in ((EMG, emg), (KINEMATICS, kin)):
        values, stamps = _joined(chunks, stream)
        np.testing.assert_array_equal(values, rec.values)
        np.testing.assert_array_equal(stamps, rec.timestamps)
    assert replay.poll() == []


def test_real_time_replay_releases_chunks_when_their_samples_were_measured() -> None:
    emg, kin = _streams(1.0)
    clock = FakeClock()
    replay = ArrayReplay(emg, kin, speed=2.0, chunk_s=0.02, clock=clock)
    assert replay.realtime and replay.poll() == []  # starts the clock; nothing measured yet
    clock.now += 0.0099  # 19.8 ms of stream time at double speed: the first chunk is not due
    assert replay.poll() == []
    clock.now += 0.0001
    (c_emg, c_kin) = replay.poll()
    assert c_emg.values.shape[0] == 20 and c_kin.values.shape[0] == 2
    assert c_emg.arrival_s == pytest.approx(100.01)  # due at 20 ms / speed 2 after the start
    clock.now += 0.05  # 0.1 s of stream: 5 more chunks due at once, each with its own arrival
    late = replay.poll()
    assert len(late) == 10
    assert [c.arrival_s for c in late[::2]] == pytest.approx(100.01 + 0.01 * np.arange(1, 6))


def test_a_session_of_trials_plays_one_after_the_other() -> None:
    a = RecordedStream.regular(np.ones((3, 1)), 10.0, t0_s=5.0)
    b = RecordedStream.regular(2 * np.ones((2, 1)), 10.0, t0_s=0.0)
    both = concatenated([a, b])
    np.testing.assert_allclose(both.timestamps, [0.0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(both.values[:, 0], [1, 1, 1, 2, 2])
    with pytest.raises(SourceError, match="different rates"):
        concatenated([a, RecordedStream.regular(np.ones((2, 1)), 20.0)])


def test_bad_recordings_and_settings_are_refused_with_their_name() -> None:
    with pytest.raises(SourceError, match="emg: timestamps"):
        RecordedStream.checked(np.ones((3, 1)), 10.0, [0.0, 0.2, 0.1], "emg")
    with pytest.raises(SourceError, match="non-finite"):
        RecordedStream.checked(np.array([[1.0], [np.nan]]), 10.0, [0.0, 0.1], "emg")
    emg, kin = _streams(0.1)
    with pytest.raises(SourceError, match="speed"):
        ArrayReplay(emg, kin, speed=0.0)


# ---------------------------------------------------------------- .xdf (XDF 1.0, written here)


def _chunk(tag: int, content: bytes) -> bytes:
    """One XDF chunk: length bytes count (4), length (tag + content), tag, content."""
    return struct.pack("<BIH", 4, len(content) + 2, tag) + content


def _stream_header(sid: int, name: str, labels: list[str], rate: float) -> bytes:
    channels = "".join(f"<channel><label>{c}</label></channel>" for c in labels)
    xml = (
        f'<?xml version="1.0"?><info><name>{name}</name><type>{name}</type>'
        f"<channel_count>{len(labels)}</channel_count><nominal_srate>{rate}</nominal_srate>"
        f"<channel_format>double64</channel_format><desc><channels>{channels}</channels></desc>"
        "</info>"
    )
    return _chunk(2, struct.pack("<I", sid) + xml.encode())


def _samples(sid: int, stamps: np.ndarray, values: np.ndarray) -> bytes:
    body = struct.pack("<IBI", sid, 4, len(stamps))
    for t, row in zip(stamps, values, strict=True):
        body += struct.pack("<Bd", 8, t) + struct.pack(f"<{row.size}d", *row)
    return _chunk(3, body)


def write_xdf(path: Path, streams: dict[str, tuple[list[str], float, np.ndarray, np.ndarray]]):
    """An .xdf file holding ``{name: (labels, rate, timestamps (N,), values (N, C))}``."""
    data = b"XDF:" + _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, (name, (labels, rate, stamps, values)) in enumerate(streams.items(), start=1):
        data += _stream_header(sid, name, labels, rate)
        data += _chunk(4, struct.pack("<Idd", sid, stamps[0], 0.0))  # clock offset 0
        for part in np.array_split(np.arange(len(stamps)), 3):
            data += _samples(sid, stamps[part], values[part])
    path.write_bytes(data)
    return path


def test_xdf_replay_reads_the_streams_by_name_and_label_and_keeps_dropped_samples(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(1)
    emg_t = 1000.0 + np.arange(200) / 1000.0
    emg_t = np.delete(emg_t, np.arange(50, 60))  # 10 samples dropped in the recording
    emg = rng.normal(size=(emg_t.size, 3))
    kin_t = 1000.0 + np.arange(20) / 100.0
    kin = rng.normal(size=(20, 2))
    path = write_xdf(
        tmp_path / "session.xdf",
        {
            "Amp": (["TRIlong", "BIClong", "EXTRA"], 1000.0, emg_t, emg),
            "Mocap": (["elbow_flexion", "elbow_flexion_speed"], 100.0, kin_t, kin),
        },
    )
    replay = xdf_replay(
        path, "Amp", ["BIClong", "TRIlong"], "Mocap", ["elbow_flexion_speed"], speed=None
    )
    chunks = []
    while not replay.finished:
        chunks += replay.poll()
    values, stamps = _joined(chunks, EMG)
    np.testing.assert_array_equal(values, emg[:, [1, 0]])  # the estimator's channel order
    np.testing.assert_allclose(stamps, emg_t)  # the jump stays: the engine fills it
    np.testing.assert_array_equal(_joined(chunks, KINEMATICS)[0], kin[:, [1]])

    with pytest.raises(SourceError, match=r"session.xdf: no stream named 'EMG'"):
        xdf_replay(path, "EMG", ["BIClong"], "Mocap", ["elbow_flexion"])
    with pytest.raises(SourceError, match=r"lacks channel\(s\) \['BRA'\]"):
        xdf_replay(path, "Amp", ["BRA"], "Mocap", ["elbow_flexion"])
    (tmp_path / "bad.xdf").write_bytes(b"not an xdf file")
    with pytest.raises(SourceError, match=r"bad\.xdf: cannot read"):
        xdf_replay(tmp_path / "bad.xdf", "Amp", ["BIClong"], "Mocap", ["elbow_flexion"])
