"""Checks of a loaded cohort before any work: what is wrong (errors) and what will hurt results
(warnings), as a list of :class:`Finding`.

The readers and the data model already refuse damaged files, unknown channels and units, and
time bases that do not match their rate; :func:`finding_from_error` turns such a refusal into a
finding. :func:`check_cohort` looks at what a valid cohort can still get wrong for the NMM and
the pain classifier:

- errors: a trial whose angle is not the configured coordinate; streams of one trial that do
  not overlap in time (nothing to align);
- warnings: gaps in a stream; a trial shorter than one training window; a flat channel; raw EMG
  sampled below MIN_EMG_RATE_HZ; a subject with no MVIC (no trial of condition ``mvic`` and no
  reference), or one whose reference misses a muscle; little movement per subject for the
  NMM's personalised parameters; mains in the raw EMG that the chain's notch does not remove;
  envelopes in unit 1 whose levels say they are not MVIC-normalised;
- info: mains that the notch does remove; envelopes processed by the lab (the raw chain is
  skipped for them).

Thresholds are the module constants below, each with its reason; :class:`QualitySettings`
carries them with what the app knows (coordinate, notch, training window).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nmm.data.errors import ReaderError
from nmm.data.mains import MIN_LINE_RATIO, MainsLine, detect_mains, mains_lines
from nmm.data.preprocess import Chain, Notch, Step
from nmm.data.schema import Cohort, Signal, Subject, Trial

LEVELS = ("error", "warning", "info")
#: Condition of the trials of maximal voluntary isometric contractions.
MVIC_CONDITION = "mvic"
#: Lowest raw EMG rate without a warning, Hz: surface EMG has power up to 400-500 Hz, and the
#: SENIAM recommendations ask for at least 1000 Hz (Hermens et al. 2000, J Electromyogr
#: Kinesiol 10:361).
MIN_EMG_RATE_HZ = 1000.0
#: Highest peak of an envelope in unit 1 taken as MVIC-normalised: dynamic contractions may
#: exceed the isometric MVIC, but a subject whose envelopes peak above twice it was most likely
#: not divided by an MVIC (e.g. a normalised-to-mean or a volts envelope labelled unit 1).
MAX_NORMALISED_PEAK = 2.0
#: Lowest subject peak of envelopes in unit 1 taken as MVIC-normalised: below 1 % of the MVIC
#: in every trial and channel, the values are more likely volts labelled unit 1.
MIN_NORMALISED_PEAK = 0.01


class DataCheckError(ValueError):
    """The data checks found errors; ``findings`` holds every one of them."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        lines = "\n".join(f"  - {f.describe()}" for f in self.findings)
        super().__init__(f"{len(self.findings)} error(s) in the data:\n{lines}")


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``level`` (error, warning, info), a short ``code``, a message a
    researcher can act on, and where: subject, trial and file (None when cohort-wide)."""

    level: str
    code: str
    message: str
    subject: str | None = None
    trial: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"finding level {self.level!r} is not one of {LEVELS}")

    def describe(self) -> str:
        """One line: level, code, where, message."""
        where = "/".join(x for x in (self.subject, self.trial) if x)
        return f"{self.level} [{self.code}]{f' {where}' if where else ''}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class QualitySettings:
    """What the checks compare the cohort with.

    coordinate: the angle every trial must use (None: not checked); notch_hz: the frequency the
    EMG chain notches at (None: no notch step); window_s: the NMM's training window, s, and
    n_parameters: its personalised parameters per subject (window_s None: no little-data or
    short-trial check; n_parameters None: no little-data check); the thresholds default to the
    module constants.
    """

    coordinate: str | None = None
    notch_hz: float | None = None
    window_s: float | None = None
    n_parameters: int | None = None
    min_line_ratio: float = MIN_LINE_RATIO
    min_emg_rate_hz: float = MIN_EMG_RATE_HZ
    max_normalised_peak: float = MAX_NORMALISED_PEAK
    min_normalised_peak: float = MIN_NORMALISED_PEAK

    @classmethod
    def from_mapping(cls, thresholds: Mapping[str, Any] | None, **context: Any) -> QualitySettings:
        """Settings from a plain mapping of threshold names (the module defaults where it is
        silent) and the app's ``context`` (coordinate, notch_hz, window_s, n_parameters);
        ValueError naming an unknown key."""
        thresholds = dict(thresholds or {})
        known = {f.name for f in dataclasses.fields(cls)} - {
            "coordinate",
            "notch_hz",
            "window_s",
            "n_parameters",
        }
        unknown = sorted(set(thresholds) - known)
        if unknown:
            raise ValueError(f"unknown data check setting(s) {unknown}; known: {sorted(known)}")
        return cls(**context, **{k: float(v) for k, v in thresholds.items()})


def notch_frequency(chain: Step | None) -> float | None:
    """The frequency (Hz) of the first :class:`Notch` step of an EMG ``chain`` (a Chain or a
    single step), None when it has none."""
    steps = chain.steps if isinstance(chain, Chain) else [chain] if chain is not None else []
    return next((float(s.freq_hz) for s in steps if isinstance(s, Notch)), None)


def finding_from_error(
    exc: Exception, subject: str | None = None, trial: str | None = None
) -> Finding:
    """An error finding of a reader's or the data model's refusal (its file when it names one)."""
    code = "unreadable" if isinstance(exc, ReaderError | OSError) else "invalid"
    return Finding("error", code, str(exc), subject, trial, getattr(exc, "source", None))


# ----------------------------------------------------------------------------- trials


def common_span(trial: Trial) -> float:
    """Seconds during which every stream of ``trial`` has samples, each sample covering one
    period from its time (<= 0: the streams do not overlap)."""
    streams = trial.streams().values()
    end = min(float(s.time[-1]) + 1.0 / s.rate for s in streams)
    return end - max(float(s.time[0]) for s in streams)


def _trial_finding(trial: Trial, level: str, code: str, message: str, source: str | None = None):
    return Finding(level, code, message, trial.subject, trial.trial_id, source or trial.source)


def _gaps(trial: Trial, sig: Signal) -> Iterator[Finding]:
    periods = np.diff(sig.time) * sig.rate
    gaps = periods > 1.5
    if gaps.any():
        missing = float(np.sum(periods[gaps] - 1.0) / sig.rate)
        yield _trial_finding(
            trial,
            "warning",
            "gaps",
            f"{sig.kind}: {int(gaps.sum())} gap(s), {missing:.3g} s of samples missing",
            sig.source,
        )


def _flat_channels(trial: Trial, sig: Signal) -> Iterator[Finding]:
    for ch in np.asarray(sig.channels)[np.ptp(sig.values, axis=0) == 0]:
        yield _trial_finding(
            trial,
            "warning",
            "flat_channel",
            f"{sig.kind} channel '{ch}' is constant (electrode off or channel not recorded?)",
            sig.source,
        )


def check_trial(trial: Trial, settings: QualitySettings) -> Iterator[Finding]:
    """The findings of one trial: coordinate, overlap of its streams, length, gaps, flat
    channels and the raw EMG's rate."""
    if settings.coordinate is not None and trial.coordinate != settings.coordinate:
        yield _trial_finding(
            trial,
            "error",
            "coordinate",
            f"the angle is '{trial.coordinate}', the config says '{settings.coordinate}' "
            "(set data.coordinate)",
        )
    span = common_span(trial)
    if span <= 0:
        yield _trial_finding(
            trial, "error", "no_overlap", "its streams do not overlap in time: nothing to align"
        )
    elif settings.window_s is not None and span < settings.window_s:
        yield _trial_finding(
            trial,
            "warning",
            "short_trial",
            f"{span:.3g} s of overlapping streams, shorter than one training window "
            f"({settings.window_s:g} s): the NMM gets no window from it",
        )
    for sig in trial.streams().values():
        yield from _gaps(trial, sig)
    for sig in (trial.emg, trial.envelope):
        if sig is not None:
            yield from _flat_channels(trial, sig)
    if trial.emg is not None and trial.emg.rate < settings.min_emg_rate_hz:
        yield _trial_finding(
            trial,
            "warning",
            "low_emg_rate",
            f"raw EMG at {trial.emg.rate:g} Hz, below {settings.min_emg_rate_hz:g} Hz "
            "(surface EMG has power up to 400-500 Hz; SENIAM asks for 1000 Hz or more)",
            trial.emg.source,
        )


# ----------------------------------------------------------------------------- subjects


def _normalised(trial: Trial) -> bool:
    """Whether the trial's muscle signals are envelopes already in unit 1 (no raw EMG)."""
    env = trial.envelope
    return trial.emg is None and env is not None and all(u == "1" for u in env.units)


def _raw_muscles(trials: Iterable[Trial]) -> set[str]:
    """Muscles whose EMG or envelope is in volts (needing a reference)."""
    out: set[str] = set()
    for t in trials:
        for sig in (t.emg, t.envelope):
            if sig is not None:
                out |= {c for c, u in zip(sig.channels, sig.units, strict=True) if u != "1"}
    return out


def check_mvic(subject: Subject, trials: Sequence[Trial]) -> Iterator[Finding]:
    """No MVIC (no trial of condition ``mvic`` and no reference) while the subject's EMG is in
    volts, or a reference that lacks some of its muscles."""
    needing = _raw_muscles(trials)
    if not needing or any(t.condition == MVIC_CONDITION for t in trials):
        return
    sid = subject.subject_id
    if not subject.mvic:
        yield Finding(
            "warning",
            "no_mvic",
            "no MVIC trial (condition 'mvic') and no MVIC reference: the envelopes will be "
            "divided by the subject's peak over its trials (relative, not %MVIC), so muscle "
            "strength and the EMG-to-activation gain cannot be told apart",
            sid,
        )
    elif missing := sorted(needing - set(subject.mvic)):
        yield Finding(
            "warning",
            "mvic_incomplete",
            f"the MVIC reference has no value for {', '.join(missing)}: those envelopes will be "
            "divided by the subject's peak instead",
            sid,
        )


def check_envelope_levels(
    subject: Subject, trials: Sequence[Trial], settings: QualitySettings
) -> Iterator[Finding]:
    """Envelopes in unit 1 whose subject peak is far above 1 or below 1 % of it."""
    peaks = [
        (float(np.max(np.abs(t.envelope.values))), t)
        for t in trials
        if t.envelope is not None and all(u == "1" for u in t.envelope.units)
    ]
    if not peaks:
        return
    peak, trial = max(peaks, key=lambda p: p[0])
    sid = subject.subject_id
    if peak > settings.max_normalised_peak:
        yield Finding(
            "warning",
            "not_normalised",
            f"envelopes in unit 1 peak at {peak:.3g} (trial {trial.trial_id}), above "
            f"{settings.max_normalised_peak:g} x MVIC: they do not look MVIC-normalised",
            sid,
            trial.trial_id,
            trial.envelope.source if trial.envelope is not None else trial.source,
        )
    elif peak < settings.min_normalised_peak:
        yield Finding(
            "warning",
            "not_normalised",
            f"envelopes in unit 1 never exceed {peak:.3g}, below "
            f"{settings.min_normalised_peak:g} of the MVIC in every trial: volts labelled unit 1?",
            sid,
        )


def check_amount(
    subject: Subject, trials: Sequence[Trial], settings: QualitySettings
) -> Iterator[Finding]:
    """Fewer non-overlapping training windows in the subject's movement (trials other than
    MVIC, their streams' common span) than the NMM's personalised parameters per subject."""
    if settings.window_s is None or settings.n_parameters is None:
        return
    spans = [max(common_span(t), 0.0) for t in trials if t.condition != MVIC_CONDITION]
    windows = sum(int(span // settings.window_s) for span in spans)
    if windows < settings.n_parameters:
        yield Finding(
            "warning",
            "little_data",
            f"{sum(spans):.3g} s of movement in {len(spans)} trial(s): {windows} "
            f"non-overlapping training windows of {settings.window_s:g} s for "
            f"{settings.n_parameters} personalised parameters (one window per parameter needs "
            f"{settings.n_parameters * settings.window_s:g} s); the parameters will lean on "
            "their priors, and the fit may follow noise",
            subject.subject_id,
        )


# ----------------------------------------------------------------------------- cohort


def subject_mains(cohort: Cohort, min_ratio: float = MIN_LINE_RATIO) -> dict[str, MainsLine]:
    """Per subject, the mains line whose ratio reaches ``min_ratio`` in the pooled spectrum of
    its raw EMG (subjects without raw EMG or without such a line are left out)."""
    out = {}
    for sid in cohort.subject_ids:
        emg = [t.emg for t in cohort if t.subject == sid and t.emg is not None]
        line = detect_mains(mains_lines(emg), min_ratio) if emg else None
        if line is not None:
            out[sid] = line
    return out


def check_mains(cohort: Cohort, settings: QualitySettings) -> Iterator[Finding]:
    """One finding per detected mains frequency: a warning when the EMG chain has no notch or
    one at another frequency, else info."""
    found: dict[float, list[tuple[str, MainsLine]]] = {}
    for sid, line in subject_mains(cohort, settings.min_line_ratio).items():
        found.setdefault(line.freq_hz, []).append((sid, line))
    for freq, hits in sorted(found.items()):
        sid, strongest = max(hits, key=lambda h: h[1].ratio)
        what = (
            f"mains at {freq:g} Hz in the raw EMG of {len(hits)} subject(s) "
            f"({', '.join(s for s, _ in hits)}; line {strongest.ratio:.3g} x its neighbourhood "
            f"in {sid}'s '{strongest.channel}')"
        )
        subject = hits[0][0] if len(hits) == 1 else None
        if settings.notch_hz == freq:
            yield Finding("info", "mains", f"{what}; the EMG chain notches it", subject)
        elif settings.notch_hz is None:
            yield Finding(
                "warning",
                "mains",
                f"{what}, and the EMG chain has no notch: add one "
                f"(+preprocess.emg.steps.notch={{freq_hz: {freq:g}}})",
                subject,
            )
        else:
            yield Finding(
                "warning",
                "mains",
                f"{what}, but the EMG chain notches at {settings.notch_hz:g} Hz: set "
                f"preprocess.emg.steps.notch.freq_hz={freq:g}",
                subject,
            )


def _processed_envelopes(cohort: Cohort) -> Iterator[Finding]:
    given = [t for t in cohort if _normalised(t)]
    if given:
        yield Finding(
            "info",
            "processed_envelopes",
            f"{len(given)} trial(s) bring envelopes in unit 1 and no raw EMG: the raw EMG chain "
            "is skipped for them and their values are taken as %MVIC",
        )


def check_cohort(cohort: Cohort, settings: QualitySettings) -> list[Finding]:
    """Every finding of ``cohort``: per trial (:func:`check_trial`), per subject (MVIC,
    envelope levels, amount of movement), and cohort-wide (mains, processed envelopes)."""
    findings = [f for t in cohort for f in check_trial(t, settings)]
    for sid, subject in cohort.subjects.items():
        trials = [t for t in cohort if t.subject == sid]
        if not trials:
            findings.append(Finding("warning", "no_trials", "the subject has no trial", sid))
            continue
        findings += check_mvic(subject, trials)
        findings += check_envelope_levels(subject, trials, settings)
        findings += check_amount(subject, trials, settings)
    findings += check_mains(cohort, settings)
    findings += _processed_envelopes(cohort)
    return findings


def errors(findings: Iterable[Finding]) -> list[Finding]:
    """The error findings of ``findings``."""
    return [f for f in findings if f.level == "error"]
