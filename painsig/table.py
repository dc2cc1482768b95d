"""Feature table: one row per epoch, one column per channel × feature, plus who/when columns."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from painsig.features import FEATURES, extract_features
from painsig.segment import Epoch

log = logging.getLogger(__name__)

META_COLUMNS = ("subject", "trial_id", "session", "condition", "start_s", "stop_s", "duration_s")


def feature_table(
    epochs: Sequence[Epoch],
    channels: Sequence[str] | None = None,
    mvic: float | Mapping[str, Mapping[str, float]] | None = None,
    names: Sequence[str] | None = None,
    params: Mapping[str, Any] | None = None,
    on_invalid: str = "drop",
) -> pd.DataFrame:
    """Features of every epoch and channel: columns `<channel>_<feature>` and META_COLUMNS.

    names: registered features (:data:`painsig.features.FEATURES`), None: all of them.
    params: their parameters by key (e.g. ``{"apen_m": 2}``), defaults for the rest.
    mvic: the reference of the features that need one (`peak`): one number for all (1.0 for
    envelopes that are already MVIC-normalised), or {subject: {channel: value}}; None leaves
    those features out.
    An epoch invalid on any channel (NaN, too short) is dropped with a logged reason
    (`on_invalid="drop"`) or raises (`"raise"`).
    """
    if not epochs:
        raise ValueError("no epochs to describe: segmentation found no contraction")
    channels = tuple(channels or epochs[0].channels)
    rates = {e.rate for e in epochs}
    if len(rates) != 1:
        raise ValueError(f"epochs have different sampling rates {sorted(rates)}: resample first")
    fs = rates.pop()
    feature_names = FEATURES.available(names or None, has_reference=mvic is not None)
    blocks = []
    for ch in channels:
        missing = [i for i, e in enumerate(epochs) if ch not in e.channels]
        if missing:
            raise ValueError(
                f"channel '{ch}' missing from epoch {missing[0]} "
                f"({epochs[missing[0]].subject}/{epochs[missing[0]].trial_id})"
            )
        parts = []
        for subject in dict.fromkeys(e.subject for e in epochs):
            idx = [i for i, e in enumerate(epochs) if e.subject == subject]
            ref = mvic if not isinstance(mvic, Mapping) else _subject_mvic(mvic, subject, ch)
            x = [epochs[i].values[:, epochs[i].channels.index(ch)] for i in idx]
            part = extract_features(
                x,
                fs,
                mvic=ref,
                names=feature_names,
                on_invalid=on_invalid,
                **(params or {}),
            )
            part.index = [idx[k] for k in part.index]
            parts.append(part)
        block = pd.concat(parts).sort_index()
        blocks.append(block.add_prefix(f"{ch}_"))
    table = pd.concat(blocks, axis=1, join="inner")
    dropped = len(epochs) - len(table)
    if dropped:
        log.warning(
            "%d of %d epochs dropped (invalid on at least one channel)", dropped, len(epochs)
        )
    meta = pd.DataFrame(
        [
            {
                "subject": e.subject,
                "trial_id": e.trial_id,
                "session": e.session,
                "condition": e.condition,
                "start_s": e.start_s,
                "stop_s": e.stop_s,
                "duration_s": e.duration_s,
            }
            for e in epochs
        ]
    )
    out = meta.loc[table.index].join(table)
    out.index.name = "epoch"
    return out


def _subject_mvic(mvic: Mapping[str, Mapping[str, float]], subject: str, channel: str) -> float:
    try:
        return float(mvic[subject][channel])
    except KeyError:
        raise ValueError(
            f"no MVIC reference for subject '{subject}', channel '{channel}'"
        ) from None


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a feature table (everything but META_COLUMNS)."""
    return [c for c in table.columns if c not in META_COLUMNS]
