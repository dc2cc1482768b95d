"""MVIC-normalised amplitude of a contraction: the mean and the peak of its envelope as
fractions of the muscle's maximal voluntary isometric contraction (MVIC) envelope peak
(:mod:`painsig.features`' ``mav`` and ``peak``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from painsig.features import mean_absolute_value, normalised_peak
from painsig.registry import FeatureError

__all__ = ["Amplitude", "mvic_amplitudes"]


@dataclass(frozen=True)
class Amplitude:
    """Per contraction (K,): ``mean`` and ``peak`` of the envelope / MVIC (1, fraction of
    MVIC)."""

    mean: np.ndarray
    peak: np.ndarray


def mvic_amplitudes(contractions: Sequence[npt.ArrayLike], mvic: float) -> Amplitude:
    """Mean and peak of each contraction's envelope (N_k,) divided by ``mvic``, the MVIC
    envelope peak of the same channel in the same units (> 0). An envelope already normalised
    (units 1) takes ``mvic = 1``."""
    if not contractions:
        raise FeatureError("no contractions")
    peak = np.array([normalised_peak(x, mvic) for x in contractions])
    mean = np.array([mean_absolute_value(x) for x in contractions]) / mvic
    return Amplitude(mean, peak)
