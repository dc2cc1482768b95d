"""A subject's arm as an OpenSim model: arm26 with a welded shoulder, a tilted base and a load.

The synthetic cohort (:mod:`nmm.synth`) takes its ground truth from OpenSim, so each subject
gets its own copy of the user's ``.osim`` (arm26 by default), changed in four ways:

1. **Posture.** Moco does not support locked coordinates, so the shoulder joint is replaced by a
   weld that holds the humerus where the shoulder coordinate ``shoulder_elevation`` puts it (the
   weld's parent frame is the humerus pose found by OpenSim at that angle, so any elevation works,
   not only the 0 of ``ModOpReplaceJointsWithWelds``). The whole arm is then tilted by
   ``base_tilt`` (rad, about the ground z axis, i.e. the flexion axis) through the orientation of
   the ground frame of the model's base weld: with the shoulder at 0 and a tilt of 90° the
   subject lies supine, the humerus is horizontal, the forearm starts horizontal at full extension
   and points up at 90° of flexion, so gravity loads the flexors below 90° and the extensors
   above. (Elevating the shoulder instead stretches arm26's TRIlong to 1.4-1.8 optimal fibre
   lengths.)
2. **Segment inertia** of the forearm-hand body from the subject's anthropometry.
3. **Load in the hand**: a point-like body welded to the forearm at ``load_distance`` (m) along
   the forearm's long axis (arm26's ``-y``), absent when the mass is 0.
4. **Muscles**: arm26's Thelen2003 muscles become ``DeGrooteFregly2016Muscle`` (what Moco solves
   with; ``ModOpReplaceMusclesWithDeGrooteFregly2016``) with compliant tendons, and each muscle's
   ``max_isometric_force``, ``optimal_fiber_length`` and ``tendon_slack_length`` are set to the
   subject's values. The tendon strain at maximum isometric force is set back to arm26's 0.033
   unless told otherwise (the replacement would change it to 0.049), and a small fibre damping
   is set, without which MocoInverse with compliant tendons did not converge on arm26.

OpenSim is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmm.opensim.geometry_sampling import OsimModelError

__all__ = [
    "MUSCLE_PROPERTIES",
    "ArmModelSpec",
    "SegmentInertia",
    "build_arm_model",
    "import_opensim",
    "read_muscle_properties",
]

#: Per-muscle properties a subject may change, with OpenSim's getter names.
MUSCLE_PROPERTIES: Mapping[str, str] = {
    "max_isometric_force": "getMaxIsometricForce",  # N
    "optimal_fiber_length": "getOptimalFiberLength",  # m
    "tendon_slack_length": "getTendonSlackLength",  # m
}

LOAD_BODY = "hand_load"


def import_opensim() -> Any:
    """``opensim`` with its log level at ``Error`` (hides per-step info and missing meshes)."""
    try:
        import opensim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "OpenSim 4.6 (pip package 'opensim') is needed to simulate the synthetic cohort"
        ) from exc
    opensim.Logger.setLevelString("Error")
    return opensim


@dataclass(frozen=True)
class SegmentInertia:
    """Mass properties of a rigid segment.

    mass_kg: kg; com_m: distance of the centre of mass from the proximal joint along the long
    axis, m; inertia_kgm2: (Ixx, Iyy, Izz) about the centre of mass in the body frame, kg·m².
    """

    mass_kg: float
    com_m: float
    inertia_kgm2: tuple[float, float, float]


@dataclass(frozen=True)
class ArmModelSpec:
    """Everything that makes one subject's arm model for one load.

    osim_path: the source model (arm26 layout: bodies ``base``, ``r_humerus``,
    ``r_ulna_radius_hand``; joints ``offset`` (ground-base weld), ``r_shoulder``, ``r_elbow``).
    muscles: ``{muscle: {property: value}}`` with keys of :data:`MUSCLE_PROPERTIES` (N, m).
    shoulder_elevation, base_tilt: rad. forearm: forearm-hand inertia, or None to keep the
    model's. load_kg, load_distance_m: load in the hand, kg and m from the elbow.
    tendon_strain: tendon strain at one normalised force (1); fiber_damping: (1).
    activation_time_constant_s, deactivation_time_constant_s: s; activation_smoothing: (1).
    """

    osim_path: str
    muscles: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    shoulder_elevation: float = 0.0
    base_tilt: float = math.pi / 2
    forearm: SegmentInertia | None = None
    load_kg: float = 0.0
    load_distance_m: float = 0.33
    tendon_strain: float = 0.033
    fiber_damping: float = 0.01
    activation_time_constant_s: float = 0.015
    deactivation_time_constant_s: float = 0.060
    activation_smoothing: float = 10.0
    shoulder_joint: str = "r_shoulder"
    shoulder_coordinate: str = "r_shoulder_elev"
    elbow_coordinate: str = "r_elbow_flex"
    forearm_body: str = "r_ulna_radius_hand"
    base_weld: str = "offset"


def _load(osim: Any, path: str | os.PathLike[str]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise OsimModelError("no such model file", path=p)
    try:
        return osim.Model(str(p))
    except Exception as exc:
        raise OsimModelError(f"OpenSim cannot load this model ({exc})", path=p) from exc


def read_muscle_properties(
    osim_path: str | os.PathLike[str], muscles: Sequence[str]
) -> dict[str, dict[str, float]]:
    """``{muscle: {property: value}}`` of the source ``.osim`` (N, m), for the given muscles.

    Raises OsimModelError naming the missing muscle and the model's muscles.
    """
    osim = import_opensim()
    model = _load(osim, osim_path)
    model.finalizeFromProperties()
    mset = model.getMuscles()
    have = [mset.get(i).getName() for i in range(mset.getSize())]
    out = {}
    for name in muscles:
        if name not in have:
            raise OsimModelError(
                f"no muscle named '{name}'; the model has muscles: {', '.join(have)}",
                path=osim_path,
            )
        m = mset.get(name)
        out[name] = {k: float(getattr(m, g)()) for k, g in MUSCLE_PROPERTIES.items()}
    return out


def _weld_shoulder(osim: Any, model: Any, spec: ArmModelSpec) -> None:
    """Replace the shoulder joint by a weld holding the humerus at ``shoulder_elevation``."""
    joints = model.updJointSet()
    if not joints.contains(spec.shoulder_joint):
        raise OsimModelError(f"no joint named '{spec.shoulder_joint}' to weld", path=spec.osim_path)
    state = model.initSystem()
    coord = model.getCoordinateSet().get(spec.shoulder_coordinate)
    coord.setValue(state, float(spec.shoulder_elevation))
    model.realizePosition(state)
    joint = joints.get(spec.shoulder_joint)
    parent = joint.getParentFrame().findBaseFrame()
    child = joint.getChildFrame().findBaseFrame()
    pose = child.findTransformBetween(state, parent)  # child body in its parent body's frame
    rot = pose.R().convertRotationToBodyFixedXYZ()
    pos = pose.p()
    parent_name, child_name = parent.getName(), child.getName()
    joints.remove(joints.getIndex(spec.shoulder_joint))
    bodies = model.updBodySet()
    weld = osim.WeldJoint(
        f"{spec.shoulder_joint}_weld",
        bodies.get(parent_name),
        osim.Vec3(pos.get(0), pos.get(1), pos.get(2)),
        osim.Vec3(rot.get(0), rot.get(1), rot.get(2)),
        bodies.get(child_name),
        osim.Vec3(0.0),
        osim.Vec3(0.0),
    )
    model.addJoint(weld)
    model.finalizeConnections()


def build_arm_model(spec: ArmModelSpec) -> Any:
    """The subject's ``opensim.Model`` (finalised, not yet initialised), as described above.

    Raises OsimModelError for a missing file, joint, body or muscle (naming it), ValueError for a
    negative load or non-positive muscle property.
    """
    osim = import_opensim()
    if not (math.isfinite(spec.load_kg) and spec.load_kg >= 0):
        raise ValueError(f"load mass must be >= 0 kg, got {spec.load_kg}")
    model = _load(osim, spec.osim_path)
    _weld_shoulder(osim, model, spec)

    joints = model.updJointSet()
    if not joints.contains(spec.base_weld):
        raise OsimModelError(f"no base weld joint named '{spec.base_weld}'", path=spec.osim_path)
    ground_frame = osim.PhysicalOffsetFrame.safeDownCast(joints.get(spec.base_weld).upd_frames(0))
    ground_frame.set_orientation(osim.Vec3(0.0, 0.0, float(spec.base_tilt)))

    bodies = model.updBodySet()
    if not bodies.contains(spec.forearm_body):
        raise OsimModelError(f"no body named '{spec.forearm_body}'", path=spec.osim_path)
    forearm = bodies.get(spec.forearm_body)
    if spec.forearm is not None:
        forearm.setMass(float(spec.forearm.mass_kg))
        forearm.setMassCenter(osim.Vec3(0.0, -float(spec.forearm.com_m), 0.0))
        forearm.setInertia(osim.Inertia(*(float(v) for v in spec.forearm.inertia_kgm2)))
    if spec.load_kg > 0:
        # A small sphere-like inertia (radius ~4 cm) keeps the body physical; the load acts
        # through its mass at the hand.
        i_load = 0.4 * spec.load_kg * 0.04**2
        body = osim.Body(LOAD_BODY, float(spec.load_kg), osim.Vec3(0.0), osim.Inertia(i_load))
        weld = osim.WeldJoint(
            f"{LOAD_BODY}_weld",
            forearm,
            osim.Vec3(0.0, -float(spec.load_distance_m), 0.0),
            osim.Vec3(0.0),
            body,
            osim.Vec3(0.0),
            osim.Vec3(0.0),
        )
        model.addBody(body)
        model.addJoint(weld)
    model.finalizeConnections()

    processor = osim.ModelProcessor(model)
    processor.append(osim.ModOpReplaceMusclesWithDeGrooteFregly2016())
    model = processor.process()
    model.finalizeFromProperties()
    mset = model.updMuscles()
    have = [mset.get(i).getName() for i in range(mset.getSize())]
    for name, props in spec.muscles.items():
        if name not in have:
            raise OsimModelError(
                f"no muscle named '{name}'; the model has muscles: {', '.join(have)}",
                path=spec.osim_path,
            )
        for key, value in props.items():
            if key not in MUSCLE_PROPERTIES:
                raise ValueError(
                    f"unknown muscle property '{key}' ({', '.join(MUSCLE_PROPERTIES)})"
                )
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name}.{key} must be > 0, got {value}")
    for i in range(mset.getSize()):
        muscle = osim.DeGrooteFregly2016Muscle.safeDownCast(mset.get(i))
        props = spec.muscles.get(muscle.getName(), {})
        if "max_isometric_force" in props:
            muscle.set_max_isometric_force(float(props["max_isometric_force"]))
        if "optimal_fiber_length" in props:
            muscle.set_optimal_fiber_length(float(props["optimal_fiber_length"]))
        if "tendon_slack_length" in props:
            muscle.set_tendon_slack_length(float(props["tendon_slack_length"]))
        muscle.set_ignore_tendon_compliance(False)
        muscle.set_tendon_strain_at_one_norm_force(float(spec.tendon_strain))
        muscle.set_fiber_damping(float(spec.fiber_damping))
        muscle.set_activation_time_constant(float(spec.activation_time_constant_s))
        muscle.set_deactivation_time_constant(float(spec.deactivation_time_constant_s))
        muscle.set_activation_dynamics_smoothing(float(spec.activation_smoothing))
    model.finalizeFromProperties()
    model.finalizeConnections()
    return model


def set_tendon_mode(model: Any, mode: str) -> None:
    """Set every DeGrooteFregly muscle's tendon compliance dynamics mode ('implicit'|'explicit')."""
    osim = import_opensim()
    mset = model.updMuscles()
    for i in range(mset.getSize()):
        osim.DeGrooteFregly2016Muscle.safeDownCast(mset.get(i)).set_tendon_compliance_dynamics_mode(
            mode
        )
    model.finalizeFromProperties()
