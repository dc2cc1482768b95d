"""Joint moments of a recorded motion by OpenSim's ``InverseDynamicsSolver``, for a study trial
that comes without its ID file.

The equations of motion of the subject's model, ``M(q) q̈ + C(q, q̇) + G(q) = τ`` (OpenSim /
Simbody; Delp et al. 2007, IEEE TBME 54:1940), are solved for the generalised forces ``τ`` given
q, q̇, q̈ of every coordinate the IK file holds; the elbow's entry is returned. As OpenSim's
InverseDynamicsTool does, the coordinates are low-pass filtered first (zero-lag Butterworth,
10 Hz by default: differentiating unfiltered angles amplifies their noise; ``shared/STACK.md``
saw 2.3 N·m RMS error from the tool's own spline differentiation of a clean simulated motion),
then differentiated with second-order central differences (as
:class:`nmm.data.preprocess.Differentiate`). Every force of the model (muscles, ligaments,
limit forces) is switched off, so ``τ`` is the net moment the muscles must produce. The load
held in the hand is a point mass welded to the hand's body (:class:`HandLoad`); gravity is the
model's. Coordinates the IK file lacks stay at the model's default values, at rest.

OpenSim is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmm.data.preprocess import LowPass
from nmm.data.schema import Signal
from nmm.opensim.arm_model import import_opensim
from nmm.opensim.geometry_sampling import OsimModelError

LOAD_BODY = "nmm_study_hand_load"


@dataclass(frozen=True)
class HandLoad:
    """A load held in the hand: mass_kg (kg, 0: none), a point mass welded to ``body`` at
    ``location_m`` (m, in that body's frame)."""

    mass_kg: float = 0.0
    body: str = "r_ulna_radius_hand"
    location_m: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class KinematicsFilter:
    """The low-pass applied to the coordinates before differentiation: cutoff_hz (Hz), order
    (per pass; zero lag doubles it)."""

    cutoff_hz: float = 10.0
    order: int = 4


def model_coordinates(osim_path: str | os.PathLike[str]) -> list[str]:
    """The names of the coordinates of the model ``osim_path``; OsimModelError if OpenSim
    cannot load it."""
    model = _load(import_opensim(), Path(osim_path))
    coordinates = model.getCoordinateSet()
    return [coordinates.get(i).getName() for i in range(coordinates.getSize())]


def _load(osim: Any, path: Path) -> Any:
    if not path.is_file():
        raise OsimModelError("no such model file", path=path)
    try:
        model = osim.Model(str(path))
        model.finalizeFromProperties()
    except Exception as exc:  # OpenSim raises its own RuntimeError subclasses
        raise OsimModelError(f"OpenSim cannot load this model ({exc})", path=path) from exc
    return model


def _model_with_load(osim: Any, path: Path, load: HandLoad) -> Any:
    """The model, forces off, the load welded to its body; not yet initialised."""
    model = _load(osim, path)
    forces = model.getForceSet()
    for i in range(forces.getSize()):
        forces.get(i).set_appliesForce(False)
    if load.mass_kg > 0:
        bodies = model.getBodySet()
        if not bodies.contains(load.body):
            names = [bodies.get(i).getName() for i in range(bodies.getSize())]
            raise OsimModelError(
                f"no body '{load.body}' to hold the load; the model has {', '.join(names)}",
                path=path,
            )
        mass = osim.Body(LOAD_BODY, float(load.mass_kg), osim.Vec3(0.0), osim.Inertia(0.0))
        weld = osim.WeldJoint(
            f"{LOAD_BODY}_weld",
            bodies.get(load.body),
            osim.Vec3(*(float(v) for v in load.location_m)),
            osim.Vec3(0.0),
            mass,
            osim.Vec3(0.0),
            osim.Vec3(0.0),
        )
        model.addBody(mass)
        model.addJoint(weld)
    model.finalizeConnections()
    return model


def _speed_index(state: Any, coordinate: Any, path: Path) -> int:
    """The coordinate's index in the state's speeds u (the solver's output order)."""
    saved = coordinate.getSpeedValue(state)
    coordinate.setSpeedValue(state, 1.0)
    u = state.getU()
    hits = [i for i in range(u.size()) if u.get(i) == 1.0]
    coordinate.setSpeedValue(state, saved)
    if len(hits) != 1:
        raise OsimModelError(
            f"cannot find the speed of coordinate '{coordinate.getName()}'", path=path
        )
    return hits[0]


def _filtered_motion(
    time: np.ndarray, values: np.ndarray, names: list[str], smoothing: KinematicsFilter
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q, q̇, q̈ (T, C) of the coordinates: low-passed, then central differences in time."""
    sig = Signal(time, values, tuple(names), ("1",) * len(names), _rate(time), "analog")
    q = LowPass(smoothing.cutoff_hz, smoothing.order)(sig).values
    qd = np.gradient(q, time, axis=0, edge_order=2)
    return q, qd, np.gradient(qd, time, axis=0, edge_order=2)


def _rate(time: np.ndarray) -> float:
    return float(1.0 / np.median(np.diff(time)))


def joint_moment(
    osim_path: str | os.PathLike[str],
    time: np.ndarray,
    coordinates: Mapping[str, np.ndarray],
    joint: str,
    *,
    in_degrees: bool = False,
    load: HandLoad = HandLoad(),
    smoothing: KinematicsFilter = KinematicsFilter(),
) -> np.ndarray:
    """(T,) generalised force of coordinate ``joint`` (N·m for a rotation) over the motion.

    time: (T,) s, uniform; coordinates: IK columns, name -> (T,) values (rad, or deg with
    ``in_degrees`` for rotations; translations in m); columns that are not coordinates of the
    model are ignored. Raises OsimModelError naming the model for a missing file, joint or
    load body.
    """
    osim = import_opensim()
    path = Path(osim_path)
    model = _model_with_load(osim, path, load)
    state = model.initSystem()
    coordinate_set = model.getCoordinateSet()
    used = [name for name in coordinates if coordinate_set.contains(name)]
    if joint not in used:
        have = [coordinate_set.get(i).getName() for i in range(coordinate_set.getSize())]
        where = "the model" if not coordinate_set.contains(joint) else "the kinematics"
        raise OsimModelError(
            f"coordinate '{joint}' is not in {where} (model coordinates: {', '.join(have)}; "
            f"kinematics columns: {', '.join(coordinates)})",
            path=path,
        )
    handles = [coordinate_set.get(name) for name in used]
    rotational = [c.getMotionType() == osim.Coordinate.Rotational for c in handles]
    scale = np.array([math.pi / 180.0 if in_degrees and r else 1.0 for r in rotational])
    values = np.column_stack([np.asarray(coordinates[n], dtype=float) for n in used]) * scale
    q, qd, qdd = _filtered_motion(np.asarray(time, dtype=float), values, used, smoothing)
    for c in handles:
        if c.getLocked(state):
            c.setLocked(state, False)
    index = [_speed_index(state, c, path) for c in handles]
    solver = osim.InverseDynamicsSolver(model)
    udot = osim.Vector(state.getNU(), 0.0)
    out = np.empty(q.shape[0])
    target = index[used.index(joint)]
    for k in range(q.shape[0]):
        state.setTime(float(time[k]))
        for j, c in enumerate(handles):
            c.setValue(state, float(q[k, j]), False)
            c.setSpeedValue(state, float(qd[k, j]))
            udot.set(index[j], float(qdd[k, j]))
        model.realizeVelocity(state)
        out[k] = solver.solve(state, udot).get(target)
    return out
