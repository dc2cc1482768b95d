"""The generic model of a synthetic cohort: the source ``.osim`` with a variant's muscle changes.

A variant may change the generic model a study would give its NMM (``posture.tendon_slack_scale``
of ``shoulder_elevated``: docs/cohort_family.md); subjects' parameters are drawn as factors on
the generic model's, and the dataset carries the generic model when it differs from the source.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nmm.opensim.arm_model import ArmModelSpec, import_opensim
from nmm.synth.config import SynthConfigError, check_model_muscles, check_shoulder_range
from nmm.synth.settings import PostureSettings, SynthSettings

__all__ = [
    "check_source_model",
    "generic_model_changes",
    "generic_muscles",
    "write_generic_model",
]


def check_source_model(settings: SynthSettings, model: Any) -> None:
    """SynthConfigError unless the (finalised) source model has every configured muscle and a
    shoulder coordinate whose range holds the configured shoulder elevation."""
    muscles = model.getMuscles()
    have = [muscles.get(i).getName() for i in range(muscles.getSize())]
    check_model_muscles(settings.muscles, have, settings.osim)
    name = ArmModelSpec.shoulder_coordinate  # the default: arm26's r_shoulder_elev
    coords = model.getCoordinateSet()
    if not coords.contains(name):
        raise SynthConfigError(
            f"synth.posture: the model {settings.osim} has no shoulder coordinate '{name}'"
        )
    coord = coords.get(name)
    elevation = settings.posture.shoulder_elevation_deg
    check_shoulder_range(
        elevation.min,
        elevation.max,
        (coord.getRangeMin(), coord.getRangeMax()),
        name,
        settings.osim,
    )


def generic_muscles(
    source: Mapping[str, Mapping[str, float]], posture: PostureSettings
) -> dict[str, dict[str, float]]:
    """The generic model's muscle properties (N, m): the source ``.osim``'s, with each
    ``tendon_slack_length`` in ``posture.tendon_slack_scale`` ({muscle: factor}) scaled.
    Subjects' factors are drawn on these."""
    out = {m: dict(props) for m, props in source.items()}
    for muscle, factor in posture.tendon_slack_scale.items():
        out[muscle]["tendon_slack_length"] *= factor
    return out


def generic_model_changes(
    source: Mapping[str, Mapping[str, float]], generic: Mapping[str, Mapping[str, float]]
) -> dict[str, dict[str, dict[str, float]]]:
    """``{"changed": {muscle: {property: {"source": v, "generic": v}}}}`` where the generic
    model differs from the source ``.osim`` (N, m); empty when it does not."""
    changed: dict[str, dict[str, dict[str, float]]] = {}
    for muscle, props in generic.items():
        for key, value in props.items():
            if value != source[muscle][key]:
                changed.setdefault(muscle, {})[key] = {
                    "source": source[muscle][key],
                    "generic": value,
                }
    return {"changed": changed} if changed else {}


#: OpenSim setters of the muscle properties a generic model may change.
_SETTERS: Mapping[str, str] = {
    "max_isometric_force": "setMaxIsometricForce",
    "optimal_fiber_length": "setOptimalFiberLength",
    "tendon_slack_length": "setTendonSlackLength",
}


def write_generic_model(osim_path: str, changes: Mapping[str, Any], path: Path) -> Path:
    """Write the source ``.osim`` with the changes of :func:`generic_model_changes` applied:
    the model a study would give its NMM (joints, muscle types and paths as in the source).
    Returns path."""
    osim = import_opensim()
    model = osim.Model(osim_path)
    model.finalizeFromProperties()
    muscles = model.updMuscles()
    for name, props in changes["changed"].items():
        for key, values in props.items():
            getattr(muscles.get(name), _SETTERS[key])(float(values["generic"]))
    model.setName(f"{model.getName()}_generic")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.printToXML(str(path))
    return path
