"""Paper-ready figures of trials; every file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from nmm.atomic import atomic_path
from nmm.data.schema import Trial


def save_figure(fig: plt.Figure, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save `fig` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def plot_trial(
    trial: Trial, path: str | os.PathLike[str], muscles: list[str] | None = None
) -> Path:
    """Envelopes, joint angle, angular velocity and joint moment of one trial, stacked in time."""
    panels = []
    if trial.envelope is not None:
        panels.append("envelope")
    if trial.kinematics is not None:
        panels += [
            p
            for p in ("angle", "velocity")
            if p == "angle" or f"{trial.coordinate}_speed" in trial.kinematics
        ]
    if trial.torque is not None:
        panels.append("torque")
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(7, 1.8 * len(panels)), sharex=True, squeeze=False
    )
    for ax, panel in zip(axes[:, 0], panels, strict=True):
        if panel == "envelope":
            env = trial.envelope
            for ch in muscles or env.channels:
                ax.plot(env.time, env[ch], lw=1, label=ch)
            ax.set_ylabel(f"envelope ({env.units[0]})")
            ax.legend(fontsize=7, ncol=3, frameon=False)
        elif panel == "angle":
            ax.plot(trial.kinematics.time, trial.angle, color="k", lw=1)
            ax.set_ylabel(f"{trial.coordinate} (rad)")
        elif panel == "velocity":
            ax.plot(trial.kinematics.time, trial.velocity, color="tab:gray", lw=1)
            ax.set_ylabel("velocity (rad/s)")
        else:
            ax.plot(trial.torque.time, trial.moment, color="tab:red", lw=1)
            ax.set_ylabel("moment (N·m)")
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.suptitle(f"{trial.subject} / {trial.trial_id} ({trial.condition})", fontsize=10)
    return save_figure(fig, path)
