"""The pain-signature job: preprocess -> segment -> features -> grouped-CV XGBoost -> SHAP ->
placebo analysis -> statistics, everything written to one run directory.

Labels come from each trial's condition: `positive` (e.g. 'pain', or 'abnormal' on the UCI
recordings) against `negative` ('baseline', 'normal'); a `third` condition (e.g. 'placebo') is
never trained on, only classified by the model fitted on all labelled contractions.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.preprocess import Step, preprocess_trial
from nmm.data.schema import Cohort, Trial
from painsig.classifier import PainClassifier
from painsig.evaluation import (
    evaluate,
    fraction_classified_positive,
    grouped_cross_validate,
    plot_confusion_matrix,
    random_split_inflation,
)
from painsig.explain import plot_shap_bar, plot_shap_beeswarm, shap_summary_table, shap_values
from painsig.segment import Epoch, segment_trials
from painsig.statistics import compare_conditions, markdown_table
from painsig.table import feature_columns, feature_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PainsigSettings:
    """What the job compares and how (built from `conf/painsig/`)."""

    positive: str = "pain"
    negative: str = "baseline"
    third: str | None = "placebo"
    channels: Sequence[str] | None = None
    features: Mapping[str, Any] = field(default_factory=dict)
    classifier: Mapping[str, Any] = field(default_factory=dict)
    evaluation: Mapping[str, Any] = field(default_factory=dict)
    statistics: Mapping[str, Any] = field(default_factory=dict)


def peak_references(cohort: Cohort, processed: Sequence[Trial]) -> tuple[dict, str]:
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


def _compare_third(
    final: PainClassifier,
    third: pd.DataFrame,
    cols: list[str],
    settings: PainsigSettings,
    run_dir: Path,
) -> dict[str, Any]:
    """Features of the third condition's contractions called positive vs negative by the model.

    Paired at the subject level (subjects with contractions in both predicted classes), as the
    paper's placebo comparison but without treating contractions as independent.
    """
    predicted = pd.Series(final.predict(third[cols]), index=third.index)
    correction = dict(settings.statistics).get("correction", "holm")
    try:
        stats = compare_conditions(
            third[cols],
            predicted,
            third["subject"],
            settings.negative,
            settings.positive,
            paired=True,
            correction=correction,
        )
    except ValueError as exc:  # e.g. fewer than 2 subjects with both predicted classes
        log.warning("%s: predicted-class comparison skipped: %s", settings.third, exc)
        return {"predicted_class_comparison": f"skipped: {exc}"}
    name = f"statistics_{settings.third}_predicted.csv"
    _write_csv(stats, run_dir / name)
    return {
        "predicted_class_comparison": name,
        "predicted_class_significant_features": list(stats.index[stats["significant"]]),
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, float_format="%.10g")
    return path


def run_painsig(
    cohort: Cohort,
    emg: Step,
    kinematics: Step,
    segmenter: Callable[[Trial], list[Epoch]],
    settings: PainsigSettings,
    run_dir: str | os.PathLike[str],
    seed: int = 0,
    augment: Callable[[Trial], Trial] | None = None,
) -> dict[str, Any]:
    """Run the whole pain-signature analysis on `cohort`; returns the metrics dictionary.

    augment: applied to every preprocessed trial before segmentation, e.g. to add reconstructed
    deep-muscle envelopes as channels (:class:`nmm.pipeline.channels.ReconstructedChannels`).
    """
    run_dir = Path(run_dir)
    wanted = {settings.positive, settings.negative} | (
        {settings.third} if settings.third else set()
    )
    missing = {settings.positive, settings.negative} - set(cohort.conditions)
    if missing:
        raise ValueError(
            f"cohort '{cohort.name}' has no trials of condition(s) {sorted(missing)} "
            f"(conditions present: {cohort.conditions})"
        )
    trials = [t for t in cohort if t.condition in wanted]
    processed = [
        preprocess_trial(
            t, emg=emg, kinematics=kinematics, mvic=cohort.subjects[t.subject].mvic or None
        )
        for t in trials
    ]
    if augment is not None:
        processed = [augment(t) for t in processed]
    refs, ref_kind = peak_references(cohort, processed)
    epochs = segment_trials(processed, segmenter)
    fcfg = dict(settings.features)
    table = feature_table(
        epochs,
        settings.channels,
        mvic=refs,
        names=fcfg.get("names"),
        apen_m=fcfg.get("apen_m", 2),
        apen_r_factor=fcfg.get("apen_r_factor", 0.2),
    )
    _write_csv(table, run_dir / "features.csv")
    cols = feature_columns(table)
    labelled = table[table["condition"].isin([settings.positive, settings.negative])]
    X = labelled[cols]  # noqa: N806
    y = np.where(labelled["condition"] == settings.positive, settings.positive, settings.negative)
    groups = labelled["subject"].to_numpy()
    ecfg = dict(settings.evaluation)
    scheme = ecfg.get("scheme", "logo")
    n_splits = ecfg.get("n_splits", 5)
    model = PainClassifier(**dict(settings.classifier))
    cv = grouped_cross_validate(
        model, X, y, groups, scheme, n_splits, seed, pos_label=settings.positive
    )
    report = evaluate(
        model,
        X,
        y,
        groups,
        scheme,
        n_splits=n_splits,
        pos_label=settings.positive,
        n_boot=ecfg.get("n_boot", 1000),
        n_permutations=ecfg.get("n_permutations", 100),
        confidence=ecfg.get("ci", 0.95),
        random_state=seed,
        cv_result=cv,
    )
    figures = run_dir / "figures"
    plot_confusion_matrix(
        cv.y_true,
        cv.y_pred,
        [settings.negative, settings.positive],
        figures / "confusion_matrix.png",
        title=f"out-of-fold predictions ({scheme})",
    )
    if scheme != "random" and ecfg.get("report_random_split_inflation", True):
        report["random_split_inflation"] = random_split_inflation(
            model,
            X,
            y,
            groups,
            scheme,
            n_splits=n_splits,
            random_state=seed,
            pos_label=settings.positive,
            grouped=cv,
        )
    final = PainClassifier(**dict(settings.classifier)).fit(X, y)
    values, _ = shap_values(final, X)
    shap_table = shap_summary_table(
        values, X, positive=settings.positive, negative=settings.negative
    )
    _write_csv(shap_table, run_dir / "shap_summary.csv")
    plot_shap_beeswarm(values, X, figures / "shap_beeswarm.png")
    plot_shap_bar(values, X, figures / "shap_bar.png")
    report["shap_top_features"] = list(shap_table.index[:5])
    if settings.third and settings.third in set(table["condition"]):
        third = table[table["condition"] == settings.third]
        report["third_condition"] = {
            "condition": settings.third,
            **fraction_classified_positive(
                final,
                third[cols],
                third["subject"].to_numpy(),
                n_boot=ecfg.get("n_boot", 1000),
                pos_label=settings.positive,
                random_state=seed,
            ),
            **_compare_third(final, third, cols, settings, run_dir),
        }
    scfg = dict(settings.statistics)
    stats = compare_conditions(
        labelled[cols],
        labelled["condition"],
        labelled["subject"],
        settings.negative,
        settings.positive,
        paired=scfg.get("paired", True),
        correction=scfg.get("correction", "holm"),
    )
    _write_csv(stats, run_dir / "statistics.csv")
    atomic_write_text(run_dir / "statistics.md", markdown_table(stats) + "\n")
    report.update(
        n_epochs=len(epochs),
        n_epochs_by_condition={
            str(k): int(v) for k, v in table["condition"].value_counts().sort_index().items()
        },
        peak_reference=ref_kind,
        n_significant_features=int(stats["significant"].sum()),
    )
    log.info(
        "%s: balanced accuracy %.3f [%.3f, %.3f] (%s), chance %.3f",
        cohort.name,
        report["balanced_accuracy"],
        *report["balanced_accuracy_ci"],
        scheme,
        report["chance_level"] if report["chance_level"] is not None else float("nan"),
    )
    return report
