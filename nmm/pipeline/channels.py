"""Reconstructed deep-muscle envelopes as extra channels of recorded trials, for the pain
signature (measured channels alone vs measured + reconstructed)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nmm.data.io.sto import read_sto
from nmm.data.schema import Signal, Trial

__all__ = ["ReconstructedChannels"]


class ReconstructedChannels:
    """Adds the reconstructed envelopes of ``muscles`` to a processed trial's envelope stream.

    The envelopes are read from a predictions folder written by
    :func:`nmm.model.reconstruct.write_outputs`
    (``envelopes/<subject>/<session>_<trial>_envelopes.sto``, normalised 0-1) and interpolated
    linearly onto the trial's envelope grid (held at the end values outside the reconstructed
    span). Callable on a :class:`Trial`; a trial with no reconstruction, or a muscle the file
    lacks, is an error naming the file.

    Args:
        predictions: the predictions folder.
        muscles: the reconstructed muscles to add (e.g. the hidden ones, ``BRA``, ``TRImed``).
        suffix: appended to each added channel's name (``""``: the muscle name itself).
    """

    def __init__(
        self, predictions: str | os.PathLike[str], muscles: Sequence[str], suffix: str = ""
    ) -> None:
        self.predictions = Path(predictions)
        self.muscles = tuple(muscles)
        self.suffix = suffix
        if not self.predictions.is_dir():
            raise FileNotFoundError(f"{self.predictions}: no predictions folder")

    def path(self, trial: Trial) -> Path:
        """The envelope file of ``trial``."""
        name = f"{trial.session}_{trial.trial_id}_envelopes.sto"
        return self.predictions / "envelopes" / trial.subject / name

    def __call__(self, trial: Trial) -> Trial:
        env = trial.envelope
        if env is None:
            raise ValueError(f"{trial.source or trial.trial_id}: no envelope stream to extend")
        path = self.path(trial)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no reconstruction of trial {trial.trial_id}")
        table = read_sto(path)
        names = [m + self.suffix for m in self.muscles]
        clash = set(names) & set(env.channels)
        if clash:
            raise ValueError(f"{path}: channels {sorted(clash)} are already recorded")
        cols = [np.interp(env.time, table.time, table.column(m)) for m in self.muscles]
        extended = Signal(
            env.time,
            np.column_stack([env.values, *cols]),
            (*env.channels, *names),
            (*env.units, *["1"] * len(names)),
            env.rate,
            env.kind,
            env.source,
        )
        return dataclasses.replace(trial, envelope=extended)
