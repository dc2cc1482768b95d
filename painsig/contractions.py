"""From a cohort to the feature table: the trials of the compared conditions, preprocessed,
segmented into contractions and described by the registered features."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nmm.data.preprocess import Step, preprocess_trial
from nmm.data.schema import Cohort, Trial
from painsig.segment import Epoch, segment_trials
from painsig.settings import PainsigSettings
from painsig.table import feature_table

log = logging.getLogger(__name__)

__all__ = [
    "Contractions",
    "contraction_features",
    "describe_contractions",
    "peak_references",
    "preprocessed_trials",
    "trials_to_describe",
]


@dataclass(frozen=True)
class Contractions:
    """The described contractions of one cohort.

    table: one row per valid epoch (:func:`painsig.table.feature_table`); n_epochs: epochs
    found by the segmenter (before invalid ones were dropped); peak_reference: how the
    reference of the `peak` feature was obtained (:func:`peak_references`).
    """

    table: pd.DataFrame
    n_epochs: int
    peak_reference: str


def trials_to_describe(cohort: Cohort, settings: PainsigSettings) -> list[Trial]:
    """The trials of the positive, negative and third conditions; ValueError if the cohort
    lacks the positive or the negative condition."""
    wanted = {settings.positive, settings.negative} | (
        {settings.third} if settings.third else set()
    )
    missing = {settings.positive, settings.negative} - set(cohort.conditions)
    if missing:
        raise ValueError(
            f"cohort '{cohort.name}' has no trials of condition(s) {sorted(missing)} "
            f"(conditions present: {cohort.conditions})"
        )
    return [t for t in cohort if t.condition in wanted]


def peak_references(cohort: Cohort, processed: list[Trial]) -> tuple[dict, str]:
    """MVIC reference per subject and channel for the `peak` feature, and how it was obtained.

    Envelopes already MVIC-normalised (units '1') use 1.0. Otherwise, subjects without MVIC
    trials fall back to their largest envelope over all their trials (a within-subject
    normalisation, stated in metrics.json).
    """
    if all(t.envelope is not None and set(t.envelope.units) == {"1"} for t in processed):
        return {t.subject: dict.fromkeys(t.envelope.channels, 1.0) for t in processed}, "mvic"
    refs: dict[str, dict[str, float]] = {}
    for t in processed:
        for ch in t.envelope.channels:
            peak = float(np.max(np.abs(t.envelope[ch])))
            refs.setdefault(t.subject, {})[ch] = max(refs.get(t.subject, {}).get(ch, 0.0), peak)
    return refs, "subject peak envelope over all trials (no MVIC trials)"


def preprocessed_trials(
    cohort: Cohort,
    trials: Iterable[Trial],
    emg: Step,
    kinematics: Step,
    augment: Callable[[Trial], Trial] | None = None,
) -> list[Trial]:
    """``trials`` of ``cohort`` through the ``emg`` and ``kinematics`` chains, each subject's
    MVIC normalising its envelopes; ``augment`` is then applied to every trial, e.g. to add
    reconstructed deep-muscle envelopes as channels."""
    processed = [
        preprocess_trial(
            t, emg=emg, kinematics=kinematics, mvic=cohort.subjects[t.subject].mvic or None
        )
        for t in trials
    ]
    return [augment(t) for t in processed] if augment is not None else processed


def contraction_features(
    cohort: Cohort,
    processed: Sequence[Trial],
    segmenter: Callable[[Trial], list[Epoch]],
    settings: PainsigSettings,
) -> tuple[list[Epoch], pd.DataFrame, str]:
    """The contractions of the preprocessed trials, their feature table (one row per
    contraction, ``settings.features`` on every channel) and how peaks were referenced
    (:func:`peak_references`)."""
    refs, ref_kind = peak_references(cohort, processed)
    epochs = segment_trials(processed, segmenter)
    table = feature_table(
        epochs,
        settings.channels,
        mvic=refs,
        names=settings.features.names,
        params=settings.features.params,
    )
    return epochs, table, ref_kind


def describe_contractions(
    cohort: Cohort,
    emg: Step,
    kinematics: Step,
    segmenter: Callable[[Trial], list[Epoch]],
    settings: PainsigSettings,
    augment: Callable[[Trial], Trial] | None = None,
) -> Contractions:
    """Preprocess the compared trials (:func:`preprocessed_trials`), segment them into
    contractions and compute ``settings.features`` on every channel.

    augment: applied to every preprocessed trial before segmentation, e.g. to add reconstructed
    deep-muscle envelopes as channels.
    """
    processed = preprocessed_trials(
        cohort, trials_to_describe(cohort, settings), emg, kinematics, augment
    )
    epochs, table, ref_kind = contraction_features(cohort, processed, segmenter, settings)
    return Contractions(table, len(epochs), ref_kind)
