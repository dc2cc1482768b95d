"""Sample musculotendon lengths and moment arms of a user's ``.osim`` with OpenSim itself.

The only module of the geometry pipeline that imports :mod:`opensim` (inside functions, so
importing this module is fast). :func:`sample_elbow_geometry` loads a model, holds every
other coordinate at a fixed value, sweeps one coordinate (the elbow) and records, per muscle:

- the musculotendon length ``l_MT`` (m), ``Muscle::getLength`` after ``realizePosition``, i.e.
  along the model's real path (via points and wrap objects; arm26 wraps, Holzbaur 2005);
- the moment arm ``r`` (m), ``Muscle::computeMomentArm(state, coordinate)`` (OpenSim's
  ``MomentArmSolver``: the generalised force of a unit path tension, Sherman, Seth & Delp 2013);
- the angles where the muscle's path changes its sequence of points (a wrap object engages or
  disengages); there ``l_MT(θ)`` is C1 but not C2, so a smooth fit should break there.

:func:`nmm.opensim.torch_elbow.muscle_geometry_from_osim` fits and caches these samples.

Observed with OpenSim 4.6 on arm26 (shoulder elevation 0): ``computeMomentArm`` equals
``-dl_MT/dθ`` to 1e-10 m for the biceps, but differs by up to 0.15 mm for BRA while it wraps the
humeral ``TRI`` cylinder (0-45°) and by up to 0.02 mm for TRIlat/TRImed near 130°.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from nmm.physics.muscle_models import DEFAULT_MUSCLE_MODEL, get_muscle_model

__all__ = [
    "DEFAULT_LOCKED",
    "HELD_POLICY",
    "PARAMETER_READERS",
    "GeometrySamples",
    "OsimModelError",
    "file_sha256",
    "held_values",
    "sample_elbow_geometry",
    "tendon_strain",
]

log = logging.getLogger(__name__)

#: Coordinates held fixed by default while the elbow is swept: arm26's shoulder at 0 rad.
DEFAULT_LOCKED: Mapping[str, float] = MappingProxyType({"r_shoulder_elev": 0.0})
#: How a request to hold coordinates is read (:func:`held_values`), part of the geometry cache's
#: key: 2, a coordinate the model lacks is skipped and one it locks keeps the model's value
#: (1, before: every requested coordinate was set, and one the model lacked was an error).
HELD_POLICY = 2


def _curve_strain(muscle: Any) -> float:
    return muscle.getTendonForceLengthCurve().getStrainAtOneNormForce()


#: Where each muscle type keeps its tendon strain at one normalised force (ε0T): the class, and
#: how to read it from an instance of that class.
_TENDON_STRAIN_READERS: tuple[tuple[str, Any], ...] = (
    ("DeGrooteFregly2016Muscle", lambda m: m.get_tendon_strain_at_one_norm_force()),
    ("Thelen2003Muscle", lambda m: m.get_FmaxTendonStrain()),
    ("Millard2012EquilibriumMuscle", _curve_strain),
    ("Millard2012AccelerationMuscle", _curve_strain),
)


def tendon_strain(muscle: Any) -> float:
    """An OpenSim muscle's tendon strain at one normalised force (1), read by its type
    (:data:`_TENDON_STRAIN_READERS`); DeGrooteFregly2016Muscle's default for other types."""
    import opensim as osim

    from nmm.physics.muscle import DEFAULT_TENDON_STRAIN

    for cls, read in _TENDON_STRAIN_READERS:
        typed = getattr(osim, cls).safeDownCast(muscle)
        if typed is not None:
            return float(read(typed))
    log.warning(
        "muscle %s is a %s, whose tendon strain is not read; using %g",
        muscle.getName(),
        muscle.getConcreteClassName(),
        DEFAULT_TENDON_STRAIN,
    )
    return DEFAULT_TENDON_STRAIN


#: How each muscle parameter a muscle model may read from the ``.osim``
#: (:attr:`nmm.physics.muscle_models.ParameterSpec.from_osim`) is read from any OpenSim
#: ``Muscle``. Names follow OpenSim's properties (and
#: :class:`nmm.physics.muscle.MuscleParameters`).
PARAMETER_READERS: Mapping[str, Callable[[Any], float]] = MappingProxyType(
    {
        "max_isometric_force": lambda m: m.getMaxIsometricForce(),  # N
        "optimal_fiber_length": lambda m: m.getOptimalFiberLength(),  # m
        "tendon_slack_length": lambda m: m.getTendonSlackLength(),  # m
        "pennation_angle_at_optimal": lambda m: m.getPennationAngleAtOptimalFiberLength(),  # rad
        "max_contraction_velocity": lambda m: m.getMaxContractionVelocity(),  # l_opt / s
        "tendon_strain_at_one_norm_force": tendon_strain,  # 1
    }
)


def _parameters_to_read(muscle_model: str) -> tuple[str, ...]:
    """The ``.osim`` parameters of a registered muscle model, each with a reader."""
    names = get_muscle_model(muscle_model).osim_parameters
    unreadable = [n for n in names if n not in PARAMETER_READERS]
    if unreadable:
        raise ValueError(
            f"muscle model {muscle_model!r} reads {unreadable} from the .osim, which "
            f"PARAMETER_READERS cannot read (it reads: {', '.join(PARAMETER_READERS)})"
        )
    return names


# Path events are bisected until the bracket is this narrow (rad).
_EVENT_TOLERANCE = 1e-10
# A coordinate that OpenSim sets to a value further than this from the request is an error
# (e.g. a constraint moved it).
_SET_TOLERANCE = 1e-9


class OsimModelError(ValueError):
    """An ``.osim`` file cannot be used as asked; the message names the file and the reason."""

    def __init__(self, message: str, *, path: str | os.PathLike[str]):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class GeometrySamples:
    """Musculotendon geometry sampled with OpenSim over one coordinate.

    Attributes:
        osim_path: absolute path of the ``.osim`` file.
        sha256: SHA-256 of the file's bytes (hex).
        model_name: the model's name.
        opensim_version: ``opensim.__version__`` that produced the samples.
        coordinate: the swept coordinate (rotational; angles in rad).
        coordinate_range: ``(min, max)`` range of the coordinate in the model (rad).
        joint: name of the joint the coordinate belongs to.
        parent_body, child_body: base frames (bodies) of that joint.
        locked: the held values of the caller's request that apply to this model,
            ``{coordinate: value}`` (rad or m; :func:`held_values`: coordinates the model lacks
            are left out, those it locks keep its value).
        held_coordinates: value of every other coordinate during the sweep (requested or the
            model's default).
        muscle_names: ``(M,)`` muscle names, in the order of the columns below.
        muscle_classes: ``(M,)`` OpenSim concrete class names (e.g. ``Thelen2003Muscle``).
        angles: ``(N,)`` coordinate values (rad), in the order sampled.
        lengths: ``(N, M)`` musculotendon lengths ``l_MT`` (m).
        moment_arms: ``(N, M)`` moment arms from ``computeMomentArm`` (m; positive when the
            muscle's tension accelerates the coordinate positively, e.g. flexors of
            ``r_elbow_flex``).
        muscle_parameters: ``{property: (M,) tuple}`` for each parameter the muscle model
            reads from the ``.osim`` (:data:`PARAMETER_READERS`; for the DeGroote models F0 in
            N, l_opt and l_Ts in m, pennation in rad, v_max in optimal fibre lengths per s and
            the tendon strain, :func:`tendon_strain`).
        path_events: ``{muscle: angles (rad)}`` where the path's sequence of points changes
            (wrap on/off, conditional via points), bisected to 1e-10 rad. Events closer together
            than the sampling step may be missed.
    """

    osim_path: str
    sha256: str
    model_name: str
    opensim_version: str
    coordinate: str
    coordinate_range: tuple[float, float]
    joint: str
    parent_body: str
    child_body: str
    locked: dict[str, float]
    held_coordinates: dict[str, float]
    muscle_names: tuple[str, ...]
    muscle_classes: tuple[str, ...]
    angles: np.ndarray
    lengths: np.ndarray
    moment_arms: np.ndarray
    muscle_parameters: dict[str, tuple[float, ...]]
    path_events: dict[str, tuple[float, ...]] = field(default_factory=dict)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file's bytes; :class:`OsimModelError` if it cannot be read."""
    if not Path(path).exists():
        raise OsimModelError("no such file", path=path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise OsimModelError(f"cannot read the file ({exc.strerror or exc})", path=path) from exc
    return digest.hexdigest()


def _import_opensim() -> Any:
    try:
        import opensim  # here, not at the top, so that importing nmm stays fast
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenSim is needed to sample muscle geometry from an .osim file: "
            "install the 'opensim' package (4.6), or load a cached geometry JSON instead"
        ) from exc
    return opensim


def _load_model(osim: Any, path: Path) -> tuple[Any, Any]:
    """Load and initialise the model; errors name the file."""
    if not path.exists():
        raise OsimModelError("no such file", path=path)
    if not path.is_file():
        raise OsimModelError("not a file", path=path)
    try:
        model = osim.Model(str(path))
        state = model.initSystem()
    except Exception as exc:  # OpenSim raises RuntimeError with a SimTK/XML message
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise OsimModelError(f"OpenSim cannot load this as a model ({first})", path=path) from exc
    return model, state


def _names(object_set: Any) -> list[str]:
    return [object_set.get(i).getName() for i in range(object_set.getSize())]


def _set_coordinate(coord: Any, state: Any, value: float, path: Path) -> None:
    """Set a coordinate (unlocking it first: OpenSim ignores setValue on a locked one)."""
    if coord.getLocked(state):
        coord.setLocked(state, False)
    coord.setValue(state, float(value))
    got = coord.getValue(state)
    if not abs(got - value) <= _SET_TOLERANCE:
        raise OsimModelError(
            f"coordinate '{coord.getName()}' could not be set to {value!r} (OpenSim kept {got!r};"
            " a constraint may couple it)",
            path=path,
        )


def held_values(
    model: Any, locked: Mapping[str, float], coordinate: str, path: str | os.PathLike[str]
) -> dict[str, float]:
    """The values at which the requested coordinates are held in this model (rad or m).

    The model decides where it has an opinion, so that one ``physics.locked`` serves models
    whose shoulder is free, locked or welded:

    - a coordinate the model lacks (its joint welded, or another model's name) is skipped, with
      an info log: the model holds that part of the body where its weld puts it;
    - a coordinate the model locks (``<locked>true</locked>``) stays at the model's own default
      value, with an info log if the request differs;
    - any other coordinate is held at the requested value.

    Raises:
        ValueError: ``coordinate`` (the swept one) is also in ``locked``.
    """
    coordinate_set = model.getCoordinateSet()
    if coordinate in locked:
        raise ValueError(f"coordinate '{coordinate}' is both swept and in 'locked'")
    held: dict[str, float] = {}
    for name, value in locked.items():
        if not coordinate_set.contains(name):
            log.info(
                "%s: no coordinate '%s' (in 'locked'), skipped: the model holds that joint "
                "itself (its coordinates: %s)",
                path,
                name,
                ", ".join(_names(coordinate_set)),
            )
            continue
        coord = coordinate_set.get(name)
        if coord.getDefaultLocked():
            own = float(coord.getDefaultValue())
            if own != float(value):
                log.info(
                    "%s: coordinate '%s' is locked in the model at %g; held there, not at the "
                    "requested %g",
                    path,
                    name,
                    own,
                    float(value),
                )
            held[name] = own
            continue
        held[name] = float(value)
    return held


def _path_topology(muscle: Any, state: Any) -> tuple[str, ...] | None:
    """Names of the points of the muscle's current path (wrap points appear when wrapping)."""
    geometry_path = _import_opensim().GeometryPath.safeDownCast(muscle.getPath())
    if geometry_path is None:  # e.g. a FunctionBasedPath: no points, no wrap events
        return None
    current = geometry_path.getCurrentPath(state)
    return tuple(current.get(i).getName() for i in range(current.getSize()))


def sample_elbow_geometry(
    osim_path: str | os.PathLike[str],
    coordinate: str = "r_elbow_flex",
    muscles: Sequence[str] | None = None,
    locked: Mapping[str, float] = DEFAULT_LOCKED,
    n: int = 121,
    angle_range: tuple[float, float] | None = None,
    angles: Sequence[float] | np.ndarray | None = None,
    muscle_model: str = DEFAULT_MUSCLE_MODEL,
) -> GeometrySamples:
    """Sweep ``coordinate`` of an ``.osim`` model and sample each muscle's path with OpenSim.

    Every coordinate in ``locked`` that the model has and does not lock is set to its value
    (:func:`held_values`: one the model lacks is skipped, one it locks stays at the model's
    value); all other coordinates keep their default values. The swept coordinate takes ``n`` evenly
    spaced values over ``angle_range`` (default: the coordinate's range in the model), or the
    given ``angles``. At each value the system is realised to Position and, per muscle,
    ``getLength`` (musculotendon length, m) and ``computeMomentArm`` (m) are recorded.
    OpenSim's global log level is set to ``Error`` (and left so).

    Args:
        osim_path: the model file.
        coordinate: name of the rotational coordinate to sweep (rad).
        muscles: names of the muscles to sample, in this order; default all muscles of the
            model, in model order.
        locked: ``{coordinate: value}`` held during the sweep (rad or m). Default
            :data:`DEFAULT_LOCKED` (arm26's shoulder at 0); pass ``{}`` for other models.
        n: number of evenly spaced samples (>= 2) when ``angles`` is not given.
        angle_range: ``(min, max)`` of the sweep (rad); default the model's range.
        angles: explicit coordinate values (rad), any order; overrides ``n``/``angle_range``.
        muscle_model: the registered muscle model whose ``.osim`` parameters are read
            (:data:`~nmm.physics.muscle_models.MUSCLE_MODELS`).

    Returns:
        :class:`GeometrySamples`.

    Raises:
        OsimModelError (a ValueError): the file is missing or not an OpenSim model; there is
            no such coordinate to sweep (the message lists the model's coordinates); a muscle
            is not in the model (the message lists its muscles); a held coordinate cannot be
            set.
        ValueError: bad ``n``, ``angle_range`` or ``angles``; a muscle model that is not
            registered (UnknownMuscleModelError) or reads a parameter without a reader.
    """
    parameters = _parameters_to_read(muscle_model)
    path = Path(osim_path).expanduser().resolve()
    osim = _import_opensim()
    # Global and left so: hides the missing-.vtp mesh warnings and per-load info lines
    # (restoring the previous level would itself print an info line).
    osim.Logger.setLevelString("Error")
    model, state = _load_model(osim, path)
    sha = file_sha256(path)
    return _sample(
        osim,
        model,
        state,
        path,
        sha,
        coordinate,
        muscles,
        locked,
        n,
        angle_range,
        angles,
        parameters,
    )


def _sweep_values(
    coord: Any,
    n: int,
    angle_range: tuple[float, float] | None,
    angles: Sequence[float] | np.ndarray | None,
) -> np.ndarray:
    if angles is not None:
        values = np.asarray(angles, dtype=float).reshape(-1)
        if values.size == 0 or not np.all(np.isfinite(values)):
            raise ValueError("angles must be a non-empty sequence of finite values (rad)")
        return values
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    lo, hi = angle_range if angle_range is not None else (coord.getRangeMin(), coord.getRangeMax())
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"angle_range must be finite with min < max, got ({lo}, {hi}) rad")
    if lo < coord.getRangeMin() - _SET_TOLERANCE or hi > coord.getRangeMax() + _SET_TOLERANCE:
        log.warning(
            "sweeping %s over [%g, %g] rad, beyond its range in the model [%g, %g] rad",
            coord.getName(),
            lo,
            hi,
            coord.getRangeMin(),
            coord.getRangeMax(),
        )
    return np.linspace(lo, hi, n)


def _muscles(model: Any, muscles: Sequence[str] | None, path: Path) -> tuple[list[str], list[Any]]:
    """The muscles to sample, names and objects (default all, in model order)."""
    muscle_set = model.getMuscles()
    model_muscles = _names(muscle_set)
    names = list(model_muscles if muscles is None else muscles)
    missing = [m for m in names if not muscle_set.contains(m)]
    if missing:
        raise OsimModelError(
            f"no muscle named {', '.join(repr(m) for m in missing)}; the model has muscles: "
            + ", ".join(model_muscles),
            path=path,
        )
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"muscles must be distinct names, at least one; got {names}")
    return names, [muscle_set.get(m) for m in names]


def _sample(
    osim: Any,
    model: Any,
    state: Any,
    path: Path,
    sha: str,
    coordinate: str,
    muscles: Sequence[str] | None,
    locked: Mapping[str, float],
    n: int,
    angle_range: tuple[float, float] | None,
    angles: Sequence[float] | np.ndarray | None,
    parameters: Sequence[str],
) -> GeometrySamples:
    coordinate_set = model.getCoordinateSet()
    available = _names(coordinate_set)
    if not coordinate_set.contains(coordinate):
        raise OsimModelError(
            f"no coordinate named '{coordinate}'; the model has coordinates: "
            + ", ".join(available),
            path=path,
        )
    locked = held_values(model, locked, coordinate, path)
    coord = coordinate_set.get(coordinate)
    if coord.getMotionType() == osim.Coordinate.Translational:
        raise OsimModelError(
            f"coordinate '{coordinate}' is translational; geometry is fitted over an angle",
            path=path,
        )

    names, muscle_objs = _muscles(model, muscles, path)
    values = _sweep_values(coord, n, angle_range, angles)

    for name, value in locked.items():
        _set_coordinate(coordinate_set.get(name), state, float(value), path)
    held = {c: float(coordinate_set.get(c).getValue(state)) for c in available if c != coordinate}

    def realize(q: float) -> None:
        _set_coordinate(coord, state, q, path)
        model.realizePosition(state)

    lengths = np.empty((values.size, len(names)))
    moment_arms = np.empty_like(lengths)
    for k, q in enumerate(values):
        realize(float(q))
        for j, muscle in enumerate(muscle_objs):
            lengths[k, j] = muscle.getLength(state)
            moment_arms[k, j] = muscle.computeMomentArm(state, coord)

    events = {
        m: _path_events(muscle, state, realize, values)
        for m, muscle in zip(names, muscle_objs, strict=True)
    }

    params = {
        key: tuple(float(PARAMETER_READERS[key](muscle)) for muscle in muscle_objs)
        for key in parameters
    }
    joint = coord.getJoint()
    return GeometrySamples(
        osim_path=str(path),
        sha256=sha,
        model_name=model.getName(),
        opensim_version=str(getattr(osim, "__version__", "unknown")),
        coordinate=coordinate,
        coordinate_range=(float(coord.getRangeMin()), float(coord.getRangeMax())),
        joint=joint.getName(),
        parent_body=joint.getParentFrame().findBaseFrame().getName(),
        child_body=joint.getChildFrame().findBaseFrame().getName(),
        locked={k: float(v) for k, v in locked.items()},
        held_coordinates=held,
        muscle_names=tuple(names),
        muscle_classes=tuple(m.getConcreteClassName() for m in muscle_objs),
        angles=values,
        lengths=lengths,
        moment_arms=moment_arms,
        muscle_parameters=params,
        path_events=events,
    )


def _path_events(muscle: Any, state: Any, realize: Any, values: np.ndarray) -> tuple[float, ...]:
    """Angles where the muscle's point sequence changes, bisected between sorted samples."""
    grid = np.unique(values)

    def topology(q: float) -> tuple[str, ...] | None:
        realize(q)
        return _path_topology(muscle, state)

    tops = [topology(float(q)) for q in grid]
    if tops[0] is None:
        return ()
    events = []
    for k in range(grid.size - 1):
        if tops[k] == tops[k + 1]:
            continue
        lo, hi, top_lo = float(grid[k]), float(grid[k + 1]), tops[k]
        while hi - lo > _EVENT_TOLERANCE:
            mid = 0.5 * (lo + hi)
            if topology(mid) == top_lo:
                lo = mid
            else:
                hi = mid
        events.append(0.5 * (lo + hi))
    return tuple(events)
