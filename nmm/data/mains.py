"""Mains interference (50 or 60 Hz) found in the raw EMG spectrum, to compare with the notch a
preprocessing chain uses.

The statistic is a line ratio: the Welch PSD at the mains frequency over the median PSD of the
bins 3-8 Hz either side of it (the EMG's own spectrum is smooth over a few hertz; a line is
not). Each channel's PSD is pooled over the recordings given (one subject's trials), each
recording scaled by its median over 40-70 Hz so that loud trials do not outweigh quiet ones;
the ratio of the channel with the strongest line is kept, since hum reaches the electrodes of
poorer contact most (in the pyomeca recording one channel of 13 carries the 60 Hz line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from nmm.data.schema import Signal

#: Mains frequencies of the world's grids, Hz.
MAINS_HZ = (50.0, 60.0)
#: Welch segment, s: 1 Hz resolution, as the cohort-family tests measure the synthetic hum.
SEGMENT_S = 1.0
#: Bins either side of the line whose median is the reference, Hz from the line.
NEIGHBOURS_HZ = (3.0, 8.0)
#: Band each recording's PSD is scaled by (its median) before pooling, Hz.
SCALE_BAND_HZ = (40.0, 70.0)
#: A line ratio from which mains is reported. The same statistic at non-mains frequencies
#: (every hertz of 25-95 Hz more than 4 Hz from 50 and 60) over the 122 trials of the default
#: cohort, the UCI lower-limb set and the pyomeca recording has its 99th percentile at 3.9;
#: the pyomeca recording's 60 Hz line is 5.5.
MIN_LINE_RATIO = 5.0


@dataclass(frozen=True)
class MainsLine:
    """The line ratio at one mains frequency: ``ratio`` (1) of the strongest ``channel``."""

    freq_hz: float
    ratio: float
    channel: str


def _scaled_psd(sig: Signal) -> tuple[np.ndarray, np.ndarray] | None:
    """Frequencies (F,) Hz and the PSD (F, C) of ``sig``, each channel over its median in
    SCALE_BAND_HZ; None when the recording is shorter than one segment."""
    n = round(SEGMENT_S * sig.rate)
    if sig.n_samples < n:
        return None
    freq, psd = sps.welch(sig.values, fs=sig.rate, nperseg=n, axis=0, detrend="constant")
    band = (freq >= SCALE_BAND_HZ[0]) & (freq <= SCALE_BAND_HZ[1])
    scale = np.median(psd[band], axis=0)
    return freq, psd / np.where(scale > 0, scale, 1.0)


def _pooled(signals: Sequence[Signal]) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """Frequencies (F,) Hz and each channel's scaled PSD (F,) averaged over ``signals`` of one
    rate (the first's; others are left out); None if none is long enough."""
    rate = signals[0].rate
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    freq = None
    for sig in signals:
        scaled = _scaled_psd(sig) if sig.rate == rate else None
        if scaled is None:
            continue
        freq, psd = scaled
        for j, ch in enumerate(sig.channels):
            sums[ch] = sums.get(ch, 0.0) + psd[:, j]
            counts[ch] = counts.get(ch, 0) + 1
    if freq is None:
        return None
    return freq, {ch: s / counts[ch] for ch, s in sums.items()}


def mains_lines(
    signals: Sequence[Signal], candidates: Sequence[float] = MAINS_HZ
) -> list[MainsLine]:
    """The line ratio at each candidate frequency (Hz) below the Nyquist frequency, from raw
    EMG ``signals`` (one subject's trials, V/mV/uV); empty when none is one segment long."""
    pooled = _pooled(signals) if signals else None
    if pooled is None:
        return []
    freq, psd = pooled
    out = []
    for f0 in candidates:
        if f0 + NEIGHBOURS_HZ[1] >= signals[0].rate / 2:
            continue
        k = int(np.argmin(np.abs(freq - f0)))
        side = (np.abs(freq - f0) >= NEIGHBOURS_HZ[0]) & (np.abs(freq - f0) <= NEIGHBOURS_HZ[1])
        ratios = {ch: float(p[k] / np.median(p[side])) for ch, p in psd.items()}
        channel = max(ratios, key=ratios.__getitem__)
        out.append(MainsLine(float(f0), ratios[channel], channel))
    return out


def detect_mains(lines: Sequence[MainsLine], min_ratio: float = MIN_LINE_RATIO) -> MainsLine | None:
    """The strongest of ``lines`` when its ratio reaches ``min_ratio``, else None."""
    best = max(lines, key=lambda line: line.ratio, default=None)
    return best if best is not None and best.ratio >= min_ratio else None
