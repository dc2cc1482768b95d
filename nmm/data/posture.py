"""Each subject's recorded posture: the coordinates its arm was held at during the recording.

A subject's metadata may hold ``locked: {coordinate: value}`` (rad for a rotational coordinate,
m for a translational one; the mapping ``physics.locked`` takes), e.g. the shoulder elevation of
a seated protocol (``nmm-synth``'s ``shoulder_elevated`` cohort writes it;
``data=study``'s ``subject.yaml`` takes it). The NMM samples that subject's elbow at it
(:func:`nmm.opensim.torch_elbow.subject_elbows`) and ``nmm-validate`` holds the subject's
OpenSim twin there. A subject without one has the run's ``physics.locked``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from nmm.data.errors import DataValidationError
from nmm.data.schema import Cohort

__all__ = ["POSTURE_KEY", "cohort_postures", "posture_of"]

#: The subject metadata key of a recorded posture.
POSTURE_KEY = "locked"


def posture_of(subject_id: str, metadata: Mapping[str, object]) -> dict[str, float] | None:
    """The recorded posture in ``metadata`` as ``{coordinate: value}`` (rad or m), or None.

    Raises:
        DataValidationError: it is not a mapping of coordinate names to finite numbers (the
            message names the subject).
    """
    posture = metadata.get(POSTURE_KEY)
    if posture is None:
        return None
    if not isinstance(posture, Mapping) or not posture:
        raise DataValidationError(
            f"subject '{subject_id}': '{POSTURE_KEY}' must map coordinate names to values "
            f"(rad or m), got {posture!r}"
        )
    out: dict[str, float] = {}
    for name, value in posture.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not isinstance(name, str) or not ok or not math.isfinite(float(value)):
            raise DataValidationError(
                f"subject '{subject_id}': '{POSTURE_KEY}' value of {name!r} must be a finite "
                f"number (rad or m), got {value!r}"
            )
        out[name] = float(value)
    return out


def cohort_postures(cohort: Cohort) -> dict[str, dict[str, float]]:
    """``{subject: posture}`` of the subjects of ``cohort`` that record one
    (:func:`posture_of`); empty when none does."""
    out = {}
    for sid, subject in cohort.subjects.items():
        posture = posture_of(sid, subject.metadata)
        if posture is not None:
            out[sid] = posture
    return out
