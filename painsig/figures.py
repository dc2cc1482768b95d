"""Figures of the classifier's evaluation (the SHAP figures are in :mod:`painsig.explain`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from nmm.reports.figures import save_figure
from painsig.inputs import as_1d

__all__ = ["plot_confusion_matrix"]


def plot_confusion_matrix(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    labels: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    display_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Confusion matrix (rows: true, columns: predicted, in ``labels`` order) as a PNG.

    Each cell shows the count and the row percentage (recall of the true class). Drawn on a
    standalone :class:`matplotlib.figure.Figure` (Agg canvas, never registered with pyplot,
    so no figure is left open), saved atomically by :func:`nmm.reports.figures.save_figure`.
    """
    labels = list(labels)
    cm = confusion_matrix(as_1d(y_true, "y_true"), as_1d(y_pred, "y_pred"), labels=labels)
    row = cm.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(row > 0, cm / row, 0.0)
    names = [str(v) for v in (display_labels if display_labels is not None else labels)]
    k = len(labels)
    fig = Figure(figsize=(1.6 * k + 2.0, 1.4 * k + 1.6))
    ax = fig.add_subplot()
    image = ax.imshow(frac, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{cm[i, j]}\n{100 * frac[i, j]:.1f} %",
                ha="center",
                va="center",
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
