"""Scaled variants of arm26 for the per-subject model tests, written with OpenSim itself."""

from __future__ import annotations

from pathlib import Path


def scaled_arm26(src: Path, dst: Path, factor: float, f0_factor: float = 1.0) -> Path:
    """arm26 with its arm segments scaled by ``factor`` (OpenSim ``Model.scale``: bodies, joint
    frames, path points, wrap objects, fibre and tendon lengths), F0 times ``f0_factor``."""
    import opensim as osim  # the callers skip without OpenSim

    osim.Logger.setLevelString("Error")
    model = osim.Model(str(src))
    state = model.initSystem()
    scales = osim.ScaleSet()
    for body in ("r_humerus", "r_ulna_radius_hand"):
        scale = osim.Scale()
        scale.setSegmentName(body)
        scale.setScaleFactors(osim.Vec3(factor, factor, factor))
        scale.setApply(True)
        scales.cloneAndAppend(scale)
    model.scale(state, scales, True)
    muscles = model.updMuscles()
    for i in range(muscles.getSize()):
        m = muscles.get(i)
        m.setMaxIsometricForce(m.getMaxIsometricForce() * f0_factor)
    model.printToXML(str(dst))
    return dst
