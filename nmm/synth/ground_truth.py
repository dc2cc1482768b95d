"""The ground-truth folder of a synthetic cohort: what models must never read, kept apart.

Layout (written by :func:`write_trial_truth` and :func:`write_cohort_truth`)::

    ground_truth/
      README.md                      this layout, in words
      cohort.json                    seed, muscles, hidden muscles, every subject's true
                                     parameters, and per trial: condition, load, phases, the
                                     recruitment used (weights, co-contraction, floors), solver
                                     status and the OpenSim checks
      S01/
        model.osim                   the subject's arm model as simulated (no load; shoulder
                                     weld, tilt, DeGrooteFregly2016 muscles with its parameters)
        parameters.yaml              the subject's true parameters (as in cohort.json)
        <session>_<trial>_excitation.sto     all muscles, excitation (0-1)
        <session>_<trial>_activation.sto     all muscles, activation (0-1)
        <session>_<trial>_tendon_force.sto   all muscles, tendon force (N)
        <session>_<trial>_fiber_length.sto   all muscles, fibre length / optimal fibre length
        <session>_<trial>_muscle_moment.sto  elbow moment of the muscles, Σ r·F (N·m)

Every ``.sto`` is an OpenSim storage file (``TimeSeriesTable`` reads it) on a subsample of the
trial's kinematics time base (``output.truth_rate_hz``, 50 Hz by default: the MocoInverse grid
is 0.04 s), values rounded to ``output.truth_significant_digits`` significant digits. Trials are
joined to the dataset by (subject, session, trial id); interpolate linearly to the 100 Hz
kinematics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nmm.atomic import atomic_write_text
from nmm.data.io.sto import read_sto, write_sto
from nmm.data.schema import Signal

__all__ = [
    "QUANTITIES",
    "README",
    "read_cohort_truth",
    "read_trial_truth",
    "round_significant",
    "write_cohort_truth",
    "write_trial_truth",
]

#: Per-muscle quantities stored per trial, with their units.
QUANTITIES: Mapping[str, str] = {
    "excitation": "1",
    "activation": "1",
    "tendon_force": "N",
    "fiber_length": "1",
}
MOMENT_FILE = "muscle_moment"

README = __doc__.split("Layout", 1)[1].split("\n", 1)[1] if __doc__ else ""


def round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    """Values rounded to ``digits`` significant digits (0 stays 0)."""
    values = np.asarray(values, dtype=float)
    mag = np.where(values == 0, 0, np.floor(np.log10(np.abs(np.where(values == 0, 1, values)))))
    scale = 10.0 ** (digits - 1 - mag)
    return np.round(values * scale) / scale


def _stem(session: str, trial_id: str) -> str:
    return f"{session}_{trial_id}"


def write_trial_truth(
    folder: str | os.PathLike[str],
    subject: str,
    session: str,
    trial_id: str,
    time: np.ndarray,
    muscles: Sequence[str],
    arrays: Mapping[str, np.ndarray],
    muscle_moment: np.ndarray,
    coordinate: str,
    digits: int,
) -> list[Path]:
    """Write one trial's truth files; arrays: per name in QUANTITIES, (N, M). Returns the paths."""
    base = Path(folder) / subject
    paths = []
    for name in QUANTITIES:
        path = base / f"{_stem(session, trial_id)}_{name}.sto"
        write_sto(
            path,
            time,
            round_significant(arrays[name], digits),
            list(muscles),
            name=f"{trial_id} {name}",
        )
        paths.append(path)
    path = base / f"{_stem(session, trial_id)}_{MOMENT_FILE}.sto"
    write_sto(
        path,
        time,
        round_significant(np.asarray(muscle_moment)[:, None], digits),
        [f"{coordinate}_moment"],
        name=f"{trial_id} muscle moment",
    )
    paths.append(path)
    return paths


def read_trial_truth(
    folder: str | os.PathLike[str], subject: str, trial_id: str, session: str = "1"
) -> dict[str, Signal]:
    """The truth of one trial: ``{quantity: Signal}`` for QUANTITIES and ``muscle_moment``.

    Per-muscle signals have the muscles as channels; units '1' or 'N'; muscle_moment in N·m.
    """
    base = Path(folder) / subject
    out = {}
    for name, unit in (*QUANTITIES.items(), (MOMENT_FILE, "N·m")):
        path = base / f"{_stem(session, trial_id)}_{name}.sto"
        table = read_sto(path)
        rate = 1.0 / float(np.median(np.diff(table.time)))
        out[name] = Signal(
            table.time,
            table.data,
            table.columns,
            (unit,) * len(table.columns),
            rate,
            "analog",
            str(path),
        )
    return out


def write_cohort_truth(folder: str | os.PathLike[str], summary: Mapping[str, Any]) -> Path:
    """``cohort.json`` (sorted keys, deterministic), per-subject ``parameters.yaml``, README."""
    folder = Path(folder)
    for subj in summary.get("subjects", []):
        atomic_write_text(
            folder / subj["subject_id"] / "parameters.yaml",
            yaml.safe_dump(subj, sort_keys=True, allow_unicode=True),
        )
    atomic_write_text(folder / "README.md", "# Ground truth of the synthetic cohort\n\n" + README)
    return atomic_write_text(
        folder / "cohort.json", json.dumps(summary, indent=1, sort_keys=True) + "\n"
    )


def read_cohort_truth(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``cohort.json`` of a ground-truth folder."""
    return json.loads((Path(folder) / "cohort.json").read_text(encoding="utf-8"))
