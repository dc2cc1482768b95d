"""Exceptions of the data layer: each names the file and the channel so a researcher can act."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _where(source: str | None, channel: str | None) -> str:
    parts = []
    if source:
        parts.append(f"file '{source}'")
    if channel:
        parts.append(f"channel '{channel}'")
    return (", ".join(parts) + ": ") if parts else ""


class _LocatedError(ValueError):
    """A ValueError that knows the file and channel it is about, and names them first."""

    def __init__(self, message: str, *, source: str | None = None, channel: str | None = None):
        self.source = source
        self.channel = channel
        self.reason = message
        super().__init__(_where(source, channel) + message)


class DataValidationError(_LocatedError):
    """A recording violates the data model (time, lengths, finiteness, units, channel names)."""


class ReaderError(_LocatedError):
    """A file cannot be read as the format it claims to be."""


class MissingChannelError(ValueError):
    """A trial lacks a channel the model needs (an input muscle, kinematics, ...)."""


@contextmanager
def naming_file(source: str) -> Iterator[None]:
    """Within the block, a DataValidationError that names no file is raised again naming `source`
    (the data model's own checks, e.g. of a Subject or a Load, do not know the file)."""
    try:
        yield
    except DataValidationError as exc:
        if exc.source:
            raise
        raise DataValidationError(exc.reason, source=source, channel=exc.channel) from exc
