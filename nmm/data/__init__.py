"""Recordings in, validated trials out: the data model, readers/writers and preprocessing."""

from nmm.data.errors import DataValidationError, ReaderError
from nmm.data.muscles import MuscleSet, get_muscle_set
from nmm.data.schema import Cohort, Load, Signal, Subject, Trial

__all__ = [
    "Cohort",
    "DataValidationError",
    "Load",
    "MuscleSet",
    "ReaderError",
    "Signal",
    "Subject",
    "Trial",
    "get_muscle_set",
]
