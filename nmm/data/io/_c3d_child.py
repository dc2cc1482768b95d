"""The child process of `nmm.data.io.c3d`: parse one C3D file with ezc3d and write what the
reader needs to stdout as an uncompressed .npz (plain arrays, read back without pickle).

Run as ``python -P _c3d_child.py FILE`` (-P: this folder, which holds a `csv.py`, stays off
sys.path). ezc3d can crash (SIGSEGV) or loop on a damaged file; in this process that ends the
child, and the caller reports a ReaderError. It imports nothing from the project, to start fast.
"""

import io
import sys

import ezc3d
import numpy as np


def main(path: str) -> None:
    """Arrays: analogs (1, C, T_a) and points (4, P, T_p) as ezc3d gives them; first_frame,
    frame_rate (Hz) of the header; the RATE, LABELS and UNITS of ANALOG and POINT (empty if
    absent)."""
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
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    main(sys.argv[1])
