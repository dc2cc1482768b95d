"""Co-contraction of two muscles, or of the flexor and extensor groups of a joint, over one
contraction, from their envelopes on one time grid (MVIC-normalised, so that the two are
comparable).

Falconer & Winter (1985, Electromyogr. Clin. Neurophysiol. 25:135-149): with the common area of
the two envelopes as the antagonist's activity,

    CI = 2 · ∫ min(a, b) dt / ∫ (a + b) dt · 100 %,

100 % for identical envelopes and 0 % for envelopes never active together. Rudolph et al.
(2000, Knee Surg. Sports Traumatol. Arthrosc. 8:262-269), sample by sample and averaged over
the contraction,

    CCI = mean_t [ (lower(t) / higher(t)) · (lower(t) + higher(t)) ],

with lower/higher the smaller/larger of a(t) and b(t) (a term is 0 where both are 0); it
weighs the ratio by the magnitude of the activity, in the envelopes' units.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nmm.data.errors import DataValidationError
from nmm.data.schema import Signal
from painsig.registry import FeatureError

__all__ = ["falconer_winter", "group_envelope", "rudolph"]


def _pair(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Two envelopes (T,) on one grid: finite, >= 0, non-empty."""
    av, bv = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if av.ndim != 1 or av.shape != bv.shape or av.size == 0:
        raise FeatureError(f"envelopes must be 1-D of one length, got {av.shape} and {bv.shape}")
    if not (np.all(np.isfinite(av)) and np.all(np.isfinite(bv))):
        raise FeatureError("envelopes must be finite")
    if av.min() < 0 or bv.min() < 0:
        raise FeatureError("envelopes must be >= 0 (rectified, low-passed EMG)")
    return av, bv


def falconer_winter(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Falconer & Winter's CI (%) of envelopes ``a`` and ``b`` (T,), sampled together; the
    integrals are sums over the same samples (the sampling interval cancels). Raises
    FeatureError where both are 0 throughout."""
    av, bv = _pair(a, b)
    total = float(np.sum(av + bv))
    if total == 0:
        raise FeatureError("both envelopes are 0: no activity to compare")
    return 200.0 * float(np.sum(np.minimum(av, bv))) / total


def rudolph(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Rudolph et al.'s CCI of envelopes ``a`` and ``b`` (T,), in their units."""
    av, bv = _pair(a, b)
    lower, higher = np.minimum(av, bv), np.maximum(av, bv)
    ratio = np.divide(lower, higher, out=np.zeros_like(lower), where=higher > 0)
    return float(np.mean(ratio * (lower + higher)))


def group_envelope(envelope: Signal, muscles: Sequence[str]) -> np.ndarray:
    """The mean (T,) of the named channels of ``envelope``: one envelope for a muscle group
    (the flexors, the extensors), in the channels' units."""
    missing = [m for m in muscles if m not in envelope]
    if not muscles or missing:
        raise DataValidationError(
            f"muscle group {list(muscles)} is empty or not in the envelope "
            f"({', '.join(envelope.channels)})",
            source=envelope.source,
            channel=missing[0] if missing else None,
        )
    return np.mean([envelope[m] for m in muscles], axis=0)
