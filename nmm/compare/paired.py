"""Paired comparison of two reconstruction methods on the same cells.

A *cell* is one (subject, load, hidden muscle) of :func:`nmm.model.evaluate.cell_scores`: both
methods are scored on the same trials against the same truth, so their errors pair up. For each
pair ``d = metric_b - metric_a`` (with RMSE, positive d: method a is better). Reported:

- the mean difference and its confidence interval from a **subject-cluster bootstrap** (subjects
  drawn with replacement, every cell of a drawn subject kept; cells of one subject share its
  parameters and data, so they are not independent);
- the Wilcoxon signed-rank test over cells (scipy.stats.wilcoxon, two-sided) and the paired
  t-test over subject means (scipy.stats.ttest_rel), the latter the unit the bootstrap resamples;
- the ratio mean(a) / mean(b).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from nmm.bootstrap import cluster_bootstrap_ci

__all__ = ["paired_differences"]

Key = tuple[str, float, str]


def _key(row: Mapping[str, Any]) -> Key:
    return (str(row["subject"]), float(row["load_kg"]), str(row.get("muscle")))


def _tests(d: np.ndarray, a: np.ndarray, b: np.ndarray, subjects: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"wilcoxon_p": None, "subject_ttest_p": None}
    if d.size >= 2 and np.any(d != 0):
        out["wilcoxon_p"] = float(stats.wilcoxon(d).pvalue)
    names = np.unique(subjects)
    if names.size >= 2:
        ma = np.array([a[subjects == s].mean() for s in names])
        mb = np.array([b[subjects == s].mean() for s in names])
        if np.any(ma != mb):
            out["subject_ttest_p"] = float(stats.ttest_rel(mb, ma).pvalue)
    return out


def _summary(
    a: np.ndarray, b: np.ndarray, subjects: np.ndarray, n_boot: int, confidence: float, seed: int
) -> dict[str, Any]:
    d = b - a
    low, high = cluster_bootstrap_ci(d, subjects, n_boot=n_boot, confidence=confidence, seed=seed)
    mean_b = float(b.mean())
    return {
        "n_cells": int(d.size),
        "n_subjects": int(np.unique(subjects).size),
        "mean_a": float(a.mean()),
        "mean_b": float(b.mean()),
        "mean_diff": float(d.mean()),
        "diff_ci": [low, high],
        "ratio_a_to_b": float(a.mean() / mean_b) if mean_b > 0 else float("nan"),
        "a_better_in": int((d > 0).sum()),
        **_tests(d, a, b, subjects),
    }


def paired_differences(
    cells_a: Sequence[Mapping[str, Any]],
    cells_b: Sequence[Mapping[str, Any]],
    metric: str = "rmse",
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """``metric`` of method b minus method a over the cells both methods scored.

    Returns ``{"overall": {...}, "per_muscle": {muscle: {...}}, "cells": [...]}``; each summary
    holds ``mean_diff``, ``diff_ci`` [low, high], ``wilcoxon_p``, ``subject_ttest_p``,
    ``ratio_a_to_b`` and counts. Raises ``ValueError`` when no cell is shared.
    """
    index_b = {_key(r): r for r in cells_b if r.get(metric) is not None}
    pairs = [
        (_key(r), float(r[metric]), float(index_b[_key(r)][metric]))
        for r in cells_a
        if r.get(metric) is not None and _key(r) in index_b
    ]
    pairs = [p for p in pairs if np.isfinite(p[1]) and np.isfinite(p[2])]
    if not pairs:
        raise ValueError(f"the two methods share no scored cell for '{metric}'")
    subjects = np.array([k[0] for k, _, _ in pairs])
    muscles = np.array([k[2] for k, _, _ in pairs])
    a = np.array([p[1] for p in pairs])
    b = np.array([p[2] for p in pairs])
    out: dict[str, Any] = {
        "metric": metric,
        "difference": "b - a",
        "overall": _summary(a, b, subjects, n_boot, confidence, seed),
        "per_muscle": {
            m: _summary(
                a[muscles == m], b[muscles == m], subjects[muscles == m], n_boot, confidence, seed
            )
            for m in sorted(set(muscles))
        },
        "cells": [
            {"subject": k[0], "load_kg": k[1], "muscle": k[2], "a": va, "b": vb, "diff": vb - va}
            for k, va, vb in pairs
        ],
    }
    return out
