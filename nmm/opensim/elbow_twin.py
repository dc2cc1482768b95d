"""The OpenSim twin of the torch elbow: muscle torque and inverse dynamics computed by OpenSim.

The torch model (:mod:`nmm.physics.elbow`) is validated against OpenSim 4.6 itself, on the
user's ``.osim`` (arm26 in the tests). OpenSim never runs in a training loop: these functions
are for validation and for cached reference outputs. :mod:`opensim` is imported inside the
functions, so importing this module is cheap; torch is imported only by
:func:`arm_parameters_from_osim` (it builds the torch :class:`ArmParameters`), so the twins run
on a torch-free path (``nmm-validate``).

Two twins are built from an ``.osim``:

- **muscle twin** (:func:`load_muscle_twin`): the model's muscles become the OpenSim muscles of
  the registered muscle model the torch elbow uses (:mod:`nmm.physics.muscle_models`; its
  ``opensim`` part names the ``ModelProcessor`` operators, the fixed properties and whether the
  muscles are equilibrated). For the DeGroote models: ``DeGrooteFregly2016Muscle``
  (``ModOpReplaceMusclesWithDeGrooteFregly2016``) with ``ignore_tendon_compliance`` for
  ``degroote2016_rigid_tendon``, or compliant tendons in fibre-tendon equilibrium
  (``Model::equilibrateMuscles`` at every state) for ``degroote2016_compliant_tendon``; F0,
  l_opt, l_Ts, pennation, v_max and the tendon strain are copied by OpenSim and the curve
  parameters keep the DeGroote defaults, as in torch. Other coordinates
  are held at ``locked`` values with zero speed. :func:`opensim_muscle_torque` sets the state
  and the activations (``Muscle::setActivation``) and sums tendon force × ``computeMomentArm``
  (``method="moment_arm"``), or takes the muscles' generalized force from
  ``InverseDynamicsSolver`` (``method="generalized_force"``: in this twin gravity is zero and
  non-muscle forces are off, so the elbow's residual at zero acceleration is minus the muscles'
  generalized force; velocity-dependent inertial forces vanish for a rotation about a fixed
  axis).
- **inverse-dynamics twin** (:func:`build_inverse_dynamics_twin`): the model with every force of
  its ForceSet switched off (muscles excluded, as the torch ``τ_ID`` excludes them), a point-mass
  load welded on the forearm at distance L from the flexion axis, along the perpendicular
  from the axis through the forearm's centre of mass (the torch model's lever arm), and the
  passive joint torque of :class:`~nmm.physics.elbow.ArmParameters` as a
  ``SpringGeneralizedForce`` (viscosity B) and a ``CoordinateLimitForce`` (per-degree
  properties converted from rad). :func:`opensim_inverse_dynamics` passes q, q̇ and q̈ to
  ``InverseDynamicsSolver`` state by state (no spline differentiation).

:func:`arm_parameters_from_osim` reduces the forearm of an ``.osim`` to the torch
:class:`~nmm.physics.elbow.ArmParameters` exactly: mass, perpendicular COM distance, inertia
about the axis through the COM (``n·I_c·n``), and the gravity factor cos β and angle offset
φ_0 of a tilted flexion axis (arm26's elbow axis is 3.5° off the ground's z axis).

Sign convention: OpenSim's, generalized forces positive along the coordinate (flexion for
``r_elbow_flex``), as in the torch model.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nmm.opensim.geometry_sampling import DEFAULT_LOCKED, OsimModelError, held_values
from nmm.physics.muscle_models import DEFAULT_MUSCLE_MODEL, MuscleModel, get_muscle_model

if TYPE_CHECKING:  # nmm.physics.elbow imports torch; the twin itself runs without it
    from nmm.physics.elbow import ArmParameters

__all__ = [
    "DEFAULT_COORDINATE",
    "DEFAULT_SHOULDER_COORDINATE",
    "InverseDynamicsTwin",
    "MuscleSamples",
    "MuscleTwin",
    "arm_parameters_from_osim",
    "build_inverse_dynamics_twin",
    "check_posture",
    "forearm_com_distance",
    "grip_lever_arms",
    "load_muscle_twin",
    "opensim_inverse_dynamics",
    "opensim_muscle",
    "opensim_muscle_torque",
]

log = logging.getLogger(__name__)

#: The elbow coordinate of arm26.
DEFAULT_COORDINATE = "r_elbow_flex"
#: The coordinate whose held value is the shoulder elevation ψ (arm26).
DEFAULT_SHOULDER_COORDINATE = "r_shoulder_elev"
#: Name of the load body and its weld joint added to the inverse-dynamics twin.
_LOAD_BODY = "nmm_hand_load"
# A point of the child frame counts as on the joint axis if its speed at unit joint speed is
# below this (m/s per rad/s); a COM closer to the axis than this has no direction (m).
_AXIS_TOLERANCE = 1e-9


def _import_opensim() -> Any:
    try:
        import opensim  # here, not at the top, so that importing nmm stays fast
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenSim is needed for the elbow twin: install the 'opensim' package (4.6)"
        ) from exc
    opensim.Logger.setLevelString("Error")  # global: hides mesh warnings and info lines
    return opensim


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def _check_file(path: Path) -> None:
    if not path.exists():
        raise OsimModelError("no such file", path=path)
    if not path.is_file():
        raise OsimModelError("not a file", path=path)


def _names(object_set: Any) -> list[str]:
    return [object_set.get(i).getName() for i in range(object_set.getSize())]


def _coordinate(model: Any, name: str, path: Path) -> Any:
    coordinate_set = model.getCoordinateSet()
    if not coordinate_set.contains(name):
        raise OsimModelError(
            f"no coordinate named '{name}' (the elbow); the model has coordinates: "
            + (", ".join(_names(coordinate_set)) or "none"),
            path=path,
        )
    coord = coordinate_set.get(name)
    osim = _import_opensim()
    if coord.getMotionType() == osim.Coordinate.Translational:
        raise OsimModelError(f"coordinate '{name}' is translational, not a joint angle", path=path)
    return coord


def _hold(
    model: Any, state: Any, locked: Mapping[str, float], coordinate: str, path: Path
) -> dict[str, float]:
    """Set the held coordinates (unlocked first) and zero every coordinate speed; a coordinate
    the model lacks or locks is held where the model holds it
    (:func:`~nmm.opensim.geometry_sampling.held_values`). Returns the values set."""
    coordinate_set = model.getCoordinateSet()
    if coordinate in locked:
        raise ValueError(f"coordinate '{coordinate}' is both the elbow and held in 'locked'")
    held = held_values(model, locked, coordinate, path)
    for name, value in held.items():
        coord = coordinate_set.get(name)
        if coord.getLocked(state):
            coord.setLocked(state, False)
        coord.setValue(state, float(value), False)
    for i in range(coordinate_set.getSize()):
        coordinate_set.get(i).setSpeedValue(state, 0.0)
    elbow = coordinate_set.get(coordinate)
    if elbow.getLocked(state):
        elbow.setLocked(state, False)
    return held


def _u_index(state: Any, coord: Any) -> int:
    """Index of the coordinate's speed in the state's u (= InverseDynamicsSolver output)."""
    saved = coord.getSpeedValue(state)
    coord.setSpeedValue(state, 1.0)
    u = state.getU()
    hits = [i for i in range(u.size()) if u.get(i) == 1.0]
    coord.setSpeedValue(state, saved)
    if len(hits) != 1:
        raise RuntimeError(f"cannot locate the speed of '{coord.getName()}' in the state")
    return hits[0]


def _as_1d(name: str, x: Any, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim == 0 and n is not None:
        a = np.full(n, float(a))
    a = a.reshape(-1) if a.ndim <= 1 else a
    if a.ndim != 1 or (n is not None and a.size != n):
        raise ValueError(f"{name} must have shape ({n if n is not None else 'T'},), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinity")
    return a


# --------------------------------------------------------------------------------------
# Muscle twin
# --------------------------------------------------------------------------------------


@dataclass
class MuscleTwin:
    """An ``.osim`` whose muscles are a registered muscle model's OpenSim muscles, ready to
    evaluate.

    Attributes:
        path: the source file.
        model, state: the processed OpenSim model and its working state.
        coordinate: the elbow ``Coordinate``.
        muscle_names: ``(M,)`` muscle order of the activations and outputs.
        muscles: the OpenSim muscles, same order.
        solver: an ``InverseDynamicsSolver`` of the model.
        u_index: the elbow's index in the state's speeds.
        muscle_model: the registry entry it was built for (:func:`load_muscle_twin`).
    """

    path: Path
    model: Any
    state: Any
    coordinate: Any
    muscle_names: tuple[str, ...]
    muscles: list[Any]
    solver: Any
    u_index: int
    muscle_model: MuscleModel


def _set_properties(muscle: Any, entry: MuscleModel, values: Mapping[str, Any]) -> Any:
    """Set OpenSim properties ``{property: value}`` on ``muscle`` as ``entry``'s muscle class;
    returns the downcast muscle, or None if it is not of that class."""
    typed = getattr(_import_opensim(), entry.opensim.muscle_class).safeDownCast(muscle)
    if typed is not None:
        for prop, value in values.items():
            getattr(typed, f"set_{prop}")(value)
    return typed


def opensim_muscle(
    muscle_model: str, parameters: Mapping[str, float | bool], name: str = "muscle"
) -> Any:
    """A new OpenSim muscle of ``muscle_model``'s class with the torch parameters given.

    ``parameters`` are :class:`~nmm.physics.muscle.MuscleParameters` fields (floats), set
    through the entry's property mapping; the entry's fixed properties are set too. The muscle
    has no path yet (``addNewPathPoint``) and is not in a model.

    Raises:
        UnknownMuscleModelError: ``muscle_model`` is not registered.
        ValueError: a parameter the entry does not map to an OpenSim property.
    """
    entry = get_muscle_model(muscle_model, key="muscle_model")
    unmapped = set(parameters) - set(entry.opensim.properties)
    if unmapped:
        raise ValueError(
            f"muscle model {entry.name!r} maps no OpenSim property to {sorted(unmapped)}"
        )
    muscle = getattr(_import_opensim(), entry.opensim.muscle_class)()
    muscle.setName(name)
    props = {entry.opensim.properties[k]: v for k, v in parameters.items()}
    _set_properties(muscle, entry, {**props, **entry.opensim.fixed_properties})
    return muscle


def _as_replaced(entry: MuscleModel) -> dict[str, Any]:
    """``{OpenSim property: default}`` of ``entry``'s muscle class for the parameters the torch
    model does not read from the ``.osim`` (it takes their defaults, as a replaced muscle has)."""
    fresh = getattr(_import_opensim(), entry.opensim.muscle_class)()
    props = [entry.opensim.properties[p.name] for p in entry.parameters if not p.from_osim]
    return {prop: getattr(fresh, f"get_{prop}")() for prop in props}


def _processed_model(path: Path, entry: MuscleModel) -> tuple[Any, Any]:
    """The ``.osim`` with ``entry``'s muscles, gravity off and only the muscles acting. A model
    whose muscles are all of the entry's class already (e.g. a subject's model built for Moco)
    keeps them, as a replacement would make them: OpenSim's replacement operators refuse
    muscles of their own target class, so the properties the torch model does not read from
    the ``.osim`` are set to the class's defaults here (:func:`_as_replaced`)."""
    osim = _import_opensim()
    try:
        source = osim.Model(str(path))
        source.finalizeFromProperties()
        processor = osim.ModelProcessor(source)
        muscles = source.getMuscles()
        classes = {muscles.get(i).getConcreteClassName() for i in range(muscles.getSize())}
        kept = classes == {entry.opensim.muscle_class}
        if not kept:
            for operator in entry.opensim.model_operators:
                processor.append(getattr(osim, operator)())
        model = processor.process()
        model.setGravity(osim.Vec3(0.0))
        muscle_set = model.updMuscles()
        reset = _as_replaced(entry) if kept else {}
        for i in range(muscle_set.getSize()):
            _set_properties(muscle_set.get(i), entry, {**reset, **entry.opensim.fixed_properties})
        # Only the muscles act: switch every other force off (its generalized force would
        # otherwise be counted as the muscles' by method="generalized_force").
        force_set = model.getForceSet()
        muscle_set_names = set(_names(model.getMuscles()))
        for i in range(force_set.getSize()):
            if force_set.get(i).getName() not in muscle_set_names:
                force_set.get(i).set_appliesForce(False)
        state = model.initSystem()
    except Exception as exc:  # OpenSim raises RuntimeError with a SimTK/XML message
        raise OsimModelError(
            f"OpenSim cannot load this as a model ({_first_line(exc)})", path=path
        ) from exc
    return model, state


def _twin_muscles(
    model: Any, names: Sequence[str] | None, muscle_class: str, path: Path
) -> tuple[list[str], list[Any]]:
    """The muscles to evaluate (default all, in model order), each of ``muscle_class``."""
    muscle_set = model.getMuscles()
    available = _names(muscle_set)
    chosen = list(available if names is None else names)
    for name in chosen:
        if not muscle_set.contains(name):
            raise OsimModelError(
                f"no muscle named '{name}'; the model has muscles: " + ", ".join(available),
                path=path,
            )
    if not chosen or len(set(chosen)) != len(chosen):
        raise ValueError(f"muscles must be distinct names, at least one; got {chosen}")
    objs = [muscle_set.get(n) for n in chosen]
    for name, m in zip(chosen, objs, strict=True):
        if m.getConcreteClassName() != muscle_class:
            raise OsimModelError(
                f"muscle '{name}' ({m.getConcreteClassName()}) was not converted to {muscle_class}",
                path=path,
            )
    return chosen, objs


def load_muscle_twin(
    osim_path: str | os.PathLike[str],
    coordinate: str = DEFAULT_COORDINATE,
    muscles: Sequence[str] | None = None,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> MuscleTwin:
    """Load ``osim_path`` as the muscle twin of ``muscle_model`` (see the module doc).

    The registry entry's ``opensim`` part says how: its ``ModelProcessor`` operators convert
    the muscles, its fixed properties are set on each, and the twin equilibrates the muscles at
    every state if it asks so.

    Args:
        osim_path: the model (its muscles may be any OpenSim ``Muscle`` that the entry's
            operators convert, e.g. Thelen2003 for ``ModOpReplaceMusclesWithDeGrooteFregly2016``).
        coordinate: the elbow coordinate.
        muscles: muscles to evaluate, in this order; default all, in model order.
        locked: ``{coordinate: value}`` held (rad or m); others keep their defaults.
        muscle_model: a name in :data:`~nmm.physics.muscle_models.MUSCLE_MODELS`.

    Raises:
        UnknownMuscleModelError (a ValueError): ``muscle_model`` is not registered.
        OsimModelError (a ValueError): missing/unloadable file, no such coordinate or muscle,
            a muscle OpenSim did not convert.
    """
    entry = get_muscle_model(muscle_model)
    osim = _import_opensim()
    path = Path(osim_path).expanduser().resolve()
    _check_file(path)
    model, state = _processed_model(path, entry)
    coord = _coordinate(model, coordinate, path)
    names, objs = _twin_muscles(model, muscles, entry.opensim.muscle_class, path)
    _hold(model, state, locked, coordinate, path)
    return MuscleTwin(
        path=path,
        model=model,
        state=state,
        coordinate=coord,
        muscle_names=tuple(names),
        muscles=objs,
        solver=osim.InverseDynamicsSolver(model),
        u_index=_u_index(state, coord),
        muscle_model=entry,
    )


@dataclass(frozen=True)
class MuscleSamples:
    """OpenSim's muscle outputs at T states (M muscles in ``muscle_names`` order).

    Attributes:
        muscle_names: ``(M,)``.
        torque: ``(T,)`` elbow torque of all listed muscles (N·m).
        tendon_force: ``(T, M)`` ``getTendonForce`` (N).
        fiber_force: ``(T, M)`` ``getFiberForce`` (N).
        active_fiber_force, passive_fiber_force: ``(T, M)`` (N).
        moment_arm: ``(T, M)`` ``computeMomentArm`` (m).
        mtu_length: ``(T, M)`` ``getLength`` (m).
        fiber_length: ``(T, M)`` ``getFiberLength`` (m).
        fiber_velocity: ``(T, M)`` ``getFiberVelocity`` (m/s).
    """

    muscle_names: tuple[str, ...]
    torque: np.ndarray
    tendon_force: np.ndarray
    fiber_force: np.ndarray
    active_fiber_force: np.ndarray
    passive_fiber_force: np.ndarray
    moment_arm: np.ndarray
    mtu_length: np.ndarray
    fiber_length: np.ndarray
    fiber_velocity: np.ndarray


def _set_activations(twin: MuscleTwin, k: int, activations: np.ndarray) -> None:
    """Activations of state ``k`` (row of ``(T, M)``) into the twin's state; then, if the
    muscle model asks, each fibre's length in equilibrium with its tendon."""
    for j, muscle in enumerate(twin.muscles):
        muscle.setActivation(twin.state, float(activations[k, j]))
    if twin.muscle_model.opensim.equilibrate:
        twin.model.equilibrateMuscles(twin.state)


def opensim_muscle_torque(
    osim: str | os.PathLike[str] | MuscleTwin,
    angles: Sequence[float] | np.ndarray,
    speeds: Sequence[float] | np.ndarray,
    activations: Sequence[Sequence[float]] | np.ndarray,
    *,
    coordinate: str = DEFAULT_COORDINATE,
    muscles: Sequence[str] | None = None,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
    method: str = "moment_arm",
    details: bool = False,
) -> np.ndarray | MuscleSamples:
    """Elbow torque of the twin's muscles at given activations, state by state, by OpenSim.

    Per state: set the elbow's value and speed, ``setActivation`` of each muscle (a muscle model
    that equilibrates: ``equilibrateMuscles``, the fibre length in equilibrium), realise
    Dynamics, then
    ``Σ_i getTendonForce_i × computeMomentArm_i`` (``method="moment_arm"``) or minus the
    elbow's ``InverseDynamicsSolver`` residual at zero acceleration
    (``method="generalized_force"``, what Simbody applies; see the module doc).

    Args:
        osim: an ``.osim`` path (loaded with :func:`load_muscle_twin`) or a loaded twin.
        angles: ``(T,)`` elbow angles (rad).
        speeds: ``(T,)`` elbow speeds (rad/s).
        activations: ``(T, M)`` activations in the twin's muscle order.
        coordinate, muscles, locked, muscle_model: for loading from a path (ignored for a twin).
        method: ``"moment_arm"`` or ``"generalized_force"``.
        details: return :class:`MuscleSamples` (per-muscle forces, moment arms, lengths; with
            ``method="moment_arm"`` only) instead of the torque.

    Returns:
        ``(T,)`` torque (N·m), or :class:`MuscleSamples`.
    """
    if method not in ("moment_arm", "generalized_force"):
        raise ValueError(f"method must be 'moment_arm' or 'generalized_force', got {method!r}")
    if details and method != "moment_arm":
        raise ValueError("details=True needs method='moment_arm'")
    twin = (
        osim
        if isinstance(osim, MuscleTwin)
        else load_muscle_twin(osim, coordinate, muscles, locked, muscle_model)
    )
    q = _as_1d("angles", angles)
    n = q.size
    u = _as_1d("speeds", speeds, n)
    a = np.asarray(activations, dtype=float)
    n_m = len(twin.muscles)
    if a.shape != (n, n_m):
        raise ValueError(f"activations must have shape (T, M) = ({n}, {n_m}), got {a.shape}")
    if method == "generalized_force":
        return _generalized_force_torque(twin, q, u, a)
    return _moment_arm_torque(twin, q, u, a, details)


def _generalized_force_torque(
    twin: MuscleTwin, q: np.ndarray, u: np.ndarray, a: np.ndarray
) -> np.ndarray:
    """``(T,)`` minus the elbow's ID residual at zero acceleration, state by state (N·m)."""
    s, coord = twin.state, twin.coordinate
    udot = _import_opensim().Vector(s.getNU(), 0.0)
    torque = np.empty(q.size)
    for k in range(q.size):
        coord.setValue(s, float(q[k]), False)
        coord.setSpeedValue(s, float(u[k]))
        _set_activations(twin, k, a)
        torque[k] = -twin.solver.solve(s, udot).get(twin.u_index)
    return torque


def _moment_arm_torque(
    twin: MuscleTwin, q: np.ndarray, u: np.ndarray, a: np.ndarray, details: bool
) -> np.ndarray | MuscleSamples:
    """``(T,)`` Σ tendon force × moment arm (N·m), state by state; with ``details``, the
    per-muscle outputs too."""
    model, s, coord, mus = twin.model, twin.state, twin.coordinate, twin.muscles
    n = q.size
    torque = np.empty(n)
    shape = (n, len(mus))
    out = {
        key: np.empty(shape)
        for key in (
            "tendon_force",
            "fiber_force",
            "active_fiber_force",
            "passive_fiber_force",
            "moment_arm",
            "mtu_length",
            "fiber_length",
            "fiber_velocity",
        )
    }
    for k in range(n):
        coord.setValue(s, float(q[k]), False)
        coord.setSpeedValue(s, float(u[k]))
        _set_activations(twin, k, a)
        model.realizeDynamics(s)
        total = 0.0
        for j, muscle in enumerate(mus):
            force = muscle.getTendonForce(s)
            arm = muscle.computeMomentArm(s, coord)
            total += force * arm
            if details:
                out["tendon_force"][k, j] = force
                out["moment_arm"][k, j] = arm
                out["fiber_force"][k, j] = muscle.getFiberForce(s)
                out["active_fiber_force"][k, j] = muscle.getActiveFiberForce(s)
                out["passive_fiber_force"][k, j] = muscle.getPassiveFiberForce(s)
                out["mtu_length"][k, j] = muscle.getLength(s)
                out["fiber_length"][k, j] = muscle.getFiberLength(s)
                out["fiber_velocity"][k, j] = muscle.getFiberVelocity(s)
        torque[k] = total
    if not details:
        return torque
    return MuscleSamples(muscle_names=twin.muscle_names, torque=torque, **out)


# --------------------------------------------------------------------------------------
# Forearm reduction and inverse dynamics
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Forearm:
    """The forearm body relative to the flexion axis, at the elbow's zero angle."""

    body: Any
    mass: float
    axis_body: np.ndarray  # unit flexion axis, body frame
    axis_point_body: np.ndarray  # a point of the axis, body frame (m)
    com_direction_body: np.ndarray  # unit perpendicular from the axis to the COM, body frame
    com_distance: float  # l_c (m)
    inertia_about_com: float  # n·I_c·n (kg m²)
    gravity_torque_0: float  # τ_g(θ = 0) without load (N·m)
    gravity_torque_slope_0: float  # dτ_g/dθ at θ = 0 without load (N·m/rad)


def _vec(v: Any) -> np.ndarray:
    return np.array([v.get(0), v.get(1), v.get(2)], dtype=float)


def _forearm(model: Any, state: Any, coord: Any, path: Path) -> _Forearm:
    """Reduce the coordinate's child body to 1-DoF quantities (state: other coords held)."""
    osim = _import_opensim()
    joint = coord.getJoint()
    body_frame = joint.getChildFrame().findBaseFrame()
    body = osim.Body.safeDownCast(body_frame)
    if body is None:
        raise OsimModelError(f"the child of joint '{joint.getName()}' is not a body", path=path)
    distal = [
        j.getName()
        for j in (model.getJointSet().get(i) for i in range(model.getJointSet().getSize()))
        if j.getParentFrame().findBaseFrame().getName() == body.getName()
        and j.getName() != joint.getName()
    ]
    if distal:
        raise OsimModelError(
            f"joints distal to body '{body.getName()}' ({', '.join(distal)}) are not supported: "
            "the 1-DoF elbow takes the forearm and hand as one rigid body",
            path=path,
        )
    saved_q, saved_u = coord.getValue(state), coord.getSpeedValue(state)
    coord.setValue(state, 0.0, False)
    coord.setSpeedValue(state, 1.0)
    model.realizeVelocity(state)
    ground = model.getGround()
    axis_ground = _vec(body.getVelocityInGround(state).get(0))  # ω at unit speed
    if not math.isclose(float(np.linalg.norm(axis_ground)), 1.0, rel_tol=1e-9):
        raise OsimModelError(
            f"coordinate '{coord.getName()}' does not rotate body '{body.getName()}' at unit "
            "rate (a coupled or scaled joint is not supported)",
            path=path,
        )
    axis_point_body = _vec(joint.getChildFrame().findTransformInBaseFrame().p())
    station = osim.Vec3(*axis_point_body)
    if np.linalg.norm(_vec(body.findStationVelocityInGround(state, station))) > _AXIS_TOLERANCE:
        raise OsimModelError(
            f"joint '{joint.getName()}' translates its child frame as '{coord.getName()}' "
            "changes; only a pure rotation is supported",
            path=path,
        )
    axis_body = _vec(ground.expressVectorInAnotherFrame(state, osim.Vec3(*axis_ground), body))
    com_body = _vec(body.getMassCenter())
    r = com_body - axis_point_body
    r_perp = r - (r @ axis_body) * axis_body
    l_c = float(np.linalg.norm(r_perp))
    if l_c < _AXIS_TOLERANCE:
        raise OsimModelError(
            f"the centre of mass of '{body.getName()}' lies on the flexion axis", path=path
        )
    inertia = body.getInertia()
    moments, products = _vec(inertia.getMoments()), _vec(inertia.getProducts())
    tensor = np.diag(moments)
    tensor[0, 1] = tensor[1, 0] = products[0]
    tensor[0, 2] = tensor[2, 0] = products[1]
    tensor[1, 2] = tensor[2, 1] = products[2]
    # Gravity torque the joint supplies, τ_g = -m n·(r × g) (r: axis to COM, in ground), and
    # its derivative -m n·((n × r) × g), at θ = 0.
    r_perp_ground = _vec(body.expressVectorInGround(state, osim.Vec3(*r_perp)))
    g = _vec(model.getGravity())
    mass = float(body.getMass())
    tau0 = -mass * float(axis_ground @ np.cross(r_perp_ground, g))
    slope0 = -mass * float(axis_ground @ np.cross(np.cross(axis_ground, r_perp_ground), g))
    coord.setValue(state, saved_q, False)
    coord.setSpeedValue(state, saved_u)
    return _Forearm(
        body=body,
        mass=mass,
        axis_body=axis_body,
        axis_point_body=axis_point_body,
        com_direction_body=r_perp / l_c,
        com_distance=l_c,
        inertia_about_com=float(axis_body @ tensor @ axis_body),
        gravity_torque_0=tau0,
        gravity_torque_slope_0=slope0,
    )


def _load_plain(path: Path) -> tuple[Any, Any]:
    osim = _import_opensim()
    _check_file(path)
    try:
        model = osim.Model(str(path))
        state = model.initSystem()
    except Exception as exc:
        raise OsimModelError(
            f"OpenSim cannot load this as a model ({_first_line(exc)})", path=path
        ) from exc
    return model, state


def check_posture(osim_path: str | os.PathLike[str], posture: Mapping[str, float]) -> None:
    """Check a recorded posture (``{coordinate: value}``, rad or m) against the model: each
    coordinate the model has must hold a value inside its range (``range_min`` to
    ``range_max``); one the model lacks is left to the model (welded;
    :func:`~nmm.opensim.geometry_sampling.held_values`).

    Raises:
        OsimModelError: a value outside its coordinate's range (names the file).
    """
    path = Path(osim_path).expanduser().resolve()
    model, _ = _load_plain(path)
    coordinates = model.getCoordinateSet()
    for name, value in posture.items():
        if not coordinates.contains(name):
            continue
        coord = coordinates.get(name)
        lo, hi = float(coord.getRangeMin()), float(coord.getRangeMax())
        if not lo <= float(value) <= hi:
            raise OsimModelError(
                f"posture {name} = {float(value):g} lies outside the coordinate's range "
                f"{lo:g} to {hi:g} (rad or m) in the model",
                path=path,
            )


def forearm_com_distance(
    osim_path: str | os.PathLike[str],
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
) -> float:
    """l_c (m): the distance of the forearm's centre of mass from the flexion axis, as
    :func:`arm_parameters_from_osim` reads it (torch-free)."""
    path = Path(osim_path).expanduser().resolve()
    model, state = _load_plain(path)
    coord = _coordinate(model, coordinate, path)
    _hold(model, state, locked, coordinate, path)
    return _forearm(model, state, coord, path).com_distance


def grip_lever_arms(
    reference_osim: str | os.PathLike[str],
    lever_arm_m: float,
    models: Mapping[str, str | os.PathLike[str] | None],
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
) -> dict[str, float]:
    """The load's lever arm (m) in each subject's own model: ``lever_arm_m`` (the grip in
    ``reference_osim``, ``physics.load.lever_arm_m``) times l_c(model) / l_c(reference)
    (:func:`forearm_com_distance`; OpenSim's ScaleTool scales a segment's points with its
    length). Subjects with no model (None) are left out.

    Raises:
        OsimModelError: a model cannot be read; its message names the subject.
    """
    own = {s: m for s, m in models.items() if m is not None}
    if not own:
        return {}
    reference = forearm_com_distance(reference_osim, coordinate, locked)
    out = {}
    for subject, model in own.items():
        try:
            l_c = forearm_com_distance(model, coordinate, locked)
        except OsimModelError as exc:
            message = f"model of subject {subject}: {exc.reason}"
            raise OsimModelError(message, path=exc.path) from exc
        out[subject] = float(lever_arm_m) * l_c / reference
    return out


def arm_parameters_from_osim(
    osim_path: str | os.PathLike[str],
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    shoulder_coordinate: str | None = DEFAULT_SHOULDER_COORDINATE,
    passive: ArmParameters | None = None,
) -> ArmParameters:
    """The torch :class:`ArmParameters` of an ``.osim`` forearm, exact for a 1-DoF rotation.

    With the other coordinates held at ``locked``, the gravity torque the joint supplies is
    ``C sin(θ + φ)`` for a rigid forearm rotating about a fixed axis; C and φ are computed from
    the model's gravity, the COM and the axis direction in ground, and written as
    ``C = m l_c g cos β`` and ``φ = ψ + φ_0`` (ψ: the held value of ``shoulder_coordinate``, 0 if
    none or if the model lacks it, e.g. a welded shoulder, whose pose φ_0 then carries).
    ``forearm_inertia`` is ``n·I_c·n`` (inertia about the COM, ``Body.inertia``) and
    ``forearm_com_distance`` the COM's distance from the axis.

    Args:
        osim_path: the model.
        coordinate: the elbow coordinate.
        locked: held coordinates (rad or m; one the model lacks or locks is held where the
            model holds it, :func:`~nmm.opensim.geometry_sampling.held_values`).
        shoulder_coordinate: the coordinate giving ψ (None: ψ = 0 and φ_0 absorbs the pose).
        passive: damping and limit fields are taken from it; default none (zero damping and
            limit stiffness, the coordinate's range as limits).

    Raises:
        OsimModelError: see :func:`build_inverse_dynamics_twin`.
    """
    from nmm.physics.elbow import ArmParameters  # here: the rest of the twin is torch-free

    path = Path(osim_path).expanduser().resolve()
    model, state = _load_plain(path)
    coord = _coordinate(model, coordinate, path)
    held = _hold(model, state, locked, coordinate, path)
    fa = _forearm(model, state, coord, path)
    g = float(np.linalg.norm(_vec(model.getGravity())))
    amplitude = math.hypot(fa.gravity_torque_0, fa.gravity_torque_slope_0)
    phase = math.atan2(fa.gravity_torque_0, fa.gravity_torque_slope_0)
    psi = float(held.get(shoulder_coordinate, 0.0)) if shoulder_coordinate else 0.0
    base = ArmParameters(
        forearm_mass=fa.mass,
        forearm_com_distance=fa.com_distance,
        forearm_inertia=fa.inertia_about_com,
        gravity=g,
        shoulder_elevation=psi,
        gravity_angle_offset=phase - psi,
        gravity_plane_factor=amplitude / (fa.mass * fa.com_distance * g) if g > 0 else 1.0,
        lower_limit=float(coord.getRangeMin()),
        upper_limit=float(coord.getRangeMax()),
    )
    if passive is None:
        return base
    return base.replace(
        joint_damping=passive.joint_damping,
        lower_limit=passive.lower_limit,
        upper_limit=passive.upper_limit,
        limit_stiffness=passive.limit_stiffness,
        limit_damping=passive.limit_damping,
        limit_transition=passive.limit_transition,
    )


@dataclass
class InverseDynamicsTwin:
    """The inverse-dynamics twin (see the module doc), ready to evaluate.

    Attributes:
        path: source file; model, state: the OpenSim model and its working state;
        coordinate: the elbow ``Coordinate``; solver: its ``InverseDynamicsSolver``;
        u_index: the elbow's index in the speeds; load_mass (kg), load_lever_arm (m): the load;
        load_location: where the load is welded, in the forearm body's frame (m).
    """

    path: Path
    model: Any
    state: Any
    coordinate: Any
    solver: Any
    u_index: int
    load_mass: float
    load_lever_arm: float
    load_location: np.ndarray


def build_inverse_dynamics_twin(
    osim_path: str | os.PathLike[str],
    load_mass: float = 0.0,
    load_lever_arm: float = 0.0,
    arm: ArmParameters | None = None,
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    include_passive: bool = True,
) -> InverseDynamicsTwin:
    """Build the inverse-dynamics twin of ``osim_path`` (see the module doc).

    Args:
        osim_path: the model.
        load_mass: m_L (kg), a point mass (no body is added for 0).
        load_lever_arm: L (m) from the flexion axis, along the perpendicular through the COM.
        arm: its passive fields (``joint_damping``, limits) become a ``SpringGeneralizedForce``
            and a ``CoordinateLimitForce``; None or ``include_passive=False``: none.
        coordinate, locked: the elbow and the held coordinates.

    Raises:
        OsimModelError (a ValueError): missing/unloadable file, no such coordinate, a forearm
            the 1-DoF reduction does not cover (distal joints, a translating joint).
        ValueError: negative load mass or lever arm.
    """
    if not (load_mass >= 0 and load_lever_arm >= 0):
        raise ValueError(
            f"load_mass and load_lever_arm must be >= 0, got {load_mass}, {load_lever_arm}"
        )
    osim = _import_opensim()
    path = Path(osim_path).expanduser().resolve()
    model, state = _load_plain(path)
    coord = _coordinate(model, coordinate, path)
    _hold(model, state, locked, coordinate, path)
    fa = _forearm(model, state, coord, path)
    location = fa.axis_point_body + load_lever_arm * fa.com_direction_body

    force_set = model.getForceSet()
    for i in range(force_set.getSize()):  # muscles and any other force of the model: excluded
        force_set.get(i).set_appliesForce(False)
    if load_mass > 0:
        load = osim.Body(_LOAD_BODY, float(load_mass), osim.Vec3(0.0), osim.Inertia(0.0))
        weld = osim.WeldJoint(
            f"{_LOAD_BODY}_weld",
            fa.body,
            osim.Vec3(*location),
            osim.Vec3(0.0),
            load,
            osim.Vec3(0.0),
            osim.Vec3(0.0),
        )
        model.addBody(load)
        model.addJoint(weld)
    if arm is not None and include_passive:
        p = arm.as_floats()
        if p["joint_damping"] != 0.0:
            damper = osim.SpringGeneralizedForce(coordinate)
            damper.setName(f"{coordinate}_damping")
            damper.setStiffness(0.0)
            damper.setRestLength(0.0)
            damper.setViscosity(p["joint_damping"])
            model.addForce(damper)
        if p["limit_stiffness"] != 0.0:  # OpenSim divides by the stiffness (0 would give NaN)
            per_deg = math.pi / 180.0  # CoordinateLimitForce's properties are per degree
            limit = osim.CoordinateLimitForce(
                coordinate,
                math.degrees(p["upper_limit"]),
                p["limit_stiffness"] * per_deg,
                math.degrees(p["lower_limit"]),
                p["limit_stiffness"] * per_deg,
                p["limit_damping"] * per_deg,
                math.degrees(p["limit_transition"]),
            )
            model.addForce(limit)
    try:
        state = model.initSystem()
    except Exception as exc:
        raise OsimModelError(
            f"OpenSim cannot initialise the inverse-dynamics twin ({_first_line(exc)})", path=path
        ) from exc
    coord = model.getCoordinateSet().get(coordinate)
    _hold(model, state, locked, coordinate, path)
    return InverseDynamicsTwin(
        path=path,
        model=model,
        state=state,
        coordinate=coord,
        solver=osim.InverseDynamicsSolver(model),
        u_index=_u_index(state, coord),
        load_mass=float(load_mass),
        load_lever_arm=float(load_lever_arm),
        load_location=location,
    )


def opensim_inverse_dynamics(
    osim: str | os.PathLike[str] | InverseDynamicsTwin,
    time: Sequence[float] | np.ndarray,
    q: Sequence[float] | np.ndarray,
    qdot: Sequence[float] | np.ndarray,
    qddot: Sequence[float] | np.ndarray,
    load_mass: float = 0.0,
    load_lever_arm: float = 0.0,
    *,
    arm: ArmParameters | None = None,
    coordinate: str = DEFAULT_COORDINATE,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    include_passive: bool = True,
) -> np.ndarray:
    """Elbow torque the motion demands, by OpenSim's ``InverseDynamicsSolver`` (N·m).

    State by state: time, the elbow's q and q̇ set in the state (other coordinates held, at
    rest), q̈ passed as the elbow's entry of the acceleration vector (others 0); the elbow's
    entry of the solver's generalized forces is returned. Muscles are excluded (switched off),
    so this is the torch ``τ_ID`` of :func:`nmm.physics.elbow.inverse_dynamics_torque`.

    Args:
        osim: an ``.osim`` path (twin built with the arguments below) or a built twin (whose
            own load and passive elements are used).
        time: ``(T,)`` s; q ``(T,)`` rad; qdot ``(T,)`` rad/s; qddot ``(T,)`` rad/s².
        load_mass, load_lever_arm, arm, coordinate, locked, include_passive: see
            :func:`build_inverse_dynamics_twin`.

    Returns:
        ``(T,)`` torque (N·m, positive flexing).
    """
    twin = (
        osim
        if isinstance(osim, InverseDynamicsTwin)
        else build_inverse_dynamics_twin(
            osim, load_mass, load_lever_arm, arm, coordinate, locked, include_passive
        )
    )
    t = _as_1d("time", time)
    n = t.size
    q, qd, qdd = _as_1d("q", q, n), _as_1d("qdot", qdot, n), _as_1d("qddot", qddot, n)
    osim_mod = _import_opensim()
    s, coord = twin.state, twin.coordinate
    udot = osim_mod.Vector(s.getNU(), 0.0)
    out = np.empty(n)
    for k in range(n):
        s.setTime(float(t[k]))
        coord.setValue(s, float(q[k]), False)
        coord.setSpeedValue(s, float(qd[k]))
        udot.set(twin.u_index, float(qdd[k]))
        out[k] = twin.solver.solve(s, udot).get(twin.u_index)
    return out
