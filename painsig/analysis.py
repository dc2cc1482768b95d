"""The pain-signature analysis of a feature table, as steps that return values: the labelled
contractions, the cross-validated evaluation, the final model and its SHAP explanation, the
third condition, and the feature statistics between the trained conditions.

Labels come from each contraction's condition: ``settings.positive`` (e.g. 'pain', or
'abnormal' on the UCI recordings) against ``settings.negative`` ('baseline', 'normal'); a
``settings.third`` condition (e.g. 'placebo') is never trained on, only classified by the
model fitted on all labelled contractions. The app (:mod:`nmm.jobs.painsig`) runs the steps
and writes their tables and figures into the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from painsig.classifier import PainClassifier
from painsig.cv import CVResult, grouped_cross_validate
from painsig.evaluation import evaluate
from painsig.explain import shap_summary_table, shap_values
from painsig.intervals import fraction_classified_positive
from painsig.settings import PainsigSettings
from painsig.split_inflation import random_split_inflation
from painsig.statistics import compare_conditions
from painsig.table import feature_columns

__all__ = [
    "LabelledContractions",
    "condition_statistics",
    "cross_validated_report",
    "explain_final_model",
    "labelled_contractions",
    "split_inflation",
    "third_condition_fraction",
    "third_condition_statistics",
]


@dataclass(frozen=True)
class LabelledContractions:
    """The contractions of the two trained conditions.

    frame: their rows of the feature table; columns: the feature columns; X: (n, n_features)
    features; y: (n,) condition labels; groups: (n,) subject ids.
    """

    frame: pd.DataFrame
    columns: list[str]
    X: pd.DataFrame
    y: np.ndarray
    groups: np.ndarray


def labelled_contractions(table: pd.DataFrame, settings: PainsigSettings) -> LabelledContractions:
    """The rows of ``table`` whose condition is ``settings.positive`` or ``.negative``."""
    cols = feature_columns(table)
    frame = table[table["condition"].isin([settings.positive, settings.negative])]
    y = np.where(frame["condition"] == settings.positive, settings.positive, settings.negative)
    return LabelledContractions(frame, cols, frame[cols], y, frame["subject"].to_numpy())


def cross_validated_report(
    data: LabelledContractions, settings: PainsigSettings, seed: int
) -> tuple[dict[str, Any], CVResult]:
    """Subject-grouped CV of the classifier and its report (:func:`painsig.evaluation.evaluate`:
    metrics, subject-cluster bootstrap intervals, permutation chance level)."""
    ev = settings.evaluation
    model = PainClassifier(**dict(settings.classifier))
    cv = grouped_cross_validate(
        model,
        data.X,
        data.y,
        data.groups,
        ev.scheme,
        ev.n_splits,
        seed,
        pos_label=settings.positive,
    )
    report = evaluate(
        model,
        data.X,
        data.y,
        data.groups,
        ev.scheme,
        n_splits=ev.n_splits,
        pos_label=settings.positive,
        n_boot=ev.n_boot,
        n_permutations=ev.n_permutations,
        confidence=ev.ci,
        random_state=seed,
        cv_result=cv,
    )
    return report, cv


def split_inflation(
    data: LabelledContractions, settings: PainsigSettings, seed: int, grouped: CVResult
) -> dict[str, Any] | None:
    """How much the paper's random split inflates the grouped score
    (:func:`painsig.split_inflation.random_split_inflation`); None when the scheme is already
    random or the settings ask not to."""
    ev = settings.evaluation
    if ev.scheme == "random" or not ev.report_random_split_inflation:
        return None
    return random_split_inflation(
        PainClassifier(**dict(settings.classifier)),
        data.X,
        data.y,
        data.groups,
        ev.scheme,
        n_splits=ev.n_splits,
        random_state=seed,
        pos_label=settings.positive,
        grouped=grouped,
    )


def explain_final_model(
    data: LabelledContractions, settings: PainsigSettings
) -> tuple[PainClassifier, np.ndarray, pd.DataFrame]:
    """The classifier fitted on all labelled contractions, its SHAP values (n, n_features) in
    log-odds of the positive class, and their summary table
    (:func:`painsig.explain.shap_summary_table`)."""
    final = PainClassifier(**dict(settings.classifier)).fit(data.X, data.y)
    values, _ = shap_values(final, data.X)
    table = shap_summary_table(
        values, data.X, positive=settings.positive, negative=settings.negative
    )
    return final, values, table


def third_condition_fraction(
    final: PainClassifier,
    third: pd.DataFrame,
    columns: list[str],
    settings: PainsigSettings,
    seed: int,
) -> dict[str, Any]:
    """Fraction of the third condition's contractions the final model calls positive, with its
    subject-cluster bootstrap interval (:func:`painsig.intervals.fraction_classified_positive`).
    """
    return fraction_classified_positive(
        final,
        third[columns],
        third["subject"].to_numpy(),
        n_boot=settings.evaluation.n_boot,
        pos_label=settings.positive,
        random_state=seed,
    )


def third_condition_statistics(
    final: PainClassifier, third: pd.DataFrame, columns: list[str], settings: PainsigSettings
) -> pd.DataFrame:
    """Features of the third condition's contractions called positive vs negative by the model.

    Paired at the subject level (subjects with contractions in both predicted classes), as the
    paper's placebo comparison but without treating contractions as independent. ValueError
    when it cannot run (e.g. fewer than 2 subjects with both predicted classes).
    """
    predicted = pd.Series(final.predict(third[columns]), index=third.index)
    return compare_conditions(
        third[columns],
        predicted,
        third["subject"],
        settings.negative,
        settings.positive,
        paired=True,
        correction=settings.statistics.correction,
    )


def condition_statistics(data: LabelledContractions, settings: PainsigSettings) -> pd.DataFrame:
    """Every feature compared between the negative and the positive condition
    (:func:`painsig.statistics.compare_conditions`, subject level)."""
    return compare_conditions(
        data.frame[data.columns],
        data.frame["condition"],
        data.frame["subject"],
        settings.negative,
        settings.positive,
        paired=settings.statistics.paired,
        correction=settings.statistics.correction,
    )
