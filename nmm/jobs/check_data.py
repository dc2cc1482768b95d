"""``nmm-check-data`` and the data checks every app runs before its work
(:mod:`nmm.data.quality`).

- :func:`quality_settings` reads what the checks compare the data with from a run's config:
  ``data.coordinate``, the notch of ``preprocess.emg``, the training window ``model.window_s``
  and the personalised parameters per subject of ``physics`` (no little-data check without
  both), and the thresholds of an optional ``check`` node (the module's defaults where silent).
- :func:`check_before_work` is what an app calls on the cohort it loaded: warnings are logged,
  and errors raise :class:`~nmm.data.quality.DataCheckError` listing every one, before any
  preprocessing or training.
- :func:`run_check_data` is the ``nmm-check-data`` job: it loads the data source (a reader's
  refusal becomes an error finding naming the file), runs the checks, and writes
  ``check_data.json`` with a row per trial and every finding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from nmm.atomic import atomic_write_json
from nmm.data.errors import DataValidationError, MissingChannelError, ReaderError
from nmm.data.io.study import study_errors
from nmm.data.quality import (
    LEVELS,
    DataCheckError,
    Finding,
    QualitySettings,
    check_cohort,
    common_span,
    errors,
    finding_from_error,
    notch_frequency,
)
from nmm.data.schema import Cohort, Trial
from nmm.jobs.run_dir import write_config
from nmm.jobs.study import SOURCE as STUDY_SOURCE

__all__ = [
    "REPORT_FILE",
    "check_before_work",
    "format_findings",
    "format_table",
    "load_with_findings",
    "personalised_count",
    "quality_settings",
    "run_check_data",
    "trial_rows",
]

log = logging.getLogger(__name__)

REPORT_FILE = "check_data.json"
#: What a data source raises for data it cannot use (a reader's or the data model's refusal).
DATA_ERRORS = (ReaderError, DataValidationError, MissingChannelError, OSError)


def _plain(node: Any) -> Any:
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def personalised_count(physics: Mapping[str, Any]) -> int:
    """Personalised parameters per subject of a plain ``physics`` node: each of
    ``personalised.per_muscle`` for every muscle of ``muscles``, plus ``personalised.global``."""
    layout = physics.get("personalised") or {}
    per_muscle = len(layout.get("per_muscle") or []) * len(physics.get("muscles") or [])
    return per_muscle + len(layout.get("global") or [])


def quality_settings(cfg: Any) -> QualitySettings:
    """The :class:`~nmm.data.quality.QualitySettings` of a run's config (module doc)."""
    data = cfg.get("data") or {}
    preprocess = cfg.get("preprocess") or {}
    emg = preprocess.get("emg")
    model, physics = cfg.get("model"), cfg.get("physics")
    trains = model is not None and physics is not None and model.get("window_s") is not None
    return QualitySettings.from_mapping(
        _plain(cfg.get("check")),
        coordinate=data.get("coordinate"),
        notch_hz=notch_frequency(instantiate(emg)) if emg is not None else None,
        window_s=float(model.window_s) if trains else None,
        n_parameters=personalised_count(_plain(physics)) if trains else None,
    )


def format_findings(findings: Iterable[Finding]) -> list[str]:
    """One line per finding; the subject-wide findings of one level and code (``no_mvic`` of
    22 subjects) merged into one line naming the subjects, with the first one's message."""
    lines: list[str] = []
    merged: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.subject and not f.trial:
            merged.setdefault((f.level, f.code), []).append(f)
        else:
            lines.append(f.describe())
    for same in merged.values():
        first = same[0]
        if len(same) == 1:
            lines.append(first.describe())
        else:
            names = ", ".join(str(f.subject) for f in same)
            lines.append(
                f"{first.level} [{first.code}] {len(same)} subjects ({names}); "
                f"{first.subject}: {first.message}"
            )
    return lines


def check_before_work(cfg: Any, cohort: Cohort) -> list[Finding]:
    """Run the data checks on a loaded ``cohort`` with the settings of ``cfg``; log the
    warnings (and the notes at INFO) and return the findings.

    Raises:
        DataCheckError: the checks found errors (every one is listed).
    """
    findings = check_cohort(cohort, quality_settings(cfg))
    bad = errors(findings)
    if bad:
        raise DataCheckError(bad)
    for line in format_findings(f for f in findings if f.level == "warning"):
        log.warning("data check: %s", line)
    for line in format_findings(f for f in findings if f.level == "info"):
        log.info("data check: %s", line)
    return findings


def load_with_findings(data: Any) -> tuple[Cohort | None, list[Finding]]:
    """The cohort of the ``data`` config node and, when its source refuses it, the error
    finding naming the file (the cohort is then None)."""
    try:
        return instantiate(data), []
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, DATA_ERRORS):
            return None, _refusals(data, cause)
        raise
    except DATA_ERRORS as exc:
        return None, _refusals(data, exc)


def _refusals(data: Any, first: Exception) -> list[Finding]:
    """Error findings of a data source's refusal: for a study folder, every damaged trial and
    subject file (:func:`~nmm.data.io.study.study_errors`); for other sources, the readers'
    first refusal."""
    errors: list[Exception] = []
    if data.get("_target_") == STUDY_SOURCE and data.get("path"):
        errors = list(study_errors(data.path))
    return [finding_from_error(e) for e in errors or [first]]


def _rates(trial: Trial) -> str:
    return " ".join(f"{name} {sig.rate:g}" for name, sig in trial.streams().items())


def trial_rows(cohort: Cohort, findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """A row per trial: subject, trial, condition, duration (s, the streams' common span),
    rates (Hz per stream), muscle channels, and the codes of its own and its subject's
    findings."""
    rows = []
    for t in cohort:
        codes = sorted(
            {f.code for f in findings if f.subject == t.subject and f.trial in (None, t.trial_id)}
        )
        rows.append(
            {
                "subject": t.subject,
                "trial": t.trial_id,
                "condition": t.condition,
                "duration_s": round(common_span(t), 3),
                "rates_hz": _rates(t),
                "channels": len(t.muscles),
                "findings": ", ".join(codes),
            }
        )
    return rows


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """``rows`` (same keys) as a plain-text table with a header."""
    if not rows:
        return "(no trials)"
    keys = list(rows[0])
    cells = [keys] + [[str(r[k]) for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def run_check_data(cfg: DictConfig) -> dict[str, Any]:
    """The ``nmm-check-data`` job: load ``cfg.data``, check it, write ``config.yaml`` and
    ``check_data.json`` into ``cfg.run_dir``; returns the report (``status`` ``error`` when any
    finding is an error, ``ok`` otherwise)."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(cfg, run_dir)
    cohort, findings = load_with_findings(cfg.data)
    if cohort is not None:
        findings += check_cohort(cohort, quality_settings(cfg))
    report = {
        "status": "error" if errors(findings) else "ok",
        "cohort": cohort.name if cohort is not None else None,
        "n_subjects": len(cohort.subjects) if cohort is not None else 0,
        "n_trials": len(cohort) if cohort is not None else 0,
        "counts": {level: sum(f.level == level for f in findings) for level in LEVELS},
        "trials": trial_rows(cohort, findings) if cohort is not None else [],
        "findings": [f.as_dict() for f in findings],
    }
    atomic_write_json(run_dir / REPORT_FILE, report)
    return report
