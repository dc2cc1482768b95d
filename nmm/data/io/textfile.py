"""Guards shared by the readers of text files: limits checked before parsing, strict decoding,
the final-line-break rule, and typed access to YAML mappings.

Limits, checked on the file's size and raw bytes before anything parses them:

- ``MAX_YAML_BYTES`` (8 MiB) for a dataset manifest or a CSV schema: a manifest of 10,000 trials
  takes about 6 MiB, and PyYAML parses about 1 MiB/s;
- ``MAX_TEXT_BYTES`` (1 GiB) for a recording stored as text (.sto, .mot, .csv, UCI .txt);
- ``MAX_LINE_BYTES`` (1 MiB) for any one line: a row of 1,000 channels at 25 characters each is
  25 KiB, so a longer line is damage (a lost line break) or not a recording.

No text format read here holds NUL bytes: one is damage (a zeroed block), refused before parsers
that would stop at it or read around it.

The final-line-break rule (``final_newline=True``): the file's last byte must be a line break.
Every writer of these formats ends its last row with one (OpenSim, pandas, the UCI files, this
project's writers); a file without one was cut short, possibly inside its last number, which
would otherwise parse as another value (-3.0 for -3.32306483) without a word.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from nmm.data.errors import ReaderError

MAX_YAML_BYTES = 8 * 2**20
MAX_TEXT_BYTES = 2**30
MAX_LINE_BYTES = 2**20
# libyaml's parser when PyYAML was built with it (several times faster), else the Python one
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_text(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_TEXT_BYTES,
    encoding: str = "utf-8-sig",
    final_newline: bool = True,
) -> str:
    """The text of `path`, after the checks above; ReaderError naming the file otherwise.

    max_bytes: size limit, bytes; encoding: 'utf-8-sig' (UTF-8, a byte-order mark dropped) or a
    single-byte encoding such as 'latin-1'; final_newline: apply the final-line-break rule.
    """
    path = Path(path)
    src = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ReaderError(
                f"file is {size:,} bytes, over the limit of {max_bytes:,} for this kind of file",
                source=src,
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ReaderError(f"cannot read file: {exc}", source=src) from exc
    if not raw:
        raise ReaderError("file is empty", source=src)
    breaks = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == ord("\n"))
    longest = int(np.diff(breaks, prepend=-1, append=len(raw)).max()) - 1
    if longest > MAX_LINE_BYTES:
        raise ReaderError(
            f"a line of {longest:,} bytes, over the limit of {MAX_LINE_BYTES:,}: not a text "
            "recording, or its line breaks are lost",
            source=src,
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ReaderError(
            f"a NUL byte at offset {nul}: damaged (zeroed bytes), or not a text file", source=src
        )
    if final_newline and raw[-1:] not in (b"\n", b"\r"):
        raise ReaderError(
            "the file does not end with a line break: it was cut short, possibly inside its last "
            "value (if the file is complete, add a line break at its end)",
            source=src,
        )
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ReaderError(
            f"not {encoding.removesuffix('-sig').upper()} text: byte {raw[exc.start]:#04x} at "
            f"offset {exc.start}",
            source=src,
        ) from None


def load_yaml(path: str | os.PathLike[str], *, final_newline: bool) -> Any:
    """The YAML document in `path` (safe loader: plain data only), within ``MAX_YAML_BYTES``."""
    text = read_text(path, max_bytes=MAX_YAML_BYTES, final_newline=final_newline)
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise ReaderError(f"not valid YAML: {exc}", source=str(path)) from None
    except RecursionError:
        raise ReaderError("YAML nested too deeply to read", source=str(path)) from None


_MISSING = object()


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r:.40}"


class Fields:
    """A YAML mapping read through typed accessors; every error is a ReaderError naming the file
    and the key's path in it (``trials[2].streams.emg.file``).

    Each accessor takes the key and an optional default, returned when the key is absent or
    null; without a default the key is required.
    """

    def __init__(self, value: Any, source: str, path: str = "") -> None:
        if not isinstance(value, dict):
            where = f"key '{path}'" if path else "the document"
            raise ReaderError(f"{where} must be a mapping, got {_kind(value)}", source=source)
        self.value = value
        self.source = source
        self.path = path

    def key_path(self, key: object) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def error(self, key: object, message: str) -> ReaderError:
        """A ReaderError about `key` of this mapping."""
        return ReaderError(f"key '{self.key_path(key)}': {message}", source=self.source)

    def __contains__(self, key: object) -> bool:
        return self.value.get(key) is not None

    def _get(self, key: str, default: Any) -> Any:
        value = self.value.get(key)
        if value is None and default is _MISSING:
            raise self.error(key, "missing")
        return value

    def text(self, key: str, default: Any = _MISSING) -> str:
        """A string (numbers are taken as their text, as YAML reads `id: 01` as 1)."""
        value = self._get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(key, f"expected text, got {_kind(value)}")
        return str(value)

    def number(self, key: str, default: Any = _MISSING) -> float:
        """A finite number."""
        value = self._get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        if not math.isfinite(value):
            raise self.error(key, f"expected a finite number, got {value}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        """true or false."""
        value = self._get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def mapping(self, key: str, default: Any = _MISSING) -> Fields:
        """A nested mapping, read through its own Fields (an absent one reads as `default`)."""
        value = self._get(key, default)
        return Fields({} if value is None else value, self.source, self.key_path(key))

    def plain(self, key: str) -> dict[str, Any]:
        """A free-form mapping (metadata) as a dict; absent or null gives {}."""
        return dict(self.mapping(key, {}).value)

    def sequence(self, key: str) -> Iterator[Fields]:
        """The mappings of a list (absent or null: none)."""
        value = self._get(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        for i, item in enumerate(value):
            yield Fields(item, self.source, f"{self.key_path(key)}[{i}]")

    def names(self) -> list[str]:
        """The keys, which must be text (names of channels, streams, muscles)."""
        bad = [k for k in self.value if not isinstance(k, str)]
        if bad:
            raise self.error(bad[0], "expected a name (text) as key")
        return list(self.value)

    def only(self, allowed: tuple[str, ...]) -> Fields:
        """Self, after checking that every key is one of `allowed` (a typo is not ignored)."""
        unknown = [k for k in self.value if k not in allowed]
        if unknown:
            raise self.error(unknown[0], f"unknown key (allowed: {', '.join(allowed)})")
        return self
