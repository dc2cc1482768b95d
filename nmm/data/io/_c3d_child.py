"""The child process of `nmm.data.io.c3d`: parses C3D files with ezc3d, one request at a time,
and answers with the arrays the reader needs as an uncompressed .npz (plain arrays, read back
without pickle).

Run as ``python -P _c3d_child.py`` (-P: this folder, which holds a `csv.py`, stays off sys.path).
Protocol on stdin/stdout: a request is a 4-byte little-endian length and a UTF-8 path; an answer
is a status byte (0 ok, 1 ezc3d refused the file), an 8-byte length and the .npz or the message.
ezc3d can crash (SIGSEGV) or loop on a damaged file: that ends or stalls this process only, and
the caller reports a ReaderError. It imports nothing from the project, to start fast.
"""

import io
import os
import struct
import sys

import ezc3d
import numpy as np


def parse(path: str) -> bytes:
    """An .npz of: analogs (1, C, T_a) and points (4, P, T_p) as ezc3d gives them;
    first_frame and frame_rate (Hz) of the header; ANALOG_ and POINT_ RATE, LABELS and UNITS
    (empty if absent)."""
    c3d = ezc3d.c3d(path)
    params = c3d["parameters"]

    def value(group: str, name: str) -> np.ndarray:
        try:
            return np.asarray(params[group][name]["value"])
        except KeyError:
            return np.array([])

    arrays = {
        "analogs": np.asarray(c3d["data"]["analogs"], dtype=float),
        "points": np.asarray(c3d["data"]["points"], dtype=float),
        "first_frame": np.asarray(c3d["header"]["points"]["first_frame"], dtype=float),
        "frame_rate": np.asarray(c3d["header"]["points"]["frame_rate"], dtype=float),
    }
    for group in ("ANALOG", "POINT"):
        for name in ("RATE", "LABELS", "UNITS"):
            arrays[f"{group}_{name}"] = value(group, name)
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def serve() -> None:
    """Answer requests until stdin closes. The protocol keeps its own copy of stdout, and fd 1
    goes to stderr, so whatever ezc3d prints cannot corrupt an answer."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    requests = sys.stdin.buffer
    while len(head := requests.read(4)) == 4:
        path = requests.read(struct.unpack("<I", head)[0]).decode("utf-8")
        try:
            status, payload = 0, parse(path)
        except Exception as exc:  # ezc3d raises bare RuntimeError/IOError on damaged files
            status, payload = 1, f"{type(exc).__name__}: {exc}".encode()
        answers.write(struct.pack("<BQ", status, len(payload)) + payload)
        answers.flush()


if __name__ == "__main__":
    serve()
