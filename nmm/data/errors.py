"""Exceptions of the data layer: each names the file and the channel so a researcher can act."""

from __future__ import annotations


def _where(source: str | None, channel: str | None) -> str:
    parts = []
    if source:
        parts.append(f"file '{source}'")
    if channel:
        parts.append(f"channel '{channel}'")
    return (", ".join(parts) + ": ") if parts else ""


class DataValidationError(ValueError):
    """A recording violates the data model (time, lengths, finiteness, units, channel names)."""

    def __init__(self, message: str, *, source: str | None = None, channel: str | None = None):
        self.source = source
        self.channel = channel
        self.reason = message
        super().__init__(_where(source, channel) + message)


class ReaderError(ValueError):
    """A file cannot be read as the format it claims to be."""

    def __init__(self, message: str, *, source: str | None = None, channel: str | None = None):
        self.source = source
        self.channel = channel
        self.reason = message
        super().__init__(_where(source, channel) + message)
