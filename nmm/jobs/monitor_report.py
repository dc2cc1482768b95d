"""The patient's page of ``painsig-monitor``: each index over the sessions with its interval,
the baseline band and the latest session against it, and the contractions behind each point
(a strip of contraction values beside each session), one self-contained HTML file
(:class:`nmm.reports.html.HtmlReport`, figures embedded as PNG)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from nmm.reports.figures import save_figure
from nmm.reports.html import HtmlReport
from painsig.session import SessionIndex, SessionSettings
from painsig.trends import IndexTrend

__all__ = ["cocontraction_text", "plot_index", "write_subject_report"]

Sessions = Sequence[tuple[str, Sequence[SessionIndex]]]


def plot_index(
    name: str, sessions: Sessions, trend: IndexTrend | None, path: str | os.PathLike[str]
) -> Path:
    """One index over the sessions: the estimate with its interval per session, the
    contraction values (grey strip beside each point; for a slope index, the per-contraction
    values on a second axis) and the baseline band (shaded); the latest session in red when
    it lies outside the band."""
    points = [
        (s, next(i for i in idx if i.name == name))
        for s, idx in sessions
        if any(i.name == name for i in idx)
    ]
    x = np.arange(1, len(points) + 1, dtype=float)
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    strip = ax.twinx() if points and points[0][1].kind == "slope" else ax
    rng = np.random.default_rng(0)  # jitter of the strip only, fixed for a stable figure
    flagged = trend is not None and bool(trend.band.outside)
    for n, (xi, (_, i)) in enumerate(zip(x, points, strict=True)):
        v = i.values[np.isfinite(i.values)]
        strip.plot(xi + 0.25 + rng.uniform(-0.06, 0.06, v.size), v, ".", color="0.6", ms=3)
        if math.isfinite(i.estimate):
            low, high = i.estimate - i.low, i.high - i.estimate
            yerr = None if not math.isfinite(low) else [[low], [high]]
            colour = "C3" if flagged and n == len(points) - 1 else "C0"  # latest out of band
            ax.errorbar(xi, i.estimate, yerr=yerr, fmt="o", color=colour, capsize=3)
    if trend is not None:
        ax.axhspan(
            trend.band.low,
            trend.band.high,
            color="C2",
            alpha=0.15,
            label=f"baseline band (first {trend.band.k})",
        )
        ax.legend(loc="best", fontsize=8)
    unit = points[0][1].unit if points else ""
    ax.set_xticks(x, [s for s, _ in points])
    ax.set_xlabel("session")
    ax.set_ylabel(f"{name} ({unit})")
    if strip is not ax:
        strip.set_ylabel("per contraction", color="0.4")
    ax.set_title(name)
    return save_figure(fig, path, dpi=90)


def _trend_text(name: str, t: IndexTrend) -> str:
    """One line: slope, change and flag of an index."""
    flag = {
        None: "latest session is a baseline session",
        True: "LATEST OUTSIDE the band",
        False: "latest inside the band",
    }[t.band.outside]
    return (
        f"{name}: slope {t.slope:.4g} per session [{t.low:.4g}, {t.high:.4g}] "
        f"(Theil–Sen, {t.ci:.0%}); change from the first session {t.change.difference:.4g} "
        f"(Welch z, p = {t.change.p_value:.3g}); band [{t.band.low:.4g}, {t.band.high:.4g}]: "
        f"{flag}"
    )


#: How each session setting is said on the page (painsig.session.SessionSettings).
POOLING_TEXT = {
    "mean": "the mean of the contractions' probabilities, Student's t interval",
    "log_odds": "the contractions' mean log-odds, Student's t interval on that scale",
}
FATIGUE_TEXT = {
    "all": "every contraction",
    "heaviest_load": "the contractions of the session's heaviest load",
}
RECONSTRUCTED_TEXT = {
    "deep": "the measured envelopes with the reconstructed deep muscles added",
    "all": "the NMM's excitations of every muscle",
}


def cocontraction_text(settings: SessionSettings) -> str:
    """How the page says the co-contraction indices were made (their windows and what the
    index with the reconstruction reads)."""
    phases = settings.cocontraction_phases
    windows = (
        "the contractions"
        if phases is None
        else f"the movement phases (joint velocity above {phases.velocity_fraction:g} of its peak)"
    )
    return (
        f"co-contraction: Falconer & Winter over {windows}, with the reconstruction from "
        f"{RECONSTRUCTED_TEXT[settings.cocontraction_reconstructed]}"
    )


def write_subject_report(
    subject: str,
    sessions: Sessions,
    trends: dict[str, IndexTrend],
    path: str | os.PathLike[str],
    settings: SessionSettings,
) -> Path:
    """The page of one subject at ``path`` (figures beside it in ``figures/``), its subtitle
    saying how ``settings`` made the session estimates."""
    path = Path(path)
    band = next(iter(trends.values())).band if trends else None
    band_text = f"mean ± {band.n_sd:g} SD of the first {band.k} sessions" if band else "none"
    report = HtmlReport(
        f"Monitoring: subject {subject}",
        f"{len(sessions)} sessions; baseline band: {band_text}; pain probability: "
        f"{POOLING_TEXT[settings.pain_pooling]}; other means: Student's t over contractions; "
        f"fatigue slopes: OLS across {FATIGUE_TEXT[settings.fatigue_contractions]}; "
        f"{cocontraction_text(settings)}; trend: Theil–Sen.",
    )
    summary = report.section("Trends and flags")
    rows = []
    for name, t in trends.items():
        summary.text(_trend_text(name, t), note=bool(t.band.outside))
    for session, indices in sessions:
        rows += [
            {
                "session": session,
                "index": i.name,
                "unit": i.unit,
                "estimate": i.estimate,
                "low": i.low,
                "high": i.high,
                "contractions": int(np.isfinite(i.values).sum()),
            }
            for i in indices
        ]
    summary.table(rows, floatfmt=".4g", caption="every index per session")
    figures = report.section("Each index over the sessions")
    names = list(dict.fromkeys(i.name for _, idx in sessions for i in idx))
    for name in names:
        png = plot_index(name, sessions, trends.get(name), path.parent / "figures" / f"{name}.png")
        figures.figure(png, f"{name}: session estimates with intervals, contractions in grey")
    return report.write(path)
