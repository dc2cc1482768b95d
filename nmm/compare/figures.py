"""Figures of a method comparison: error heatmaps, envelope overlays, torque tracking."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nmm.metrics import r2_score
from nmm.model.reconstruct import Reconstruction
from nmm.reports.figures import save_figure

__all__ = ["plot_error_heatmaps", "plot_overlay", "plot_torque_tracking"]

COLOURS = {"truth": "k", "nmm": "tab:blue", "mse": "tab:orange", "baseline": "tab:gray"}
LABELS = {"nmm": "NMM", "mse": "MSE (SynX)", "baseline": "copy synergist"}


def _label(method: str) -> str:
    return LABELS.get(method, method)


def plot_error_heatmaps(
    cells: Mapping[str, Sequence[Mapping[str, Any]]],
    muscle: str,
    path: str | os.PathLike[str],
    metric: str = "rmse",
) -> Path:
    """Heatmap of ``metric`` per subject (rows) × load (columns), one panel per method.

    cells: ``{method: rows of nmm.model.evaluate.cell_scores}``; one shared colour scale, each
    cell annotated with its value.
    """
    methods = list(cells)
    rows = [r for m in methods for r in cells[m] if r.get("muscle") == muscle]
    subjects = sorted({r["subject"] for r in rows})
    loads = sorted({float(r["load_kg"]) for r in rows})
    grids = {}
    for m in methods:
        g = np.full((len(subjects), len(loads)), np.nan)
        for r in cells[m]:
            if r.get("muscle") == muscle and r.get(metric) is not None:
                g[subjects.index(r["subject"]), loads.index(float(r["load_kg"]))] = r[metric]
        grids[m] = g
    finite = np.concatenate([g[np.isfinite(g)] for g in grids.values()] or [np.zeros(1)])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    fig, axes = plt.subplots(
        1,
        len(methods),
        figsize=(1.2 + 1.1 * len(loads) * len(methods), 0.9 + 0.45 * len(subjects)),
        squeeze=False,
        sharey=True,
    )
    im = None
    for ax, m in zip(axes[0], methods, strict=True):
        im = ax.imshow(grids[m], cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(loads)), [f"{ld:g} kg" for ld in loads])
        ax.set_yticks(range(len(subjects)), subjects)
        ax.set_title(_label(m), fontsize=10)
        for i in range(len(subjects)):
            for j in range(len(loads)):
                v = grids[m][i, j]
                if np.isfinite(v):
                    bright = (v - vmin) / (vmax - vmin + 1e-12) > 0.6
                    ax.text(
                        j,
                        i,
                        f"{v:.3f}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="k" if bright else "w",
                    )
    fig.colorbar(
        im, ax=axes[0].tolist(), shrink=0.9, label=f"{muscle} {metric.upper()} (envelope, 0-1)"
    )
    fig.suptitle(f"{muscle}: reconstruction error per subject and load", fontsize=11)
    return save_figure(fig, path)


def plot_overlay(
    recs: Mapping[str, Reconstruction],
    truth: np.ndarray | None,
    hidden: Sequence[str],
    path: str | os.PathLike[str],
) -> Path:
    """Hidden muscles' envelopes over time (truth, each method) and the torque, for one trial.

    recs: ``{method: Reconstruction}`` of the same trial; truth: ``(T, M)`` reference envelopes
    in the reconstructions' muscle order, or None.
    """
    first = next(iter(recs.values()))
    tr = first.trial
    fig, axes = plt.subplots(len(hidden) + 1, 1, figsize=(8, 1.9 * (len(hidden) + 1)), sharex=True)
    for ax, m in zip(axes[:-1], hidden, strict=True):
        j = list(first.muscles).index(m)
        if truth is not None:
            ax.plot(tr.time, truth[:, j], color=COLOURS["truth"], lw=1.6, label="truth")
        for method, rec in recs.items():
            ax.plot(
                tr.time,
                rec.envelopes[:, j],
                color=COLOURS.get(method),
                lw=1.1,
                label=_label(method),
            )
        ax.set_ylabel(f"{m} envelope (0-1)")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7, framealpha=0.85, ncol=3, loc="upper right")
    ax = axes[-1]
    ax.plot(tr.time, tr.torque, color=COLOURS["truth"], lw=1.6, label=f"ID ({tr.torque_source})")
    for method, rec in recs.items():
        ax.plot(tr.time, rec.torque, color=COLOURS.get(method), lw=1.1, label=_label(method))
    ax.set_ylabel("elbow torque (N·m)")
    ax.set_xlabel("time (s)")
    ax.legend(fontsize=7, framealpha=0.85, ncol=3, loc="upper right")
    for a in axes:
        a.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"{tr.subject} {tr.trial_id} ({tr.condition}, {tr.load_kg:g} kg)", fontsize=10)
    return save_figure(fig, path)


def plot_torque_tracking(
    recs: Mapping[str, Sequence[Reconstruction]], path: str | os.PathLike[str]
) -> Path:
    """Muscle torque against inverse-dynamics torque, every sample, one panel per method."""
    fig, axes = plt.subplots(
        1, len(recs), figsize=(3.6 * len(recs), 3.4), squeeze=False, sharex=True, sharey=True
    )
    for ax, (method, rs) in zip(axes[0], recs.items(), strict=True):
        true = np.concatenate([r.trial.torque for r in rs])
        pred = np.concatenate([r.torque for r in rs])
        ax.plot(true, pred, ".", ms=1, alpha=0.3, color=COLOURS.get(method))
        lim = [float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))]
        ax.plot(lim, lim, "k--", lw=0.8)
        r2 = r2_score(pred, true)
        ax.set_title(f"{_label(method)}: R² {r2:.3f} (all samples)", fontsize=10)
        ax.set_xlabel("inverse-dynamics torque (N·m)")
        ax.spines[["top", "right"]].set_visible(False)
    axes[0, 0].set_ylabel("muscle torque (N·m)")
    return save_figure(fig, path)
