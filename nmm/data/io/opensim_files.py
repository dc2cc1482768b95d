"""Build a Trial from the files OpenSim users have: IK `.mot`, ID `.sto`, and EMG."""

from __future__ import annotations

import math
import os
from typing import Any

from nmm.data.errors import ReaderError
from nmm.data.io.sto import read_sto
from nmm.data.muscles import MuscleSet
from nmm.data.schema import Load, Signal, Trial


def read_coordinate(
    path: str | os.PathLike[str], coordinate: str, allow_gaps: bool = False
) -> Signal:
    """Kinematics Signal of one coordinate from an IK `.mot`/`.sto`, in rad.

    Degrees are converted when the header says `inDegrees=yes`. allow_gaps: accept rows missing
    mid-file (see Signal); by default they are a DataValidationError.
    """
    table = read_sto(path)
    angle = table.column(coordinate)
    if table.in_degrees:
        angle = angle * (math.pi / 180.0)
    return Signal(
        table.time,
        angle,
        (coordinate,),
        ("rad",),
        table.rate,
        "kinematics",
        table.source,
        allow_gaps,
    )


def read_moment(
    path: str | os.PathLike[str],
    coordinate: str,
    column: str | None = None,
    allow_gaps: bool = False,
) -> Signal:
    """Torque Signal `<coordinate>_moment` (N·m) from an inverse-dynamics `.sto`.

    column: the label in the file; default `<coordinate>_moment` as OpenSim's
    InverseDynamicsTool writes it. allow_gaps: as in `read_coordinate`.
    """
    table = read_sto(path)
    column = column or f"{coordinate}_moment"
    if table.in_degrees:
        raise ReaderError(
            "inverse-dynamics file claims inDegrees=yes; moments must be N·m",
            source=table.source,
            channel=column,
        )
    return Signal(
        table.time,
        table.column(column),
        (f"{coordinate}_moment",),
        ("N·m",),
        table.rate,
        "torque",
        table.source,
        allow_gaps,
    )


def trial_from_opensim(
    *,
    subject: str,
    trial_id: str,
    kinematics: str | os.PathLike[str],
    torque: str | os.PathLike[str] | None = None,
    coordinate: str = "elbow_flexion",
    emg: Signal | None = None,
    muscle_set: MuscleSet | str = "elbow",
    load: Load | None = None,
    condition: str = "baseline",
    session: str = "1",
    metadata: dict[str, Any] | None = None,
    allow_gaps: bool = False,
) -> Trial:
    """A Trial from an IK file, an optional ID file and an optional EMG Signal.

    allow_gaps: accept rows missing mid-file in the IK and ID files (see Signal).
    """
    return Trial(
        subject=subject,
        trial_id=trial_id,
        muscle_set=muscle_set,
        emg=emg,
        kinematics=read_coordinate(kinematics, coordinate, allow_gaps),
        torque=read_moment(torque, coordinate, allow_gaps=allow_gaps)
        if torque is not None
        else None,
        load=load or Load(),
        condition=condition,
        session=session,
        coordinate=coordinate,
        source=str(kinematics),
        metadata=dict(metadata or {}),
    )
