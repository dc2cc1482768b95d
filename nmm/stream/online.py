"""painsig's indices run online over the streamed envelopes (all muscles, deep ones included,
in [0, 1] of MVIC, at the model rate).

- :class:`RunningCoContraction`: the co-contraction of the flexor and extensor groups (each
  the mean of its muscles' envelopes) over the last ``window_s``: Falconer & Winter's CI (%)
  and Rudolph et al.'s CCI (:mod:`painsig.indices.cocontraction`).
- :class:`OnlineContractions`: painsig's EMG-only segmenter (:class:`painsig.segment.
  EmgBurstSegmenter`, the double threshold of :mod:`painsig.bursts`) run over the last
  ``history_s`` of the agonist's envelope at every update. A burst is complete once it has
  ended and the segmenter's ``min_off_s`` has passed below the threshold after it (no later
  run can join it); each complete burst is reported once, with the pain probability of a saved
  classifier (:class:`PainScorer`) on its features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from painsig.bursts import BurstDetectionError
from painsig.classifier import PainClassifier, SavedModelError
from painsig.features import FEATURES
from painsig.indices.cocontraction import falconer_winter, rudolph
from painsig.registry import FeatureError
from painsig.segment import EmgBurstSegmenter, Epoch
from painsig.session import saved_model_probability
from painsig.table import feature_table

__all__ = [
    "CoContractionSettings",
    "Contraction",
    "OnlineContractions",
    "PainScorer",
    "RunningCoContraction",
    "StreamIndexError",
]


class StreamIndexError(ValueError):
    """Settings of the online indices that do not fit the estimator (names the muscle)."""


def _columns(muscles: Sequence[str], wanted: Sequence[str], what: str) -> list[int]:
    missing = [m for m in wanted if m not in muscles]
    if not wanted or missing:
        raise StreamIndexError(
            f"{what} {list(wanted)}: empty or not estimated (muscles: {', '.join(muscles)})"
        )
    return [list(muscles).index(m) for m in wanted]


@dataclass(frozen=True)
class CoContractionSettings:
    """flexors, extensors: the two groups (muscle names); window_s: s of envelope each running
    index covers."""

    flexors: tuple[str, ...]
    extensors: tuple[str, ...]
    window_s: float = 1.0


class RunningCoContraction:
    """Co-contraction over the last ``settings.window_s`` of envelopes at ``rate_hz`` Hz
    (module doc); ``muscles``: the envelopes' columns."""

    def __init__(self, muscles: Sequence[str], settings: CoContractionSettings, rate_hz: float):
        self._flex = _columns(muscles, settings.flexors, "co-contraction flexors")
        self._ext = _columns(muscles, settings.extensors, "co-contraction extensors")
        self._n = max(1, round(settings.window_s * rate_hz))
        self._buffer = np.empty((0, len(muscles)))

    def push(self, envelopes: np.ndarray) -> tuple[float, float]:
        """Falconer & Winter's CI (%) and Rudolph's CCI (envelope units) over the window after
        ``envelopes`` (k, M); both NaN before any sample; the CI NaN (and the CCI 0) while
        both groups are silent."""
        self._buffer = np.vstack([self._buffer, envelopes])[-self._n :]
        if self._buffer.shape[0] == 0:
            return math.nan, math.nan
        flex = np.clip(self._buffer[:, self._flex].mean(axis=1), 0.0, None)
        ext = np.clip(self._buffer[:, self._ext].mean(axis=1), 0.0, None)
        try:
            return falconer_winter(flex, ext), rudolph(flex, ext)
        except FeatureError:  # both groups silent over the window
            return math.nan, rudolph(flex, ext)


@dataclass(frozen=True)
class Contraction:
    """A completed contraction: onset_s, offset_s (s of stream time; first and last sample
    above the threshold) and its pain probability (NaN without a classifier, or when its
    features are invalid)."""

    onset_s: float
    offset_s: float
    probability: float


class PainScorer:
    """A saved classifier (:meth:`PainClassifier.save`) applied to one contraction's envelopes.

    The classifier's feature columns name ``<muscle>_<feature>``: each muscle must be one the
    estimator streams and each feature one of :data:`painsig.features.FEATURES` (computed with
    ``params``, e.g. ``apen_m``); positive: the class whose probability is reported. The
    envelopes are already MVIC-normalised, so the ``peak`` reference is 1.
    """

    def __init__(
        self,
        model: PainClassifier,
        positive: str,
        muscles: Sequence[str],
        params: Mapping[str, Any] | None = None,
    ) -> None:
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            raise SavedModelError("the saved classifier has no feature names")
        if positive not in list(model.classes_):
            raise SavedModelError(
                f"the classifier's classes {list(model.classes_)} lack {positive!r}"
            )
        channels, features = [], []
        for column in map(str, names):
            muscle = max((m for m in muscles if column.startswith(m + "_")), key=len, default=None)
            feature = column[len(muscle) + 1 :] if muscle else None
            if muscle is None or feature not in FEATURES.names():
                raise SavedModelError(
                    f"classifier feature {column!r} is not <streamed muscle>_<feature> "
                    f"(muscles: {', '.join(muscles)})"
                )
            channels.append(muscle)
            features.append(feature)
        self.model, self.positive = model, positive
        self.channels = tuple(dict.fromkeys(channels))
        self.features = tuple(dict.fromkeys(features))
        self._params = dict(params or {})

    def probability(self, epoch: Epoch) -> float:
        """The probability of ``positive`` for one contraction (its ``channels``' envelopes);
        NaN when a feature is invalid on it (too short, constant)."""
        table = feature_table(
            [epoch], self.channels, mvic=1.0, names=self.features, params=self._params
        )
        if table.empty:
            return math.nan
        return float(saved_model_probability(table, self.model, self.positive).iloc[0])


class OnlineContractions:
    """The completed contractions of the streamed envelopes (module doc).

    muscles: the envelopes' columns; segmenter: its ``agonist``, ``detector`` and
    ``min_duration_s``; rate_hz: the envelopes' rate; history_s: s of envelope kept and searched;
    scorer: the pain probability of each contraction (None: NaN).
    """

    def __init__(
        self,
        muscles: Sequence[str],
        segmenter: EmgBurstSegmenter,
        rate_hz: float,
        history_s: float = 20.0,
        scorer: PainScorer | None = None,
    ) -> None:
        self._agonist = _columns(muscles, [segmenter.agonist], "agonist")[0]
        self._columns = _columns(muscles, scorer.channels, "classifier channels") if scorer else []
        self._segmenter, self._scorer = segmenter, scorer
        self._rate = float(rate_hz)
        self._keep = max(2, round(history_s * rate_hz))
        self._t = np.empty(0)
        self._env = np.empty((0, len(muscles)))
        self._reported_s = -math.inf  # offset of the last reported contraction
        self._min_gap = round(segmenter.detector.min_off_s * rate_hz)

    def push(self, t_s: np.ndarray, envelopes: np.ndarray) -> list[Contraction]:
        """The contractions completed by the samples ``t_s`` (k,) s, ``envelopes`` (k, M)."""
        if t_s.size == 0:
            return []
        self._t = np.concatenate([self._t, t_s])[-self._keep :]
        self._env = np.vstack([self._env, envelopes])[-self._keep :]
        try:
            found = self._segmenter.detector.detect(self._env[:, self._agonist], self._rate)
        except BurstDetectionError:  # too little history for the rest level yet
            return []
        n, out = self._t.size, []
        for onset, offset in zip(found.onset_s, found.offset_s, strict=True):
            a, b = round(onset * self._rate), round(offset * self._rate)
            complete = a > 0 and b + 1 + self._min_gap <= n
            if not complete or self._t[a] <= self._reported_s:
                continue
            if (b - a + 1) / self._rate < self._segmenter.min_duration_s:
                continue
            out.append(Contraction(float(self._t[a]), float(self._t[b]), self._score(a, b)))
            self._reported_s = float(self._t[b])
        return out

    def _score(self, a: int, b: int) -> float:
        if self._scorer is None:
            return math.nan
        epoch = Epoch(
            "stream",
            "live",
            "live",
            "live",
            float(self._t[a]),
            float(self._t[b]),
            self._env[a : b + 1][:, self._columns],
            self._scorer.channels,
            self._rate,
        )
        return self._scorer.probability(epoch)
