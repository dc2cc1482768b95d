"""The indices of one session of one subject (issue 21, item 2), from its contractions.

A session's contractions are the epochs the segmenter cut from its preprocessed trials; for
each one this module takes the agonist's EMG (fatigue), the envelopes of all channels
(co-contraction, amplitude) and the pain-signature probability the classifier gave it. Each
index is one estimate per session with an interval, and the contraction-level values behind it:

- **mean indices** (pain probability, co-contraction, onset lag, amplitude: the agonist's mean
  envelope, a fraction of its MVIC where the envelopes are MVIC-normalised): the mean over the
  session's contractions with Student's t interval on n − 1 degrees of freedom,
  mean ± t · SD / √n (contractions treated as independent draws of the session);
- the pain probability pooled on the **log-odds** scale (``pain_pooling="log_odds"``): the
  mean of the contractions' logits z = log(p / (1 − p)) with its t interval, reported as
  probabilities, expit(mean z) and expit(bounds); the standard error is the delta method's
  p̄ (1 − p̄) · SE(z) with p̄ = expit(mean z). Pooling log-odds adds the contractions' evidence
  (their log likelihood ratios under a common prior) instead of averaging probabilities, which
  a confident classifier pushes to 0 or 1; p is clipped to [ε, 1 − ε]
  (:data:`LOGIT_EPSILON`) first;
- **slope indices** (MDF, MNF, FInsm5 across the session): the OLS slope per contraction with
  its t interval (:func:`painsig.indices.trend.ols_slope`); the values are the per-contraction
  MDF, MNF or FInsm5. With ``fatigue_contractions="heaviest_load"`` only the contractions of the
  session's heaviest load (the trials' ``load.mass_kg``) enter, at their positions in the
  session (the others NaN): a session that runs its light trials before its heavy ones would
  otherwise fit the load's effect on the spectrum as a trend, and a weak contraction's spectrum
  is dominated by noise (spectral fatigue indices need contractions of sufficient force;
  Merletti & Farina 2016, Surface Electromyography, ch. 10). One load: every contraction.
- **co-contraction** (Falconer & Winter 1985, :mod:`painsig.indices.cocontraction`): the
  flexor vs extensor index per window, averaged as a mean index. The windows are the
  contractions, or with ``cocontraction_phases`` (a :class:`~painsig.segment.KinematicSegmenter`)
  the joint's movement phases cut from each trial's kinematics: Falconer & Winter compare the
  agonist and antagonist groups over a movement phase, in which the net moment fixes their
  roles, and the index depends on its window (an epoch from the agonist's EMG onset to the end
  of the acceleration holds the pre-movement activity and not the deceleration). The second
  index, ``cocontraction_with_reconstructed``, adds the NMM's reconstruction
  (``cocontraction_reconstructed``): ``deep``, the reconstructed deep muscles' channels (named
  as the muscles) added to the measured envelopes; ``all``, every muscle of both groups from
  a reconstruction given beside the trials (in the monitor the NMM's excitations
  u = gain · ê: one scale for all six muscles, where an MVIC-normalised envelope sits below its
  excitation because the normalising peak of a noisy envelope lies above its plateau), over
  the same windows.

A contraction whose index cannot be computed (too short for a slope's band, no activity) gives
NaN, and an index with too few values gives a NaN estimate: neither stops the session.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from scipy.special import expit, logit

from nmm.data.schema import Signal, Trial
from painsig.bursts import BurstDetector
from painsig.classifier import PainClassifier, SavedModelError
from painsig.indices.amplitude import mvic_amplitudes
from painsig.indices.cocontraction import falconer_winter, group_envelope
from painsig.indices.fatigue import session_fatigue
from painsig.indices.timing import onset_lags
from painsig.indices.trend import ols_slope
from painsig.registry import FeatureError
from painsig.segment import Epoch, KinematicSegmenter
from painsig.settings import PainsigSettings
from painsig.table import feature_columns

__all__ = [
    "COCONTRACTION_RECONSTRUCTED",
    "FATIGUE_CONTRACTIONS",
    "LOGIT_EPSILON",
    "PAIN_POOLINGS",
    "SessionContractions",
    "SessionIndex",
    "SessionSettings",
    "loso_pain_probability",
    "saved_model_probability",
    "session_contractions",
    "session_indices",
]

log = logging.getLogger(__name__)

#: How the session's pain probability pools its contractions' probabilities (module doc).
PAIN_POOLINGS = ("mean", "log_odds")
#: Which contractions give the fatigue slopes (module doc).
FATIGUE_CONTRACTIONS = ("all", "heaviest_load")
#: p is clipped to [ε, 1 − ε] before its logit (a finite log-odds for a saturated output).
LOGIT_EPSILON = 1e-6
#: What the co-contraction index with the reconstruction takes from the NMM (module doc).
COCONTRACTION_RECONSTRUCTED = ("deep", "all")


@dataclass(frozen=True)
class SessionSettings:
    """What the session indices read.

    agonist: the muscle whose EMG gives the fatigue indices and whose bursts are the timing
    reference; flexors / extensors: the measured muscles of each group (co-contraction);
    reconstructed_flexors / _extensors: NMM-reconstructed channels added to the groups where
    the trials carry them (a second co-contraction index); timing_muscles: muscles whose onset
    lag on the agonist is reported; fatigue_band_hz: FInsm5's band (Hz); max_lag_s: the
    largest onset lag matched (s); detector: the burst detector of the timing; ci: the
    intervals' confidence; pain_pooling: how the pain probability pools the contractions
    (:data:`PAIN_POOLINGS`: ``mean`` of p, or ``log_odds``, the module doc);
    fatigue_contractions: which contractions give the fatigue slopes
    (:data:`FATIGUE_CONTRACTIONS`: ``all``, or ``heaviest_load``, the module doc);
    cocontraction_phases: the windows of the co-contraction indices, the movement phases this
    segmenter cuts from each trial (it needs the kinematics; None: the contractions);
    cocontraction_reconstructed: what the second co-contraction index takes from the NMM
    (:data:`COCONTRACTION_RECONSTRUCTED`: ``deep`` or ``all``, the module doc).
    """

    agonist: str = "BIClong"
    flexors: tuple[str, ...] = ("BIClong", "BICshort")
    extensors: tuple[str, ...] = ("TRIlong", "TRIlat")
    reconstructed_flexors: tuple[str, ...] = ("BRA",)
    reconstructed_extensors: tuple[str, ...] = ("TRImed",)
    timing_muscles: tuple[str, ...] = ("TRIlong",)
    fatigue_band_hz: tuple[float, float] = (20.0, 400.0)
    max_lag_s: float = 0.5
    detector: BurstDetector = field(default_factory=BurstDetector)
    ci: float = 0.95
    pain_pooling: str = "mean"
    fatigue_contractions: str = "all"
    cocontraction_phases: KinematicSegmenter | None = None
    cocontraction_reconstructed: str = "deep"

    def __post_init__(self) -> None:
        if self.pain_pooling not in PAIN_POOLINGS:
            raise ValueError(f"pain_pooling {self.pain_pooling!r}: one of {PAIN_POOLINGS}")
        if self.fatigue_contractions not in FATIGUE_CONTRACTIONS:
            raise ValueError(
                f"fatigue_contractions {self.fatigue_contractions!r}: one of {FATIGUE_CONTRACTIONS}"
            )
        if self.cocontraction_reconstructed not in COCONTRACTION_RECONSTRUCTED:
            raise ValueError(
                f"cocontraction_reconstructed {self.cocontraction_reconstructed!r}: one of "
                f"{COCONTRACTION_RECONSTRUCTED}"
            )
        phases = self.cocontraction_phases
        if phases is not None and phases.stream != "envelope":
            raise ValueError(f"cocontraction_phases cut the envelope stream, not {phases.stream!r}")

    @classmethod
    def from_mapping(cls, d: Mapping[str, Any]) -> SessionSettings:
        """From a plain mapping (``monitor.session`` of ``conf/monitor.yaml``); missing keys
        take the defaults, an unknown key raises ValueError naming it."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown session setting(s) {unknown}; known: {sorted(known)}")
        tuples = {k: tuple(v) for k, v in d.items() if isinstance(v, list | tuple)}
        detector = d.get("detector")
        phases = d.get("cocontraction_phases")
        plain = {**d, **tuples}
        if detector is not None:
            plain["detector"] = BurstDetector(**detector)
        if phases is not None:
            plain["cocontraction_phases"] = KinematicSegmenter(**phases)
        return cls(**plain)


@dataclass(frozen=True)
class SessionIndex:
    """One index of one session: ``estimate`` in ``unit`` with its [low, high] interval and
    standard error; ``values`` (K,): the contractions behind it (NaN where undefined);
    ``kind``: ``mean`` or ``slope`` (per contraction)."""

    name: str
    unit: str
    kind: str
    estimate: float
    low: float
    high: float
    stderr: float
    values: np.ndarray


@dataclass(frozen=True)
class SessionContractions:
    """The contractions of one session of one subject, in session order (trial order, then
    time): ``emg`` (K,) agonist EMG arrays at ``emg_rate`` Hz, ``envelopes`` (K,) envelope
    signals of every channel (MVIC-normalised, units 1), ``pain_probability`` (K,),
    ``lags`` {muscle: (L,) s} onset lags of each timing muscle on the agonist's bursts,
    ``loads_kg`` (K,) the load held in each contraction's trial (kg; None: unknown),
    ``phase_envelopes`` (P,) envelope signals of the co-contraction windows
    (``SessionSettings.cocontraction_phases``; None: the contractions' ``envelopes``),
    ``reconstructed_windows`` (P or K,) the reconstruction of every muscle of both groups over
    the same windows (``cocontraction_reconstructed="all"``; None: not given)."""

    subject: str
    session: str
    emg: list[np.ndarray]
    emg_rate: float
    envelopes: list[Signal]
    pain_probability: np.ndarray
    lags: dict[str, np.ndarray]
    loads_kg: np.ndarray | None = None
    phase_envelopes: list[Signal] | None = None
    reconstructed_windows: list[Signal] | None = None


def _mean_index(name: str, unit: str, values: npt.ArrayLike, ci: float) -> SessionIndex:
    """The mean over contractions with Student's t interval (NaN values left out); with
    fewer than 2 values, no interval (NaN)."""
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    mean = float(np.mean(finite)) if finite.size else math.nan
    if finite.size < 2:
        return SessionIndex(name, unit, "mean", mean, math.nan, math.nan, math.nan, v)
    se = float(np.std(finite, ddof=1) / math.sqrt(finite.size))
    half = float(stats.t.ppf(0.5 + ci / 2, finite.size - 1)) * se
    return SessionIndex(name, unit, "mean", mean, mean - half, mean + half, se, v)


def _log_odds_index(name: str, probability: npt.ArrayLike, ci: float) -> SessionIndex:
    """The probability pooled on the log-odds scale (module doc); ``values``: the
    probabilities."""
    p = np.asarray(probability, dtype=float)
    z = _mean_index(name, "1", logit(np.clip(p, LOGIT_EPSILON, 1.0 - LOGIT_EPSILON)), ci)
    mean = float(expit(z.estimate))
    se = mean * (1.0 - mean) * z.stderr
    low, high = float(expit(z.low)), float(expit(z.high))
    return SessionIndex(name, "1", "mean", mean, low, high, se, p)


def _slope_index(name: str, unit: str, values: npt.ArrayLike, ci: float) -> SessionIndex:
    """The OLS slope per contraction with its t interval; NaN with fewer than 3 values."""
    v = np.asarray(values, dtype=float)
    try:
        s = ols_slope(v, None, ci)
    except FeatureError as exc:
        log.warning("%s: no slope (%s)", name, exc)
        return SessionIndex(name, unit, "slope", math.nan, math.nan, math.nan, math.nan, v)
    return SessionIndex(name, unit, "slope", s.slope, s.low, s.high, s.stderr, v)


def _per_contraction(fn, items: Sequence[Any]) -> np.ndarray:
    """fn(item) for each item, NaN where it raises FeatureError (logged)."""
    out = np.full(len(items), np.nan)
    for k, item in enumerate(items):
        try:
            out[k] = fn(item)
        except FeatureError as exc:
            log.warning("contraction %d: %s", k, exc)
    return out


def _cocontraction(envelopes: Sequence[Signal], flexors: Sequence[str], extensors: Sequence[str]):
    """Falconer & Winter's CI (%) of the flexor vs extensor group envelopes, per window."""
    return _per_contraction(
        lambda e: falconer_winter(group_envelope(e, flexors), group_envelope(e, extensors)),
        envelopes,
    )


def _cocontraction_indices(c: SessionContractions, s: SessionSettings) -> list[SessionIndex]:
    """The co-contraction index of the measured groups, and with the reconstruction where the
    windows carry its channels, over the session's windows (module doc)."""
    windows = c.envelopes if c.phase_envelopes is None else c.phase_envelopes
    if not windows:
        log.warning("%s session %s: no co-contraction windows", c.subject, c.session)
        return []
    cci = _cocontraction(windows, s.flexors, s.extensors)
    out = [_mean_index("cocontraction_measured", "%", cci, s.ci)]
    flexors = (*s.flexors, *s.reconstructed_flexors)
    extensors = (*s.extensors, *s.reconstructed_extensors)
    if s.cocontraction_reconstructed == "all":
        full_windows = c.reconstructed_windows
    else:  # the deep muscles' channels added to the measured envelopes
        deep = (*s.reconstructed_flexors, *s.reconstructed_extensors)
        full_windows = windows if deep and all(m in windows[0] for m in deep) else None
    if full_windows is not None:
        full = _cocontraction(full_windows, flexors, extensors)
        out.append(_mean_index("cocontraction_with_reconstructed", "%", full, s.ci))
    return out


def _fatigue_used(c: SessionContractions, s: SessionSettings) -> np.ndarray:
    """(K,) bool: the contractions that give the fatigue slopes (``s.fatigue_contractions``)."""
    if s.fatigue_contractions == "all" or c.loads_kg is None:
        return np.ones(len(c.emg), dtype=bool)
    loads = np.asarray(c.loads_kg, dtype=float)
    return loads == np.max(loads)


def _fatigue_indices(c: SessionContractions, s: SessionSettings) -> list[SessionIndex]:
    """MDF, MNF and FInsm5 slopes across the session (per contraction; the contractions left
    out by ``s.fatigue_contractions`` NaN)."""
    used = _fatigue_used(c, s)
    try:
        emg = [x for x, u in zip(c.emg, used, strict=True) if u]
        f = session_fatigue(emg, c.emg_rate, s.fatigue_band_hz, ci=s.ci)
        values = {}
        for name, v in (("mdf", f.mdf), ("mnf", f.mnf), ("finsm5", f.finsm5)):
            values[name] = np.full(len(c.emg), np.nan)
            values[name][used] = v
    except FeatureError as exc:
        log.warning("%s session %s: no fatigue indices (%s)", c.subject, c.session, exc)
        values = dict.fromkeys(("mdf", "mnf", "finsm5"), np.full(len(c.emg), np.nan))
    units = {"mdf": "Hz/contraction", "mnf": "Hz/contraction", "finsm5": "Hz^-6/contraction"}
    return [_slope_index(f"{k}_slope", units[k], v, s.ci) for k, v in values.items()]


def session_indices(c: SessionContractions, s: SessionSettings) -> list[SessionIndex]:
    """Every index of one session (see the module doc), in a fixed order."""
    if s.pain_pooling == "log_odds":
        out = [_log_odds_index("pain_probability", c.pain_probability, s.ci)]
    else:
        out = [_mean_index("pain_probability", "1", c.pain_probability, s.ci)]
    out += _fatigue_indices(c, s)
    out += _cocontraction_indices(c, s)
    for muscle, lags in c.lags.items():
        out.append(_mean_index(f"onset_lag_{muscle}", "s", lags, s.ci))
    # the envelopes are MVIC-normalised (units 1) where the subject has MVIC references;
    # otherwise the amplitude stays in the envelope's units
    unit = c.envelopes[0].unit(s.agonist)
    amplitude = mvic_amplitudes([e[s.agonist] for e in c.envelopes], 1.0).mean
    label = "1 (MVIC)" if unit == "1" else unit
    out.append(_mean_index(f"amplitude_{s.agonist}", label, amplitude, s.ci))
    return out


def _trial_lags(trial: Trial, s: SessionSettings) -> dict[str, np.ndarray]:
    """Onset lags (s) of each timing muscle's bursts on the agonist's, over one trial."""
    env = trial.envelope
    reference = s.detector.detect(env[s.agonist], env.rate, source=env.source, channel=s.agonist)
    return {
        m: onset_lags(
            reference,
            s.detector.detect(env[m], env.rate, source=env.source, channel=m),
            s.max_lag_s,
        )
        for m in s.timing_muscles
    }


def session_contractions(
    trials: Sequence[Trial],
    epochs: Sequence[Epoch],
    probability: Mapping[int, float],
    s: SessionSettings,
    reconstruction: Callable[[Trial], Signal] | None = None,
) -> SessionContractions:
    """The contractions of one session: its preprocessed ``trials`` (one subject, one
    session), the ``epochs`` cut from them and each epoch's pain probability by its position
    in ``epochs`` (missing: NaN, an epoch the feature table dropped). ``reconstruction``: a
    trial's reconstructed signals of every muscle of the co-contraction groups (read with
    ``s.cocontraction_reconstructed="all"``)."""
    by_trial = {t.trial_id: t for t in trials}
    emg, envelopes = [], []
    for e in epochs:
        t = by_trial[e.trial_id]
        emg.append(t.emg.between(e.start_s, e.stop_s)[s.agonist])
        envelopes.append(t.envelope.between(e.start_s, e.stop_s))
    lags: dict[str, list[np.ndarray]] = {m: [] for m in s.timing_muscles}
    for t in trials:
        for m, v in _trial_lags(t, s).items():
            lags[m].append(v)
    first = trials[0]
    spans = _cocontraction_spans(trials, epochs, s.cocontraction_phases)
    windows = None if s.cocontraction_phases is None else _cut_spans(spans, lambda t: t.envelope)
    full = None
    if s.cocontraction_reconstructed == "all" and reconstruction is not None:
        full = _cut_spans(spans, reconstruction)
    return SessionContractions(
        first.subject,
        first.session,
        emg,
        float(first.emg.rate),
        envelopes,
        np.array([probability.get(k, np.nan) for k in range(len(epochs))]),
        {m: np.concatenate(v) if v else np.array([]) for m, v in lags.items()},
        np.array([by_trial[e.trial_id].load.mass_kg for e in epochs], dtype=float),
        windows,
        full,
    )


def _cocontraction_spans(
    trials: Sequence[Trial], epochs: Sequence[Epoch], phases: KinematicSegmenter | None
) -> list[tuple[Trial, float, float]]:
    """The co-contraction windows (trial, start s, stop s): the movement phases ``phases``
    cuts from ``trials`` (trial order, then time), or with None the ``epochs``."""
    if phases is None:
        by_trial = {t.trial_id: t for t in trials}
        return [(by_trial[e.trial_id], e.start_s, e.stop_s) for e in epochs]
    return [(t, e.start_s, e.stop_s) for t in trials for e in phases(t)]


def _cut_spans(
    spans: Sequence[tuple[Trial, float, float]], signal_of: Callable[[Trial], Signal]
) -> list[Signal]:
    """``signal_of(trial)`` over each span, each trial's signal made once."""
    made: dict[int, Signal] = {}
    out = []
    for trial, start, stop in spans:
        if id(trial) not in made:
            made[id(trial)] = signal_of(trial)
        out.append(made[id(trial)].between(start, stop))
    return out


def loso_pain_probability(table: pd.DataFrame, settings: PainsigSettings) -> pd.Series:
    """Each contraction's probability of ``settings.positive``, from a classifier
    (``settings.classifier``) trained on the positive and negative contractions of the other
    subjects only (leave one subject out), so no patient is scored by a model that saw them.
    ``table``: :func:`painsig.table.feature_table`; returns a Series on its index."""
    cols = feature_columns(table)
    labelled = table["condition"].isin([settings.positive, settings.negative])
    out = pd.Series(np.nan, index=table.index, name="pain_probability")
    for subject in dict.fromkeys(table["subject"]):
        train = labelled & (table["subject"] != subject)
        model = PainClassifier(**settings.classifier).fit(
            table.loc[train, cols], table.loc[train, "condition"]
        )
        mine = table["subject"] == subject
        column = list(model.classes_).index(settings.positive)
        out[mine] = model.predict_proba(table.loc[mine, cols])[:, column]
    return out


def saved_model_probability(table: pd.DataFrame, model: PainClassifier, positive: str) -> pd.Series:
    """Each contraction's probability of ``positive`` from a model trained elsewhere
    (:meth:`PainClassifier.load`), on the feature columns it was trained on; SavedModelError
    when the table lacks one of them or the model has no class ``positive``."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise SavedModelError("the saved model has no feature names: cannot match the columns")
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise SavedModelError(
            f"the contractions lack the model's feature(s) {missing[:5]}: describe them with "
            "the features and channels the model was trained on"
        )
    if positive not in list(model.classes_):
        raise SavedModelError(f"the model's classes {list(model.classes_)} lack {positive!r}")
    column = list(model.classes_).index(positive)
    p = model.predict_proba(table[list(names)])[:, column]
    return pd.Series(p, index=table.index, name="pain_probability")
