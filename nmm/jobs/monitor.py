"""``painsig-monitor``: a patient's session indices and their trends across sessions
(issue 21, items 2-4; config ``conf/monitor.yaml``).

Reads a cohort whose subjects have two or more sessions, preprocesses and segments every trial
but the excluded conditions (the MVIC trials), scores each contraction's pain-signature
probability with a classifier trained leave-one-subject-out inside the app (the positive and
negative contractions of the other subjects: no patient is scored by a model that saw them), or
with a model trained elsewhere (``monitor.model``, a file of :meth:`PainClassifier.save`), from
the contractions' features or, with ``monitor.features_relative_to_baseline``, from features
referenced to each patient's own baseline sessions (:mod:`painsig.reference`),
computes each session's indices (:mod:`painsig.session`) and each index's trend
(:mod:`painsig.trends`), and writes:

- ``indices.csv``: every index per subject and session (estimate, interval, standard error);
- ``trends.csv``: every index's trend per subject (Theil–Sen slope and interval, change from
  the first session with its test, the baseline band and the flag);
- ``monitor/<subject>/report.html``: the patient's self-contained page
  (:mod:`nmm.jobs.monitor_report`);
- ``metrics.json`` (by the job), ``config.yaml``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_path
from nmm.data.preprocess import Step
from nmm.data.schema import Cohort, Signal, Trial
from nmm.jobs.check_data import check_before_work
from nmm.jobs.config_check import ConfigError, check_cohort_rates
from nmm.jobs.monitor_report import write_subject_report
from nmm.jobs.painsig import settings_from_config
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from nmm.pipeline.channels import ReconstructedChannels
from painsig.classifier import PainClassifier, SavedModelError
from painsig.contractions import contraction_features, preprocessed_trials
from painsig.features import FEATURES
from painsig.reference import baseline_rows, patient_referenced
from painsig.segment import Epoch, segmenter_label
from painsig.session import (
    SessionIndex,
    SessionSettings,
    loso_pain_probability,
    saved_model_probability,
    session_contractions,
    session_indices,
)
from painsig.settings import PainsigSettings
from painsig.table import feature_columns
from painsig.trends import IndexTrend, TrendError, index_trend, session_numbers

__all__ = [
    "MonitorSettings",
    "SessionCountError",
    "check_phases",
    "check_ratio_features",
    "check_scoring",
    "check_sessions",
    "monitor_settings",
    "monitored_trials",
    "run_monitor",
    "run_monitor_job",
]

log = logging.getLogger(__name__)


class SessionCountError(ValueError):
    """A subject with fewer than two sessions: trends need two or more."""


@dataclass(frozen=True)
class MonitorSettings:
    """The ``monitor`` node: ``exclude_conditions`` (trials not monitored, e.g. the MVIC
    trials), ``baseline_sessions`` (k, the first sessions that set the baseline band),
    ``band_sd`` (the band's half-width in SDs), ``ci`` (the trend slope's confidence),
    ``session`` (:class:`painsig.session.SessionSettings`) and
    ``features_relative_to_baseline`` (score each patient's contractions from features
    referenced to their first ``baseline_sessions``, :mod:`painsig.reference`) and
    ``baseline_ratio_features`` (the features, by registry name, referenced by ratio rather
    than by shift: those whose value scales with the recording's gain; empty: all shifted)."""

    exclude_conditions: tuple[str, ...]
    baseline_sessions: int
    band_sd: float
    ci: float
    session: SessionSettings
    features_relative_to_baseline: bool = False
    baseline_ratio_features: tuple[str, ...] = ()


def monitor_settings(cfg: DictConfig) -> MonitorSettings:
    """MonitorSettings from ``cfg.monitor``; a bad value raises ConfigError naming its key."""
    plain = OmegaConf.to_container(cfg.monitor, resolve=True)
    try:
        session = SessionSettings.from_mapping(plain.get("session") or {})
    except (TypeError, ValueError) as exc:
        raise ConfigError("monitor.session", str(exc)) from exc
    return MonitorSettings(
        tuple(plain["exclude_conditions"] or ()),
        int(plain["baseline_sessions"]),
        float(plain["band_sd"]),
        float(plain["ci"]),
        session,
        bool(plain.get("features_relative_to_baseline", False)),
        tuple(plain.get("baseline_ratio_features") or ()),
    )


def check_ratio_features(m: MonitorSettings, settings: PainsigSettings) -> None:
    """``monitor.baseline_ratio_features`` must name features the contractions are described
    by (``painsig.features.names``) and needs ``monitor.features_relative_to_baseline``:
    ConfigError naming the key, before any work."""
    if not m.baseline_ratio_features:
        return
    described = settings.features.names or FEATURES.names()  # None: every registered one
    unknown = sorted(set(m.baseline_ratio_features) - set(described))
    if unknown:
        raise ConfigError(
            "monitor.baseline_ratio_features",
            f"{unknown} are not among painsig.features.names {list(described)}",
        )
    if not m.features_relative_to_baseline:
        raise ConfigError(
            "monitor.baseline_ratio_features",
            "a ratio reference needs monitor.features_relative_to_baseline=true (or set it to [])",
        )


def _ratio_columns(columns: Sequence[str], names: Sequence[str]) -> list[str]:
    """The feature columns (``<channel>_<feature>``) of the features ``names``."""
    return [c for c in columns if any(c.endswith(f"_{n}") for n in names)]


def check_sessions(trials: Sequence[Trial], k: int) -> None:
    """SessionCountError naming every subject with fewer than 2 sessions, or fewer than the
    ``k`` baseline sessions, before any work."""
    sessions: dict[str, set[str]] = {}
    for t in trials:
        sessions.setdefault(t.subject, set()).add(t.session)
    short = {s: sorted(v) for s, v in sessions.items() if len(v) < max(2, k)}
    if short:
        raise SessionCountError(
            f"trends need 2 or more sessions per subject and {k} baseline session(s) "
            f"(monitor.baseline_sessions); subject(s) with fewer: {short}"
        )


def _session_order(trials: Sequence[Trial]) -> list[str]:
    """A subject's session labels in order (by number when all are integers)."""
    labels = list(dict.fromkeys(t.session for t in trials))
    numbers = session_numbers(labels)
    return [labels[i] for i in np.argsort(numbers, kind="stable")]


def _subject_sessions(
    trials: Sequence[Trial],
    epochs: Sequence[Epoch],
    probability: pd.Series,
    settings: SessionSettings,
    reconstruction: Callable[[Trial], Signal] | None = None,
) -> list[tuple[str, list[SessionIndex]]]:
    """Each session of one subject (in order) with its indices; ``epochs`` are the cohort's,
    ``probability`` indexed by their positions; ``reconstruction`` as in
    :func:`painsig.session.session_contractions`."""
    out = []
    for session in _session_order(trials):
        mine = [t for t in trials if t.session == session]
        ids = {t.trial_id for t in mine}
        positions = [
            i
            for i, e in enumerate(epochs)
            if e.subject == mine[0].subject and e.session == session and e.trial_id in ids
        ]
        if not positions:
            log.warning("%s session %s: no contractions", mine[0].subject, session)
            continue
        p = {k: float(probability[i]) for k, i in enumerate(positions) if i in probability.index}
        c = session_contractions(mine, [epochs[i] for i in positions], p, settings, reconstruction)
        out.append((session, session_indices(c, settings)))
    return out


def _trends(
    sessions: list[tuple[str, list[SessionIndex]]], m: MonitorSettings
) -> dict[str, IndexTrend]:
    """Each index's trend over the sessions; an index without enough sessions is skipped
    (logged)."""
    x = session_numbers([s for s, _ in sessions])
    names = list(dict.fromkeys(i.name for _, idx in sessions for i in idx))
    out = {}
    for name in names:
        found = [next((i for i in idx if i.name == name), None) for _, idx in sessions]
        est = [np.nan if i is None else i.estimate for i in found]
        se = [np.nan if i is None else i.stderr for i in found]
        try:
            out[name] = index_trend(x, est, se, m.baseline_sessions, m.band_sd, m.ci)
        except TrendError as exc:
            log.warning("%s: no trend (%s)", name, exc)
    return out


def _index_rows(subject: str, sessions: list[tuple[str, list[SessionIndex]]]) -> list[dict]:
    """Rows of indices.csv for one subject."""
    return [
        {
            "subject": subject,
            "session": session,
            "index": i.name,
            "unit": i.unit,
            "kind": i.kind,
            "estimate": i.estimate,
            "low": i.low,
            "high": i.high,
            "stderr": i.stderr,
            "n_contractions": int(np.isfinite(i.values).sum()),
        }
        for session, indices in sessions
        for i in indices
    ]


def _trend_row(subject: str, name: str, t: IndexTrend) -> dict[str, Any]:
    """One row of trends.csv (and of metrics.json)."""
    return {
        "subject": subject,
        "index": name,
        "slope_per_session": t.slope,
        "slope_low": t.low,
        "slope_high": t.high,
        "n_sessions": t.n_sessions,
        "change_from_first": t.change.difference,
        "change_z": t.change.z,
        "change_p": t.change.p_value,
        "band_low": t.band.low,
        "band_high": t.band.high,
        "latest_outside_band": t.band.outside,
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV (floats to 10 significant digits), written atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.10g")
    return path


def monitored_trials(
    cohort: Cohort,
    emg: Step,
    kinematics: Step,
    exclude: Sequence[str],
    augment: Callable[[Trial], Trial] | None = None,
) -> list[Trial]:
    """The cohort's trials but the ``exclude`` conditions, preprocessed (each subject's MVIC
    normalises the envelopes) and, with ``augment``, given the reconstructed channels."""
    excluded = set(exclude)
    kept = [t for t in cohort if t.condition not in excluded]
    return preprocessed_trials(cohort, kept, emg, kinematics, augment)


def run_monitor(
    cohort: Cohort,
    trials: Sequence[Trial],
    segmenter: Callable[[Trial], list[Epoch]],
    settings: PainsigSettings,
    monitor: MonitorSettings,
    run_dir: str | os.PathLike[str],
    model: PainClassifier | None = None,
    reconstruction: Callable[[Trial], Signal] | None = None,
) -> dict[str, Any]:
    """Session indices and trends of every subject of ``cohort`` from its preprocessed
    ``trials`` (:func:`monitored_trials`), written to ``run_dir``; returns the metrics.

    model: a classifier trained elsewhere that scores every contraction; None: one trained
    leave-one-subject-out on the cohort (:func:`painsig.session.loso_pain_probability`).
    reconstruction: a trial's reconstructed muscles for the co-contraction index with the
    reconstruction (:func:`painsig.session.session_contractions`)."""
    run_dir = Path(run_dir)
    epochs, table, ref_kind = contraction_features(cohort, list(trials), segmenter, settings)
    if monitor.features_relative_to_baseline:
        baseline = baseline_rows(table, monitor.baseline_sessions)
        columns = feature_columns(table)
        ratio = _ratio_columns(columns, monitor.baseline_ratio_features)
        table = patient_referenced(table, columns, baseline, ratio)
    if model is None:
        probability = loso_pain_probability(table, settings)
        scorer = (
            "leave-one-subject-out, trained on the other subjects' "
            f"{settings.positive}/{settings.negative} contractions"
        )
    else:
        probability = saved_model_probability(table, model, settings.positive)
        scorer = "a saved model (monitor.model)"
    index_rows, trend_rows, pages = [], [], {}
    for subject in dict.fromkeys(t.subject for t in trials):
        mine = [t for t in trials if t.subject == subject]
        sessions = _subject_sessions(mine, epochs, probability, monitor.session, reconstruction)
        trends = _trends(sessions, monitor)
        index_rows += _index_rows(subject, sessions)
        trend_rows += [_trend_row(subject, n, t) for n, t in trends.items()]
        page = run_dir / "monitor" / subject / "report.html"
        pages[subject] = str(
            write_subject_report(subject, sessions, trends, page, monitor.session).relative_to(
                run_dir
            )
        )
    _write_csv(pd.DataFrame(index_rows), run_dir / "indices.csv")
    _write_csv(pd.DataFrame(trend_rows), run_dir / "trends.csv")
    flagged = [f"{r['subject']}/{r['index']}" for r in trend_rows if r["latest_outside_band"]]
    return {
        "n_contractions": len(epochs),
        "n_scored": int(probability.notna().sum()),
        "peak_reference": ref_kind,
        "classifier": scorer,
        "baseline_sessions": monitor.baseline_sessions,
        "features_relative_to_baseline": monitor.features_relative_to_baseline,
        "baseline_ratio_features": list(monitor.baseline_ratio_features),
        "session_settings": {k: v for k, v in asdict(monitor.session).items() if k != "detector"},
        "latest_outside_band": flagged,
        "trends": trend_rows,
        "reports": pages,
    }


def _reconstructions(
    cfg: DictConfig, m: MonitorSettings
) -> tuple[Callable[[Trial], Trial] | None, Callable[[Trial], Signal] | None]:
    """From ``monitor.reconstructed`` (a predictions folder of nmm-predict; null: (None,
    None)): with ``monitor.session.cocontraction_reconstructed=deep`` the trials' augmentation
    adding the deep muscles' envelopes ê as channels; with ``all`` a trial's excitations u of
    every muscle of the co-contraction groups, read beside the trials."""
    folder = cfg.monitor.get("reconstructed")
    if folder is None:
        return None, None
    s = m.session
    if s.cocontraction_reconstructed == "deep":
        return ReconstructedChannels(
            folder, (*s.reconstructed_flexors, *s.reconstructed_extensors)
        ), None
    groups = (*s.flexors, *s.reconstructed_flexors, *s.extensors, *s.reconstructed_extensors)
    return None, ReconstructedChannels(folder, groups, stream="excitation").signal


def check_phases(trials: Sequence[Trial], m: MonitorSettings) -> None:
    """With ``monitor.session.cocontraction_phases``, every trial must carry kinematics (the
    phases are cut from them): ConfigError naming the key and the first trials without, before
    any work."""
    if m.session.cocontraction_phases is None:
        return
    bare = [
        t.source or f"{t.subject}/{t.session}/{t.trial_id}" for t in trials if t.kinematics is None
    ]
    if bare:
        raise ConfigError(
            "monitor.session.cocontraction_phases",
            f"the movement phases are cut from the kinematics, and {len(bare)} trial(s) have "
            f"none (e.g. {bare[:3]}); set monitor.session.cocontraction_phases=null to compute "
            "the co-contraction over the contractions (EMG-only recordings)",
        )


def check_scoring(trials: Sequence[Trial], settings: PainsigSettings, model: object) -> None:
    """Without a saved model, the trials must hold both trained conditions (the
    leave-one-subject-out model learns from them): ConfigError naming ``monitor.model`` and the
    conditions present, before any work."""
    present = sorted({t.condition for t in trials})
    missing = sorted({settings.positive, settings.negative} - set(present))
    if model is None and missing:
        raise ConfigError(
            "monitor.model",
            f"null (train leave-one-subject-out) needs {settings.positive!r} and "
            f"{settings.negative!r} contractions, and the cohort has no {missing} (conditions: "
            f"{present}); give a model trained elsewhere, e.g. "
            "monitor.model=<painsig run_dir>/model.json",
        )


def _saved_model(cfg: DictConfig) -> PainClassifier | None:
    """The classifier of ``monitor.model`` (None: train leave-one-subject-out). A model whose
    training contractions were cut by another segmenter than ``painsig.segmenter`` is refused:
    its probabilities would describe other epochs (a file saved without that record passes)."""
    path = cfg.monitor.get("model")
    if path is None:
        return None
    model = PainClassifier.load(path)
    trained_on = getattr(model, "context_", {}).get("segmenter")
    here = segmenter_label(instantiate(cfg.painsig.segmenter))
    if trained_on is not None and trained_on != here:
        raise SavedModelError(
            f"monitor.model = {path}: its contractions were cut by the {trained_on!r} segmenter "
            f"and painsig.segmenter is {here!r}; choose painsig/segmenter={trained_on} or "
            f"retrain the model with painsig/segmenter={here}"
        )
    return model


def run_monitor_job(cfg: DictConfig) -> dict:
    """The monitor of one config into ``cfg.run_dir``; returns its metrics."""
    run_dir = Path(cfg.run_dir)
    settings = settings_from_config(cfg.painsig)
    monitor = monitor_settings(cfg)
    model = _saved_model(cfg)  # a bad file fails here, before any work
    seed = seed_everything(int(cfg.seed))
    write_config(cfg, run_dir)
    cohort = instantiate(cfg.data)
    check_before_work(cfg, cohort)  # the data checks: errors raise, warnings are logged
    check_cohort_rates(cfg, cohort)
    kept = [t for t in cohort if t.condition not in set(monitor.exclude_conditions)]
    check_sessions(kept, monitor.baseline_sessions)
    check_scoring(kept, settings, model)
    check_ratio_features(monitor, settings)
    check_phases(kept, monitor)
    augment, reconstruction = _reconstructions(cfg, monitor)
    trials = monitored_trials(
        cohort,
        instantiate(cfg.preprocess.emg),
        instantiate(cfg.preprocess.kinematics),
        monitor.exclude_conditions,
        augment,
    )
    segmenter = instantiate(cfg.painsig.segmenter)
    try:
        report = run_monitor(
            cohort, trials, segmenter, settings, monitor, run_dir, model, reconstruction
        )
    except SavedModelError as exc:
        raise SavedModelError(f"monitor.model = {cfg.monitor.model}: {exc}") from exc
    metrics = {"seed": seed, **report}
    path = write_metrics(metrics, run_dir)
    print(
        f"painsig-monitor finished: {len(metrics['reports'])} patient page(s), "
        f"{len(metrics['latest_outside_band'])} index(es) outside the baseline band; "
        f"metrics in {path}"
    )
    return metrics
