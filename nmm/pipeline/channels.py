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

__all__ = ["STREAMS", "ReconstructedChannels"]

#: The reconstructed streams a predictions folder holds per trial (``<stem>_<stream>.sto``).
STREAMS = ("envelopes", "excitation", "activation")


class ReconstructedChannels:
    """Adds the reconstructed envelopes of ``muscles`` to a processed trial's envelope stream.

    The envelopes are read from a predictions folder written by
    :func:`nmm.model.reconstruct.write_outputs`
    (``envelopes/<subject>/<session>_<trial>_<stream>.sto``: ``envelopes``, the network's ê
    normalised 0-1, or ``excitation``, u = gain × ê, units 1) and interpolated
    linearly onto the trial's envelope grid (held at the end values outside the reconstructed
    span). Callable on a :class:`Trial`; a trial with no reconstruction, or a muscle the file
    lacks, is an error naming the file.

    Args:
        predictions: the predictions folder.
        muscles: the reconstructed muscles to add (e.g. the hidden ones, ``BRA``, ``TRImed``).
        suffix: appended to each added channel's name (``""``: the muscle name itself).
        stream: which reconstruction is read, one of :data:`STREAMS`.
    """

    def __init__(
        self,
        predictions: str | os.PathLike[str],
        muscles: Sequence[str],
        suffix: str = "",
        stream: str = "envelopes",
    ) -> None:
        if stream not in STREAMS:
            raise ValueError(f"stream {stream!r}: one of {STREAMS}")
        self.predictions = Path(predictions)
        self.muscles = tuple(muscles)
        self.suffix = suffix
        self.stream = stream
        if not self.predictions.is_dir():
            raise FileNotFoundError(f"{self.predictions}: no predictions folder")

    def path(self, trial: Trial) -> Path:
        """The file of ``trial``'s reconstructed stream."""
        name = f"{trial.session}_{trial.trial_id}_{self.stream}.sto"
        return self.predictions / "envelopes" / trial.subject / name

    def signal(self, trial: Trial) -> Signal:
        """The reconstructed ``muscles`` of ``trial`` on its envelope grid (channels named
        with ``suffix``, units 1)."""
        env = trial.envelope
        if env is None:
            raise ValueError(f"{trial.source or trial.trial_id}: no envelope stream to extend")
        path = self.path(trial)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no reconstruction of trial {trial.trial_id}")
        table = read_sto(path)
        cols = [np.interp(env.time, table.time, table.column(m)) for m in self.muscles]
        names = tuple(m + self.suffix for m in self.muscles)
        source = str(path)
        return Signal(
            env.time, np.column_stack(cols), names, ("1",) * len(names), env.rate, env.kind, source
        )

    def __call__(self, trial: Trial) -> Trial:
        env = trial.envelope
        added = self.signal(trial)
        clash = set(added.channels) & set(env.channels)
        if clash:
            raise ValueError(f"{added.source}: channels {sorted(clash)} are already recorded")
        extended = Signal(
            env.time,
            np.column_stack([env.values, added.values]),
            (*env.channels, *added.channels),
            (*env.units, *added.units),
            env.rate,
            env.kind,
            env.source,
        )
        return dataclasses.replace(trial, envelope=extended)
