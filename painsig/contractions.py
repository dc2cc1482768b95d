"""From a cohort to the feature table: the trials of the compared conditions, preprocessed,
segmented into contractions and described by the registered features."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nmm.data.preprocess import Step, preprocess_trial
from nmm.data.schema import Cohort, Trial
from painsig.segment import Epoch, segment_trials
from painsig.settings import PainsigSettings
from painsig.table import feature_table

log = logging.getLogger(__name__)

__all__ = ["Contractions", "describe_contractions", "peak_references", "trials_to_describe"]


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


def describe_contractions(
    cohort: Cohort,
    emg: Step,
    kinematics: Step,
    segmenter: Callable[[Trial], list[Epoch]],
    settings: PainsigSettings,
    augment: Callable[[Trial], Trial] | None = None,
) -> Contractions:
    """Preprocess the compared trials (``emg``, ``kinematics`` chains, each subject's MVIC),
    segment them into contractions and compute ``settings.features`` on every channel.

    augment: applied to every preprocessed trial before segmentation, e.g. to add reconstructed
    deep-muscle envelopes as channels.
    """
    processed = [
        preprocess_trial(
            t, emg=emg, kinematics=kinematics, mvic=cohort.subjects[t.subject].mvic or None
        )
        for t in trials_to_describe(cohort, settings)
    ]
    if augment is not None:
        processed = [augment(t) for t in processed]
    refs, ref_kind = peak_references(cohort, processed)
    epochs = segment_trials(processed, segmenter)
    table = feature_table(
        epochs,
        settings.channels,
        mvic=refs,
        names=settings.features.names,
        params=settings.features.params,
    )
    return Contractions(table, len(epochs), ref_kind)
