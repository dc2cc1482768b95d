"""The study-wide settings of a study folder: its ``study.yaml`` (layout: :mod:`nmm.data.io.study`).

:class:`StudyLayout` holds what every subject of the study shares: the elbow coordinate's names,
the muscle set and the EMG channel map, the kind and unit of the EMG files, the mains frequency
and where the load sits on the subjects' models. :func:`read_layout` reads it strictly (unknown
keys are refused, naming the key), :meth:`StudyLayout.to_document` writes it back.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nmm.data.errors import ReaderError
from nmm.data.io.textfile import Fields, load_yaml
from nmm.data.muscles import get_muscle_set
from nmm.data.units import canonical_unit

FORMAT = "nmm-study"
VERSION = 1
STUDY_FILE = "study.yaml"
SUBJECT_FILE = "subject.yaml"
EMG_KINDS = ("raw", "envelope")
RAW_EMG_UNITS = ("V", "mV", "uV")
_KEYS = (
    "format",
    "version",
    "name",
    "muscle_set",
    "coordinate",
    "emg",
    "mains_hz",
    "load",
    "subjects",
)


@dataclass(frozen=True)
class StudyLayout:
    """What the subjects of a study share.

    name: the cohort's name. muscle_set: the muscle set (``nmm/data/muscle_sets.yaml``) the EMG
    channels map onto. model_coordinate: the elbow coordinate of the subjects' models, the
    column of the IK ``.mot`` (and ``<model_coordinate>_moment`` of the ID ``.sto``);
    data_coordinate: the name the trials carry (``Trial.coordinate``, ``data.coordinate``).
    emg_kind: ``raw`` (V/mV/uV: the preprocessing chain makes the envelopes) or ``envelope``
    (processed, unit 1: used as given). emg_unit: the unit of raw EMG in ``.sto``/CSV files
    (C3D files carry their own). channels: EMG file label -> muscle (None: labels are muscle
    names or aliases). mains_hz: the mains frequency where the study was recorded, Hz (None:
    not stated). load_body: the body of the subjects' models that holds the load; load_direction:
    unit vector in that body's frame from its origin (the elbow) to the grip; lever_arm_m: the
    grip's distance from the elbow, m, where neither the subject nor the trial gives one (None:
    the run's default). subjects: subject folders in order (empty: every folder holding a
    ``subject.yaml``, sorted).
    """

    name: str
    muscle_set: str = "elbow"
    model_coordinate: str = "r_elbow_flex"
    data_coordinate: str = "elbow_flexion"
    emg_kind: str = "raw"
    emg_unit: str = "mV"
    channels: dict[str, str] | None = None
    mains_hz: float | None = None
    load_body: str = "r_ulna_radius_hand"
    load_direction: tuple[float, float, float] = (0.0, -1.0, 0.0)
    lever_arm_m: float | None = None
    subjects: tuple[str, ...] = field(default_factory=tuple)

    def to_document(self) -> dict[str, Any]:
        """The ``study.yaml`` mapping of this layout (plain data for ``yaml.safe_dump``)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "muscle_set": self.muscle_set,
            "coordinate": {"model": self.model_coordinate, "data": self.data_coordinate},
            "emg": {"kind": self.emg_kind, "unit": self.emg_unit, "channels": self.channels},
            "mains_hz": self.mains_hz,
            "load": {
                "body": self.load_body,
                "direction": [float(v) for v in self.load_direction],
                "lever_arm_m": self.lever_arm_m,
            },
            "subjects": list(self.subjects),
        }


def read_layout(root: str | os.PathLike[str]) -> StudyLayout:
    """The :class:`StudyLayout` of the study folder ``root`` (its ``study.yaml``).

    Raises:
        ReaderError: naming ``study.yaml`` and the key: not a study file, an unknown version or
            key, a value of the wrong type or out of range.
    """
    root = Path(root)
    src = str(root / STUDY_FILE)
    document = load_yaml(root / STUDY_FILE, final_newline=False)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ReaderError(f"not a study file (expected format: {FORMAT})", source=src)
    spec = Fields(document, src).only(_KEYS)
    if spec.value.get("version") != VERSION:
        raise spec.error(
            "version",
            f"{spec.value.get('version')!r:.20} is not supported "
            f"(this reader knows version {VERSION})",
        )
    coordinate = spec.mapping("coordinate", {}).only(("model", "data"))
    emg = spec.mapping("emg", {}).only(("kind", "unit", "channels"))
    load = spec.mapping("load", {}).only(("body", "direction", "lever_arm_m"))
    return StudyLayout(
        name=spec.text("name", root.resolve().name),
        muscle_set=_muscle_set(spec),
        model_coordinate=coordinate.text("model", StudyLayout.model_coordinate),
        data_coordinate=coordinate.text("data", StudyLayout.data_coordinate),
        emg_kind=_choice(emg, "kind", EMG_KINDS, "raw"),
        emg_unit=_raw_unit(emg),
        channels=_channels(emg),
        mains_hz=_positive(spec, "mains_hz"),
        load_body=load.text("body", StudyLayout.load_body),
        load_direction=_direction(load),
        lever_arm_m=_positive(load, "lever_arm_m"),
        subjects=tuple(_names(spec, "subjects")),
    )


def _muscle_set(spec: Fields) -> str:
    name = spec.text("muscle_set", "elbow")
    try:
        get_muscle_set(name)
    except ValueError as exc:
        raise spec.error("muscle_set", str(exc)) from None
    return name


def _choice(spec: Fields, key: str, allowed: tuple[str, ...], default: str) -> str:
    value = spec.text(key, default)
    if value not in allowed:
        raise spec.error(key, f"'{value}' is not one of {', '.join(allowed)}")
    return value


def _raw_unit(emg: Fields) -> str:
    unit = emg.text("unit", "mV")
    try:
        unit = canonical_unit(unit)
    except ValueError:
        unit = ""
    if unit not in RAW_EMG_UNITS:
        raise emg.error(
            "unit", f"'{emg.text('unit')}' is not a unit of raw EMG ({', '.join(RAW_EMG_UNITS)})"
        )
    return unit


def _channels(emg: Fields) -> dict[str, str] | None:
    if "channels" not in emg:
        return None
    channels = emg.mapping("channels")
    mapping = {label: channels.text(label) for label in channels.names()}
    if not mapping:
        raise emg.error("channels", "empty: map each EMG label to a muscle, or write null")
    return mapping


def _positive(spec: Fields, key: str) -> float | None:
    value = spec.number(key, None)
    if value is not None and value <= 0:
        raise spec.error(key, f"must be > 0, got {value}")
    return value


def _direction(load: Fields) -> tuple[float, float, float]:
    value = load.value.get("direction", list(StudyLayout.load_direction))
    ok = (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    )
    norm = math.sqrt(sum(float(v) ** 2 for v in value)) if ok else 0.0
    if not ok or not math.isclose(norm, 1.0, rel_tol=1e-6):
        raise load.error("direction", f"expected a unit vector [x, y, z], got {value!r:.60}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _names(spec: Fields, key: str) -> list[str]:
    value = spec.value.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise spec.error(key, f"expected a list of names, got {value!r:.60}")
    return [str(v) for v in value]
