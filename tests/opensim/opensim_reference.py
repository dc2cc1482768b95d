"""Muscle quantities read from OpenSim directly, the references of the torch elbow's tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def opensim_muscle_table(
    path: Path,
    angles: Sequence[float],
    muscles: Sequence[str],
    quantity: Callable[[Any, Any, Any], float],
    shoulder_rad: float = 0.0,
) -> np.ndarray:
    """``(len(angles), len(muscles))`` values of ``quantity(muscle, state, elbow_coordinate)``
    by OpenSim for the model at ``path``, its elbow at each of ``angles`` (rad) and its shoulder
    (``r_shoulder_elev``) at ``shoulder_rad`` (rad)."""
    import opensim as osim

    model = osim.Model(str(path))
    state = model.initSystem()
    coords = model.getCoordinateSet()
    coords.get("r_shoulder_elev").setValue(state, shoulder_rad)
    elbow = coords.get("r_elbow_flex")
    out = np.empty((len(angles), len(muscles)))
    for k, q in enumerate(angles):
        elbow.setValue(state, q)
        model.realizePosition(state)
        for j, name in enumerate(muscles):
            out[k, j] = quantity(model.getMuscles().get(name), state, elbow)
    return out
