"""``painsig``: segment, describe, classify and explain the contractions of one cohort into a run
folder (``conf/painsig_run.yaml``).

The steps of :func:`run_painsig`, each a function below: describe the contractions
(:func:`painsig.contractions.describe_contractions`) -> classify (grouped CV, evaluation,
confusion matrix, random-split inflation) -> explain the final model (SHAP) -> classify the
third condition -> feature statistics between the trained conditions -> summary. The
:mod:`painsig` package computes; this module reads the config and writes the run folder:
``features.csv``, ``model.json`` (the final model, :meth:`PainClassifier.save`; what
``painsig-monitor monitor.model=...`` reads), ``shap_summary.csv``, ``statistics.csv``/``.md``,
``statistics_<third>_predicted.csv`` and ``figures/`` (the job adds ``config.yaml`` and
``metrics.json``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from nmm.atomic import atomic_path, atomic_write_text
from nmm.data.preprocess import Step
from nmm.data.schema import Cohort, Trial
from nmm.jobs.check_data import check_before_work
from nmm.jobs.config_check import ConfigError, check_cohort_rates
from nmm.jobs.run_dir import seed_everything, write_config, write_metrics
from painsig.analysis import (
    LabelledContractions,
    condition_statistics,
    cross_validated_report,
    explain_final_model,
    labelled_contractions,
    split_inflation,
    third_condition_fraction,
    third_condition_statistics,
)
from painsig.classifier import PainClassifier
from painsig.contractions import Contractions, describe_contractions
from painsig.explain import plot_shap_bar, plot_shap_beeswarm
from painsig.figures import plot_confusion_matrix
from painsig.markdown import markdown_table
from painsig.segment import Epoch, segmenter_label
from painsig.settings import PainsigSettings, SettingsError

__all__ = ["run_painsig", "run_painsig_job", "settings_from_config"]

log = logging.getLogger(__name__)


def settings_from_config(cfg: DictConfig) -> PainsigSettings:
    """PainsigSettings from the ``painsig`` config group; a bad value raises
    :class:`ConfigError` naming its key (``painsig.features.names``) before any work."""
    plain = OmegaConf.to_container(cfg, resolve=True)
    try:
        return PainsigSettings.from_mapping(plain)
    except SettingsError as exc:
        raise ConfigError(f"painsig.{exc.key}", exc.message) from exc


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
    """Run the whole pain-signature analysis on ``cohort`` into ``run_dir``; returns the
    metrics dictionary (JSON-serialisable).

    augment: applied to every preprocessed trial before segmentation, e.g. to add reconstructed
    deep-muscle envelopes as channels (:class:`nmm.pipeline.channels.ReconstructedChannels`).
    """
    run_dir = Path(run_dir)
    contractions = describe_contractions(cohort, emg, kinematics, segmenter, settings, augment)
    _write_csv(contractions.table, run_dir / "features.csv")
    data = labelled_contractions(contractions.table, settings)
    report = _classify(data, settings, seed, run_dir)
    final, report["shap_top_features"] = _explain(
        data, settings, run_dir, {"segmenter": segmenter_label(segmenter)}
    )
    third = _third_condition(final, contractions.table, data.columns, settings, seed, run_dir)
    if third is not None:
        report["third_condition"] = third
    stats = _condition_statistics(data, settings, run_dir)
    report.update(_summary(contractions, stats))
    log.info(
        "%s: balanced accuracy %.3f [%.3f, %.3f] (%s), chance %.3f",
        cohort.name,
        report["balanced_accuracy"],
        *report["balanced_accuracy_ci"],
        settings.evaluation.scheme,
        report["chance_level"] if report["chance_level"] is not None else float("nan"),
    )
    return report


def _classify(
    data: LabelledContractions, settings: PainsigSettings, seed: int, run_dir: Path
) -> dict[str, Any]:
    """The cross-validated report, its confusion matrix figure and, for a grouped scheme, the
    inflation of the random split."""
    report, cv = cross_validated_report(data, settings, seed)
    plot_confusion_matrix(
        cv.y_true,
        cv.y_pred,
        [settings.negative, settings.positive],
        run_dir / "figures" / "confusion_matrix.png",
        title=f"out-of-fold predictions ({settings.evaluation.scheme})",
    )
    inflation = split_inflation(data, settings, seed, cv)
    if inflation is not None:
        report["random_split_inflation"] = inflation
    return report


def _explain(
    data: LabelledContractions,
    settings: PainsigSettings,
    run_dir: Path,
    context: Mapping[str, str],
) -> tuple[PainClassifier, list[str]]:
    """The final model, saved as ``model.json`` with ``context`` (how its contractions were
    cut), with its SHAP table and figures written, and its five most important features."""
    final, values, shap_table = explain_final_model(data, settings)
    final.save(run_dir / "model.json", context)
    _write_csv(shap_table, run_dir / "shap_summary.csv")
    plot_shap_beeswarm(values, data.X, run_dir / "figures" / "shap_beeswarm.png")
    plot_shap_bar(values, data.X, run_dir / "figures" / "shap_bar.png")
    return final, list(shap_table.index[:5])


def _third_condition(
    final: PainClassifier,
    table: pd.DataFrame,
    columns: list[str],
    settings: PainsigSettings,
    seed: int,
    run_dir: Path,
) -> dict[str, Any] | None:
    """The third condition classified by the final model and its predicted-class statistics
    (written to ``statistics_<third>_predicted.csv``); None without a third condition."""
    if not settings.third or settings.third not in set(table["condition"]):
        return None
    third = table[table["condition"] == settings.third]
    out = {
        "condition": settings.third,
        **third_condition_fraction(final, third, columns, settings, seed),
    }
    try:
        stats = third_condition_statistics(final, third, columns, settings)
    except ValueError as exc:  # e.g. fewer than 2 subjects with both predicted classes
        log.warning("%s: predicted-class comparison skipped: %s", settings.third, exc)
        out["predicted_class_comparison"] = f"skipped: {exc}"
        return out
    name = f"statistics_{settings.third}_predicted.csv"
    _write_csv(stats, run_dir / name)
    out["predicted_class_comparison"] = name
    out["predicted_class_significant_features"] = list(stats.index[stats["significant"]])
    return out


def _condition_statistics(
    data: LabelledContractions, settings: PainsigSettings, run_dir: Path
) -> pd.DataFrame:
    """Feature statistics between the trained conditions, written as CSV and markdown."""
    stats = condition_statistics(data, settings)
    _write_csv(stats, run_dir / "statistics.csv")
    atomic_write_text(run_dir / "statistics.md", markdown_table(stats) + "\n")
    return stats


def _summary(contractions: Contractions, stats: pd.DataFrame) -> dict[str, Any]:
    """Epoch counts, the peak reference used and the number of significant features."""
    counts = contractions.table["condition"].value_counts().sort_index()
    return {
        "n_epochs": contractions.n_epochs,
        "n_epochs_by_condition": {str(k): int(v) for k, v in counts.items()},
        "peak_reference": contractions.peak_reference,
        "n_significant_features": int(stats["significant"].sum()),
    }


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as CSV (floats to 10 significant digits), written atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, float_format="%.10g")
    return path


def run_painsig_job(cfg: DictConfig) -> dict:
    """The painsig analysis of one config into ``cfg.run_dir``; returns its metrics."""
    run_dir = Path(cfg.run_dir)
    settings = settings_from_config(cfg.painsig)
    seed = seed_everything(int(cfg.seed))
    write_config(cfg, run_dir)
    cohort = instantiate(cfg.data)
    check_before_work(cfg, cohort)  # the data checks: errors raise, warnings are logged
    check_cohort_rates(cfg, cohort)  # recorded data: the rates are known now, before any work
    report = run_painsig(
        cohort,
        instantiate(cfg.preprocess.emg),
        instantiate(cfg.preprocess.kinematics),
        instantiate(cfg.painsig.segmenter),
        settings,
        run_dir,
        seed,
    )
    metrics = {"seed": seed, **report}
    path = write_metrics(metrics, run_dir)
    print(
        f"painsig finished: balanced accuracy {report['balanced_accuracy']:.3f} "
        f"{report['balanced_accuracy_ci']} ({report['cv']}), chance {report['chance_level']}; "
        f"metrics in {path}"
    )
    return metrics
