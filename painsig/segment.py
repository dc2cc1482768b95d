"""Segmentation of contractions (epochs) from preprocessed trials.

Three definitions:
- `EmgOnsetSegmenter`, the pain-signature paper's epoch (Becker et al. 2026): from the onset of
  agonist EMG activity to the offset of acceleration. Onset: the agonist envelope exceeds the
  mean + k·SD of a quiet baseline for at least `min_on_s` (Hodges & Bui 1996 threshold family).
  Offset of acceleration (INFERRED; the paper gives no formula): the end of the acceleration
  phase that the agonist drives: the first sample after the peak of the acceleration in the
  direction of the movement at which it falls below `acc_offset_fraction` of that peak (just
  before peak velocity).
- `KinematicSegmenter`: flexion (or extension) phases, where the joint velocity exceeds
  `velocity_fraction` of the trial's peak velocity in that direction.
- `EmgBurstSegmenter`: EMG only, for recordings without kinematics: the bursts of the agonist
  envelope by the double threshold of :mod:`painsig.bursts` (Hodges & Bui 1996 amplitude,
  Bonato et al. 1998 duration), from burst onset to burst offset.

Epochs shorter than `min_duration_s` are rejected with a logged reason; every epoch keeps
subject, trial, session, condition and its time span.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nmm.data.errors import DataValidationError
from nmm.data.schema import Signal, Trial
from painsig.bursts import BurstDetector, Bursts, true_runs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Epoch:
    """One contraction: `values` (N, C) of `channels` at `rate` Hz over [start_s, stop_s]."""

    subject: str
    trial_id: str
    session: str
    condition: str
    start_s: float
    stop_s: float
    values: np.ndarray
    channels: tuple[str, ...]
    rate: float
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.values.shape[0] / self.rate


def _cut(
    trial: Trial,
    sig: Signal,
    spans: Iterable[tuple[float, float]],
    min_duration_s: float,
    method: str,
) -> list[Epoch]:
    epochs = []
    for k, (t0, t1) in enumerate(spans):
        keep = (sig.time >= t0) & (sig.time <= t1)
        n = int(keep.sum())
        if n / sig.rate < min_duration_s:
            log.info(
                "%s/%s: epoch %d (%.3f-%.3f s) rejected: %.3f s < min_duration_s %.3f s",
                trial.subject,
                trial.trial_id,
                k,
                t0,
                t1,
                n / sig.rate,
                min_duration_s,
            )
            continue
        values = sig.values[keep]
        if not np.all(np.isfinite(values)):
            log.warning(
                "%s/%s: epoch %d rejected: non-finite values", trial.subject, trial.trial_id, k
            )
            continue
        epochs.append(
            Epoch(
                trial.subject,
                trial.trial_id,
                trial.session,
                trial.condition,
                float(sig.time[keep][0]),
                float(sig.time[keep][-1]),
                values,
                sig.channels,
                sig.rate,
                {"method": method, **trial.metadata},
            )
        )
    return epochs


def _signal_of(trial: Trial, stream: str) -> Signal:
    sig = getattr(trial, stream, None)
    if sig is None:
        raise DataValidationError(
            f"trial '{trial.trial_id}' has no '{stream}' stream to segment (preprocess it first)",
            source=trial.source,
        )
    return sig


def _envelope_with(trial: Trial, agonist: str) -> Signal:
    """``trial``'s preprocessed envelope, which must hold the ``agonist`` channel."""
    env = _signal_of(trial, "envelope")
    if agonist not in env:
        raise DataValidationError(
            f"agonist not in the envelope ({', '.join(env.channels)})",
            source=env.source or trial.source,
            channel=agonist,
        )
    return env


def _need_kinematics(trial: Trial, channel: str) -> Signal:
    kin = trial.kinematics
    if kin is None or channel not in kin:
        raise DataValidationError(
            f"segmentation needs '{channel}' (low-pass and differentiate the kinematics first)",
            source=trial.source,
            channel=channel,
        )
    return kin


@dataclass(frozen=True)
class KinematicSegmenter:
    """Flexion (`direction=+1`) or extension (`-1`) phases from the joint velocity.

    velocity_fraction: threshold as a fraction of the trial's peak velocity in that direction;
    stream: the stream whose samples form the epochs ('envelope' or 'emg').
    """

    direction: int = 1
    velocity_fraction: float = 0.2
    min_duration_s: float = 0.2
    stream: str = "envelope"

    def __call__(self, trial: Trial) -> list[Epoch]:
        kin = _need_kinematics(trial, f"{trial.coordinate}_speed")
        v = self.direction * kin[f"{trial.coordinate}_speed"]
        peak = float(np.max(v))
        if peak <= 0:
            log.info("%s/%s: no movement in the requested direction", trial.subject, trial.trial_id)
            return []
        spans = [
            (kin.time[a], kin.time[b - 1]) for a, b in true_runs(v > self.velocity_fraction * peak)
        ]
        return _cut(trial, _signal_of(trial, self.stream), spans, self.min_duration_s, "kinematic")


@dataclass(frozen=True)
class EmgOnsetSegmenter:
    """Onset of agonist EMG activity to the offset of acceleration (Becker et al. 2026).

    agonist: muscle whose envelope defines onsets; baseline_s: quiet period at the trial's start
    used for the threshold mean + k_sd·SD (or `baseline_quantile` of the whole envelope when no
    quiet start exists); min_on_s: the envelope must stay above threshold this long;
    acc_offset_fraction: offset when |acceleration| drops below this fraction of its peak within
    the contraction; max_duration_s bounds a contraction.
    """

    agonist: str
    k_sd: float = 3.0
    baseline_s: float | None = None
    baseline_quantile: float = 0.1
    min_on_s: float = 0.025
    acc_offset_fraction: float = 0.1
    min_duration_s: float = 0.2
    max_duration_s: float = 3.0
    stream: str = "envelope"

    def threshold(self, env: Signal) -> float:
        """Onset threshold in the envelope's units."""
        x = env[self.agonist]
        if self.baseline_s is not None:
            quiet = x[env.time < env.time[0] + self.baseline_s]
        else:
            quiet = x[x <= np.quantile(x, self.baseline_quantile)]
        if quiet.size < 2:
            raise DataValidationError(
                "baseline too short to set an onset threshold",
                source=env.source,
                channel=self.agonist,
            )
        return float(np.mean(quiet) + self.k_sd * np.std(quiet))

    def __call__(self, trial: Trial) -> list[Epoch]:
        env = _envelope_with(trial, self.agonist)
        acc_name = f"{trial.coordinate}_acceleration"
        kin = _need_kinematics(trial, acc_name)
        above = env[self.agonist] > self.threshold(env)
        min_on = max(1, round(self.min_on_s * env.rate))
        onsets = [env.time[a] for a, b in true_runs(above) if b - a >= min_on]
        acc = kin[acc_name]
        speed = _need_kinematics(trial, f"{trial.coordinate}_speed")[f"{trial.coordinate}_speed"]
        spans = []
        for k, t0 in enumerate(onsets):
            t_next = onsets[k + 1] if k + 1 < len(onsets) else np.inf
            window = (kin.time >= t0) & (kin.time < min(t_next, t0 + self.max_duration_s))
            idx = np.flatnonzero(window)
            if idx.size < 3:
                continue
            # acceleration in the direction of the movement (sign of the peak velocity)
            direction = np.sign(speed[idx][np.argmax(np.abs(speed[idx]))]) or 1.0
            driven = direction * acc[idx]
            i_peak = int(np.argmax(driven))
            after = np.arange(i_peak + 1, idx.size)
            below = idx[after[driven[after] < self.acc_offset_fraction * driven[i_peak]]]
            t1 = kin.time[below[0]] if below.size else kin.time[idx[-1]]
            spans.append((t0, t1))
        return _cut(trial, _signal_of(trial, self.stream), spans, self.min_duration_s, "emg_onset")


@dataclass(frozen=True)
class EmgBurstSegmenter:
    """Contractions from EMG alone: each burst of the agonist envelope (:mod:`painsig.bursts`),
    from its onset to its offset; no kinematics needed.

    agonist: muscle whose envelope defines the bursts; detector: the double threshold
    (amplitude over the rest level, minimum burst and gap durations); min_duration_s: shorter
    contractions are rejected (logged); stream: the stream whose samples form the epochs.
    """

    agonist: str
    detector: BurstDetector = field(default_factory=BurstDetector)
    min_duration_s: float = 0.2
    stream: str = "envelope"

    def bursts(self, trial: Trial) -> Bursts:
        """The agonist's bursts in ``trial``'s preprocessed envelope, times in the trial's
        clock (s)."""
        env = _envelope_with(trial, self.agonist)
        found = self.detector.detect(
            env[self.agonist], env.rate, source=env.source or trial.source, channel=self.agonist
        )
        return found.shifted(float(env.time[0]))

    def __call__(self, trial: Trial) -> list[Epoch]:
        found = self.bursts(trial)
        spans = zip(found.onset_s.tolist(), found.offset_s.tolist(), strict=True)
        return _cut(trial, _signal_of(trial, self.stream), spans, self.min_duration_s, "emg_bursts")


def segment_trials(trials: Iterable[Trial], segmenter) -> list[Epoch]:
    """All epochs of all trials, in trial order."""
    epochs: list[Epoch] = []
    for t in trials:
        found = segmenter(t)
        log.info("%s/%s (%s): %d contractions", t.subject, t.trial_id, t.condition, len(found))
        epochs.extend(found)
    return epochs


#: The segmenters by the name of their config option (``conf/painsig/segmenter/<name>.yaml``,
#: chosen with ``painsig/segmenter=<name>``).
SEGMENTERS: dict[str, type] = {
    "emg_onset": EmgOnsetSegmenter,
    "kinematic": KinematicSegmenter,
    "emg_bursts": EmgBurstSegmenter,
}


def segmenter_name(target: str) -> str | None:
    """The name under :data:`SEGMENTERS` of the class a config's ``_target_`` names; None if
    none."""
    for name, cls in SEGMENTERS.items():
        if target == f"{cls.__module__}.{cls.__qualname__}":
            return name
    return None


def segmenter_label(segmenter: object) -> str:
    """How ``segmenter`` cuts contractions, as a saved model records it: its name under
    :data:`SEGMENTERS`, else its class's dotted path."""
    cls = type(segmenter)
    path = f"{cls.__module__}.{cls.__qualname__}"
    return segmenter_name(path) or path
