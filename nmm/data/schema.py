"""The data model: a `Signal` per stream, a `Trial` per recording, a `Cohort` of subjects.

Everything downstream (physics, NMM, synergy extrapolation, pain features) reads these types.
They validate on construction and raise `DataValidationError` naming the file and the channel.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nmm.data.errors import DataValidationError
from nmm.data.muscles import MuscleSet, get_muscle_set
from nmm.data.units import canonical_unit

# Relative tolerance between a stream's declared rate and the median spacing of its time base.
RATE_TOLERANCE = 0.01
# Tolerance of each single time step, in sample periods: a step must lie within half a period of
# 1/rate, the widest band that still refuses a step of two periods (one sample missing) or of
# none; the rounding of times printed with few digits stays well inside it.
STEP_TOLERANCE = 0.5

EMG_UNITS = frozenset({"V", "mV", "uV", "1"})
STREAM_KINDS = ("emg", "envelope", "kinematics", "torque", "analog", "markers")


@dataclass(frozen=True, eq=False)
class Signal:
    """Uniformly sampled channels on one time base.

    time: (T,) s, strictly increasing; values: (T, C); channels and units: C names each;
    rate: Hz, must match the spacing of `time`; source: the file it came from, for messages.
    Every step of `time` must be 1/rate within STEP_TOLERANCE periods, so samples missing
    mid-recording are refused; allow_gaps=True accepts steps longer than that (a recording paused
    on purpose), and then `duration` (n_samples / rate) is the sampled time, not the time spanned.
    """

    time: np.ndarray
    values: np.ndarray
    channels: tuple[str, ...]
    units: tuple[str, ...]
    rate: float
    kind: str = "analog"
    source: str | None = None
    allow_gaps: bool = False

    def __post_init__(self) -> None:
        src = self.source
        time = np.asarray(self.time, dtype=float)
        values = np.asarray(self.values, dtype=float)
        if values.ndim == 1:
            values = values[:, None]
        channels = tuple(str(c) for c in self.channels)
        if self.kind not in STREAM_KINDS:
            raise DataValidationError(
                f"unknown stream kind '{self.kind}' ({STREAM_KINDS})", source=src
            )
        if time.ndim != 1 or time.size == 0:
            raise DataValidationError(
                f"time must be a non-empty 1-D array, got shape {time.shape}", source=src
            )
        if values.ndim != 2:
            raise DataValidationError(
                f"values must be (T, C), got shape {values.shape}", source=src
            )
        if values.shape[0] != time.size:
            raise DataValidationError(
                f"{values.shape[0]} samples but {time.size} time points (lengths must match)",
                source=src,
                channel=channels[0] if channels else None,
            )
        if len(channels) != values.shape[1] or len(self.units) != values.shape[1]:
            raise DataValidationError(
                f"{values.shape[1]} columns but {len(channels)} channel names and "
                f"{len(self.units)} units",
                source=src,
            )
        if len(set(channels)) != len(channels):
            dup = next(c for c in channels if channels.count(c) > 1)
            raise DataValidationError("duplicate channel name", source=src, channel=dup)
        units = tuple(
            canonical_unit(u, source=src, channel=c)
            for u, c in zip(self.units, channels, strict=True)
        )
        rate = float(self.rate)
        if not np.isfinite(rate) or rate <= 0:
            raise DataValidationError(
                f"sampling rate must be a positive number of Hz, got {rate}", source=src
            )
        if not np.all(np.isfinite(time)):
            raise DataValidationError("time contains NaN or inf", source=src, channel="time")
        steps = np.diff(time)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise DataValidationError(
                f"time is not strictly increasing at sample {i + 1} (t={time[i + 1]:.6g} s after "
                f"{time[i]:.6g} s)",
                source=src,
                channel="time",
            )
        if steps.size and abs(np.median(steps) * rate - 1.0) > RATE_TOLERANCE:
            raise DataValidationError(
                f"declared rate {rate:g} Hz does not match the time base "
                f"(median spacing {np.median(steps):.6g} s = {1 / np.median(steps):.6g} Hz)",
                source=src,
                channel="time",
            )
        self._check_steps(steps * rate)
        bad = ~np.isfinite(values)
        if bad.any():
            t_idx, c_idx = np.argwhere(bad)[0]
            raise DataValidationError(
                f"{int(bad[:, c_idx].sum())} non-finite value(s) (NaN or inf), first at sample "
                f"{t_idx} (t={time[t_idx]:.6g} s)",
                source=src,
                channel=channels[c_idx],
            )
        time.flags.writeable = False
        values.flags.writeable = False
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "rate", rate)

    def _check_steps(self, periods: np.ndarray) -> None:
        """DataValidationError at the first step of `periods` (sample periods) not within
        STEP_TOLERANCE of 1 (above it allowed with allow_gaps)."""
        too_long = np.inf if self.allow_gaps else 1.0 + STEP_TOLERANCE
        bad = (periods < 1.0 - STEP_TOLERANCE) | (periods > too_long)
        if not bad.any():
            return
        i = int(np.argmax(bad))
        time = np.asarray(self.time, dtype=float)
        what = (
            f"a gap of {time[i + 1] - time[i]:.6g} s ({periods[i] - 1:.3g} samples missing)"
            if periods[i] > 1
            else f"a step of {time[i + 1] - time[i]:.6g} s ({periods[i]:.3g} sample periods)"
        )
        raise DataValidationError(
            f"{what} between t={time[i]:.6g} s and t={time[i + 1]:.6g} s at {self.rate:g} Hz: "
            "rows missing or out of place (pass allow_gaps=True if the recording has gaps on "
            "purpose)",
            source=self.source,
            channel="time",
        )

    @classmethod
    def uniform(
        cls,
        values: np.ndarray,
        rate: float,
        channels: Sequence[str],
        units: Sequence[str] | str,
        *,
        start: float = 0.0,
        kind: str = "analog",
        source: str | None = None,
    ) -> Signal:
        """A signal sampled at `rate` Hz from `start` s; `units`: one per channel or one for all."""
        values = np.asarray(values, dtype=float)
        n = values.shape[0]
        if not np.isfinite(rate) or rate <= 0:
            raise DataValidationError(
                f"sampling rate must be a positive number of Hz, got {rate}", source=source
            )
        if isinstance(units, str):
            units = (units,) * (values.shape[1] if values.ndim == 2 else 1)
        time = start + np.arange(n) / rate
        return cls(time, values, tuple(channels), tuple(units), rate, kind, source)

    @property
    def n_samples(self) -> int:
        return int(self.time.size)

    @property
    def duration(self) -> float:
        """Time spanned, s: n_samples / rate."""
        return self.n_samples / self.rate

    def unit(self, channel: str) -> str:
        return self.units[self._index(channel)]

    def __getitem__(self, channel: str) -> np.ndarray:
        """(T,) values of one channel."""
        return self.values[:, self._index(channel)]

    def __contains__(self, channel: object) -> bool:
        return channel in self.channels

    def _index(self, channel: str) -> int:
        try:
            return self.channels.index(channel)
        except ValueError:
            raise DataValidationError(
                f"no such channel (available: {', '.join(self.channels)})",
                source=self.source,
                channel=channel,
            ) from None

    def select(self, channels: Iterable[str]) -> Signal:
        """A signal with only `channels`, in that order."""
        idx = [self._index(c) for c in channels]
        return replace(
            self,
            values=self.values[:, idx],
            channels=tuple(self.channels[i] for i in idx),
            units=tuple(self.units[i] for i in idx),
        )

    def with_values(
        self,
        values: np.ndarray,
        *,
        units: Sequence[str] | None = None,
        channels: Sequence[str] | None = None,
        kind: str | None = None,
    ) -> Signal:
        """Same time base, new values (T, C); units/channels/kind kept unless given."""
        return replace(
            self,
            values=np.asarray(values, dtype=float),
            units=tuple(units) if units is not None else self.units,
            channels=tuple(channels) if channels is not None else self.channels,
            kind=kind or self.kind,
        )

    def between(self, start: float, stop: float) -> Signal:
        """Samples with start <= t <= stop, s; DataValidationError if none."""
        keep = (self.time >= start) & (self.time <= stop)
        if not keep.any():
            raise DataValidationError(
                f"no samples between {start:g} s and {stop:g} s "
                f"(signal spans {self.time[0]:g}-{self.time[-1]:g} s)",
                source=self.source,
            )
        return replace(self, time=self.time[keep], values=self.values[keep])

    def to_frame(self) -> pd.DataFrame:
        """DataFrame indexed by time (s), one column per channel."""
        return pd.DataFrame(
            self.values, index=pd.Index(self.time, name="time"), columns=list(self.channels)
        )


@dataclass(frozen=True)
class Load:
    """External load held in the hand: mass in kg, lever arm from the elbow axis in m if known."""

    mass_kg: float = 0.0
    lever_arm_m: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.mass_kg) or self.mass_kg < 0:
            raise DataValidationError(
                f"load mass must be a finite mass >= 0 kg, got {self.mass_kg}"
            )
        if self.lever_arm_m is not None and (
            not np.isfinite(self.lever_arm_m) or self.lever_arm_m <= 0
        ):
            raise DataValidationError(f"load lever arm must be > 0 m, got {self.lever_arm_m}")


_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def _check_ident(value: str, what: str, source: str | None) -> str:
    value = str(value)
    if not _IDENT.match(value):
        raise DataValidationError(
            f"{what} '{value}' must be a non-empty identifier (letters, digits, _ . -)",
            source=source,
        )
    return value


@dataclass(eq=False)
class Trial:
    """One recording of one subject.

    emg: raw EMG (T_e, M) in V/mV/uV; envelope: EMG envelopes (T_v, M) in V/mV/uV or 1 (normalised);
    kinematics: `coordinate` angle (rad), and optionally `<coordinate>_speed` (rad/s) and
    `<coordinate>_acceleration` (rad/s^2); torque: `<coordinate>_moment` (N·m) when known.
    EMG channel names must be canonical muscles of `muscle_set`.
    """

    subject: str
    trial_id: str
    muscle_set: MuscleSet | str = "elbow"
    emg: Signal | None = None
    envelope: Signal | None = None
    kinematics: Signal | None = None
    torque: Signal | None = None
    load: Load = field(default_factory=Load)
    session: str = "1"
    condition: str = "baseline"
    coordinate: str = "elbow_flexion"
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        src = self.source
        self.muscle_set = get_muscle_set(self.muscle_set)
        self.subject = _check_ident(self.subject, "subject id", src)
        self.trial_id = _check_ident(self.trial_id, "trial id", src)
        self.session = _check_ident(self.session, "session", src)
        self.condition = _check_ident(self.condition, "condition", src)
        if not any(s is not None for s in (self.emg, self.envelope, self.kinematics, self.torque)):
            raise DataValidationError("a trial needs at least one stream", source=src)
        for name in ("emg", "envelope"):
            sig: Signal | None = getattr(self, name)
            if sig is None:
                continue
            self.muscle_set.check(sig.channels, source=sig.source or src)
            for ch, unit in zip(sig.channels, sig.units, strict=True):
                allowed = EMG_UNITS if name == "envelope" else EMG_UNITS - {"1"}
                if unit not in allowed:
                    raise DataValidationError(
                        f"{name} unit '{unit}' not allowed (expected one of {sorted(allowed)})",
                        source=sig.source or src,
                        channel=ch,
                    )
        expected = {
            self.coordinate: "rad",
            f"{self.coordinate}_speed": "rad/s",
            f"{self.coordinate}_acceleration": "rad/s^2",
        }
        if self.kinematics is not None:
            self._check_named(self.kinematics, expected, required=(self.coordinate,))
        if self.torque is not None:
            self._check_named(
                self.torque,
                {f"{self.coordinate}_moment": "N·m"},
                required=(f"{self.coordinate}_moment",),
            )
        if not isinstance(self.load, Load):
            raise DataValidationError("load must be a Load(mass_kg, lever_arm_m)", source=src)

    def _check_named(
        self, sig: Signal, expected: Mapping[str, str], required: Sequence[str]
    ) -> None:
        src = sig.source or self.source
        for ch in required:
            if ch not in sig.channels:
                raise DataValidationError(
                    f"missing required channel (have: {', '.join(sig.channels)})",
                    source=src,
                    channel=ch,
                )
        for ch, unit in zip(sig.channels, sig.units, strict=True):
            if ch not in expected:
                raise DataValidationError(
                    f"unexpected {sig.kind} channel (allowed: {', '.join(expected)})",
                    source=src,
                    channel=ch,
                )
            if unit != expected[ch]:
                raise DataValidationError(
                    f"unit '{unit}', expected '{expected[ch]}'", source=src, channel=ch
                )

    @property
    def muscles(self) -> tuple[str, ...]:
        """Muscles with an EMG or envelope channel in this trial."""
        sig = self.envelope if self.envelope is not None else self.emg
        return sig.channels if sig is not None else ()

    def _kin(self, suffix: str) -> np.ndarray:
        if self.kinematics is None:
            raise DataValidationError("trial has no kinematics", source=self.source)
        return self.kinematics[self.coordinate + suffix]

    @property
    def angle(self) -> np.ndarray:
        """(T_k,) joint angle, rad."""
        return self._kin("")

    @property
    def velocity(self) -> np.ndarray:
        """(T_k,) joint angular velocity, rad/s (needs preprocessing if not recorded)."""
        return self._kin("_speed")

    @property
    def acceleration(self) -> np.ndarray:
        """(T_k,) joint angular acceleration, rad/s^2 (needs preprocessing if not recorded)."""
        return self._kin("_acceleration")

    @property
    def moment(self) -> np.ndarray:
        """(T_q,) joint moment, N·m."""
        if self.torque is None:
            raise DataValidationError("trial has no joint torque", source=self.source)
        return self.torque[f"{self.coordinate}_moment"]

    def streams(self) -> dict[str, Signal]:
        """The streams present, by name ('emg', 'envelope', 'kinematics', 'torque')."""
        return {
            k: s
            for k in ("emg", "envelope", "kinematics", "torque")
            if (s := getattr(self, k)) is not None
        }

    def replace(self, **changes: Any) -> Trial:
        """A validated copy with `changes` applied."""
        return replace(self, **changes)


@dataclass(eq=False)
class Subject:
    """A participant: MVIC reference per muscle (in the units of their raw EMG envelope).

    model: absolute path of the subject's own (scaled) OpenSim `.osim` model; None means the
    run's configured model (`physics.osim`).
    """

    subject_id: str
    mvic: dict[str, float] = field(default_factory=dict)
    body_mass_kg: float | None = None
    height_m: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    model: str | None = None

    def __post_init__(self) -> None:
        self.subject_id = _check_ident(self.subject_id, "subject id", None)
        if self.model is not None:
            self.model = str(self.model)
            if not os.path.isabs(self.model):
                raise DataValidationError(
                    f"model of subject '{self.subject_id}' must be an absolute path to an .osim "
                    f"file, got '{self.model}'"
                )
        for muscle, value in self.mvic.items():
            if not np.isfinite(value) or value <= 0:
                raise DataValidationError(
                    f"MVIC reference of subject '{self.subject_id}' must be > 0, got {value}",
                    channel=muscle,
                )
        for name in ("body_mass_kg", "height_m"):
            v = getattr(self, name)
            if v is not None and (not np.isfinite(v) or v <= 0):
                raise DataValidationError(f"{name} of subject '{self.subject_id}' must be > 0")


class Cohort:
    """Trials grouped by subject; knows each subject's MVIC reference.

    Every trial must belong to a declared subject, trial ids are unique within a subject, and all
    trials share one muscle set.
    """

    def __init__(
        self, subjects: Iterable[Subject], trials: Iterable[Trial], name: str = "cohort"
    ) -> None:
        self.name = name
        self.subjects: dict[str, Subject] = {}
        for s in subjects:
            if s.subject_id in self.subjects:
                raise DataValidationError(f"subject '{s.subject_id}' declared twice")
            self.subjects[s.subject_id] = s
        self.trials: list[Trial] = list(trials)
        seen: set[tuple[str, str, str]] = set()
        sets = {t.muscle_set.name for t in self.trials}
        if len(sets) > 1:
            raise DataValidationError(f"trials mix muscle sets {sorted(sets)}")
        for t in self.trials:
            if t.subject not in self.subjects:
                raise DataValidationError(
                    f"trial '{t.trial_id}' belongs to undeclared subject '{t.subject}'",
                    source=t.source,
                )
            key = (t.subject, t.session, t.trial_id)
            if key in seen:
                raise DataValidationError(
                    f"duplicate trial id '{t.trial_id}' for subject "
                    f"'{t.subject}', session '{t.session}'",
                    source=t.source,
                )
            seen.add(key)

    def __len__(self) -> int:
        return len(self.trials)

    def __iter__(self) -> Iterator[Trial]:
        return iter(self.trials)

    @property
    def subject_ids(self) -> list[str]:
        return list(self.subjects)

    @property
    def conditions(self) -> list[str]:
        return sorted({t.condition for t in self.trials})

    def select(
        self,
        *,
        subject: str | Iterable[str] | None = None,
        condition: str | Iterable[str] | None = None,
    ) -> Cohort:
        """A cohort restricted to the given subject(s) and condition(s)."""

        def as_set(v: str | Iterable[str] | None) -> set[str] | None:
            return None if v is None else ({v} if isinstance(v, str) else set(v))

        subs, conds = as_set(subject), as_set(condition)
        trials = [
            t
            for t in self.trials
            if (subs is None or t.subject in subs) and (conds is None or t.condition in conds)
        ]
        keep = {t.subject for t in trials} if subs is None else subs
        return Cohort([s for k, s in self.subjects.items() if k in keep], trials, self.name)

    def groups(self) -> np.ndarray:
        """(n_trials,) subject id of each trial, for subject-grouped cross-validation."""
        return np.array([t.subject for t in self.trials])

    def mvic(self, subject: str) -> dict[str, float]:
        """MVIC reference per muscle of `subject`; DataValidationError if none was recorded."""
        if subject not in self.subjects:
            raise DataValidationError(f"unknown subject '{subject}'")
        ref = self.subjects[subject].mvic
        if not ref:
            raise DataValidationError(f"subject '{subject}' has no MVIC reference")
        return dict(ref)
