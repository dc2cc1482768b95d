"""Contractions from EMG alone: a double threshold, amplitude and duration, on the envelope.

Amplitude (Hodges & Bui 1996, Electroencephalogr. Clin. Neurophysiol. 101:511-519, who compared
low-pass cut-offs, window lengths and thresholds of 1 to 3 SD): a muscle is active where its
linear envelope e(t) (rectified, low-passed) exceeds the level of rest by ``k_sd`` standard
deviations,

    e(t) > h,    h = mu_0 + k_sd * sigma_0,

with mu_0 and sigma_0 the mean and SD of the envelope over a rest period. Duration (after
Bonato et al. 1998, IEEE Trans. Biomed. Eng. 45:287-299, who accept an activation only when it
lasts longer than a minimum time): a run above h shorter than ``min_on_s`` is noise and is
dropped; two bursts separated by less than ``min_off_s`` below h are one burst. Onset: the first
sample of a burst above h; offset: its last.

The rest period is either ``rest_s`` seconds at the start of the recording (Hodges & Bui's
baseline) or, where none is known, a robust estimate of ours: the envelope is cut into windows of
``noise_window_s``; the windows whose mean lies in the lowest ``noise_quantile`` of all window
means are taken as rest, and mu_0, sigma_0 are the medians of their means and SDs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nmm.data.errors import DataValidationError

__all__ = ["Baseline", "BurstDetectionError", "BurstDetector", "Bursts", "true_runs"]


class BurstDetectionError(DataValidationError):
    """An envelope the burst detector cannot use (empty, non-finite, too short for the rest
    period or the noise windows, sampled too slowly for the duration rules); names the file and
    channel where known."""


@dataclass(frozen=True)
class Baseline:
    """The rest level of one envelope: mean and SD (units of the envelope), the threshold
    ``mean + k_sd * sd`` and how the rest samples were chosen (``source``)."""

    mean: float
    sd: float
    threshold: float
    source: str


@dataclass(frozen=True)
class Bursts:
    """Bursts of one envelope: ``onset_s`` and ``offset_s``, (K,) s from the envelope's first
    sample (first and last sample above the threshold), and the ``baseline`` that set it."""

    onset_s: np.ndarray
    offset_s: np.ndarray
    baseline: Baseline

    def __len__(self) -> int:
        return int(self.onset_s.size)

    def shifted(self, t0: float) -> Bursts:
        """The same bursts with ``t0`` seconds added to every time (the envelope's start)."""
        return Bursts(self.onset_s + t0, self.offset_s + t0, self.baseline)


def _positive(value: float, name: str) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"BurstDetector.{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class BurstDetector:
    """The double-threshold detector (module doc): every duration in s.

    k_sd: threshold above the rest mean, in rest SDs; rest_s: rest period at the start of the
    envelope (None: the quietest windows, ``noise_window_s`` long, the lowest
    ``noise_quantile`` of them by mean); min_on_s: shortest burst kept; min_off_s: shortest
    gap between two bursts (shorter gaps merge them).
    """

    k_sd: float = 3.0
    rest_s: float | None = None
    noise_window_s: float = 0.25
    noise_quantile: float = 0.1
    min_on_s: float = 0.05
    min_off_s: float = 0.15

    def __post_init__(self) -> None:
        for name in ("k_sd", "noise_window_s", "min_on_s", "min_off_s"):
            _positive(getattr(self, name), name)
        if self.rest_s is not None:
            _positive(self.rest_s, "rest_s")
        if not (0 < self.noise_quantile <= 0.5):
            raise ValueError(
                f"BurstDetector.noise_quantile must be in (0, 0.5], got {self.noise_quantile!r}"
            )

    def min_rate_hz(self) -> float:
        """The lowest envelope rate (Hz) at which each duration rule spans at least 2 samples."""
        return 2.0 / min(self.min_on_s, self.min_off_s, self.noise_window_s)

    def baseline(
        self,
        envelope: npt.ArrayLike,
        rate: float,
        *,
        source: str | None = None,
        channel: str | None = None,
    ) -> Baseline:
        """The rest level of ``envelope`` (T,) sampled at ``rate`` Hz and its threshold."""
        x = self._checked(envelope, rate, source, channel)
        if self.rest_s is not None:
            n = round(self.rest_s * rate)
            if n > x.size:
                raise BurstDetectionError(
                    f"rest period of {self.rest_s:g} s is longer than the envelope "
                    f"({x.size / rate:g} s)",
                    source=source,
                    channel=channel,
                )
            mean, sd = float(np.mean(x[:n])), float(np.std(x[:n]))
            how = f"rest period, first {self.rest_s:g} s"
        else:
            mean, sd = self._quietest_windows(x, rate, source, channel)
            how = f"quietest {self.noise_quantile:g} of {self.noise_window_s:g} s windows"
        return Baseline(mean, sd, mean + self.k_sd * sd, how)

    def detect(
        self,
        envelope: npt.ArrayLike,
        rate: float,
        *,
        source: str | None = None,
        channel: str | None = None,
    ) -> Bursts:
        """The bursts of ``envelope`` (T,), a linear envelope sampled at ``rate`` Hz.

        Raises :class:`BurstDetectionError` (naming ``source`` and ``channel``) for an empty or
        non-finite envelope, one shorter than the rest period or two noise windows, or a rate
        below :meth:`min_rate_hz`.
        """
        base = self.baseline(envelope, rate, source=source, channel=channel)  # checks envelope
        x = np.asarray(envelope, dtype=float)
        runs = true_runs(x > base.threshold)
        runs = [(a, b) for a, b in runs if b - a >= round(self.min_on_s * rate)]
        runs = _merge_gaps(runs, round(self.min_off_s * rate))
        onset = np.array([a for a, _ in runs], dtype=float) / rate
        offset = np.array([b - 1 for _, b in runs], dtype=float) / rate
        return Bursts(onset, offset, base)

    def _checked(
        self, envelope: npt.ArrayLike, rate: float, source: str | None, channel: str | None
    ) -> np.ndarray:
        x = np.asarray(envelope, dtype=float)
        where = {"source": source, "channel": channel}
        if x.ndim != 1 or x.size == 0:
            raise BurstDetectionError(
                f"envelope must be a non-empty 1-D array, got shape {x.shape}", **where
            )
        bad = ~np.isfinite(x)
        if bad.any():
            raise BurstDetectionError(
                f"{int(bad.sum())} non-finite envelope value(s), first at sample "
                f"{int(np.argmax(bad))}",
                **where,
            )
        if not (math.isfinite(rate) and rate >= self.min_rate_hz()):
            raise BurstDetectionError(
                f"envelope rate {rate:g} Hz is too low: the duration rules (min_on_s, min_off_s, "
                f"noise_window_s) need at least {self.min_rate_hz():g} Hz",
                **where,
            )
        return x

    def _quietest_windows(
        self, x: np.ndarray, rate: float, source: str | None, channel: str | None
    ) -> tuple[float, float]:
        """Median mean and median SD of the windows in the lowest ``noise_quantile`` by mean."""
        n = round(self.noise_window_s * rate)
        k = x.size // n
        if k < 2:
            raise BurstDetectionError(
                f"envelope of {x.size / rate:g} s holds fewer than two noise windows of "
                f"{self.noise_window_s:g} s; give a rest period (rest_s) or a longer recording",
                source=source,
                channel=channel,
            )
        windows = x[: k * n].reshape(k, n)
        means, sds = windows.mean(axis=1), windows.std(axis=1)
        quiet = means <= np.quantile(means, self.noise_quantile)
        return float(np.median(means[quiet])), float(np.median(sds[quiet]))


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index pairs of the True runs of a boolean array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _merge_gaps(runs: list[tuple[int, int]], min_gap: int) -> list[tuple[int, int]]:
    """Runs separated by fewer than ``min_gap`` samples joined into one."""
    out: list[tuple[int, int]] = []
    for a, b in runs:
        if out and a - out[-1][1] < min_gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out
