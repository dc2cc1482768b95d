"""Data job: read, validate, preprocess, align; write a dataset folder, figures and numbers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from nmm.data.io.dataset import read_dataset, write_dataset
from nmm.data.preprocess import Step, align_streams, preprocess_trial
from nmm.data.schema import Cohort, Trial
from nmm.reports.figures import plot_trial

log = logging.getLogger(__name__)


def preprocess_cohort(
    cohort: Cohort, emg: Step | None, kinematics: Step | None, resample_hz: float | None = None
) -> Cohort:
    """Every trial preprocessed (MVIC-normalised where the subject has a reference) and aligned."""
    trials = []
    for t in cohort:
        mvic = cohort.subjects[t.subject].mvic or None
        p = preprocess_trial(t, emg=emg, kinematics=kinematics, mvic=mvic)
        if resample_hz:
            p = align_streams(p, resample_hz)
        trials.append(p)
    return Cohort(cohort.subjects.values(), trials, cohort.name)


def trial_summary(trial: Trial) -> dict[str, Any]:
    """Spans, rates and ranges of a trial's streams (angles in rad, moments in N·m)."""
    out: dict[str, Any] = {
        "subject": trial.subject,
        "trial": trial.trial_id,
        "condition": trial.condition,
        "load_kg": trial.load.mass_kg,
    }
    for name, sig in trial.streams().items():
        out[f"{name}_rate_hz"] = sig.rate
        out[f"{name}_span_s"] = [float(sig.time[0]), float(sig.time[-1])]
    if trial.kinematics is not None:
        out["angle_range_rad"] = [float(trial.angle.min()), float(trial.angle.max())]
    if trial.torque is not None:
        out["moment_range_nm"] = [float(trial.moment.min()), float(trial.moment.max())]
    if trial.envelope is not None:
        out["envelope_peak"] = {
            ch: float(np.max(trial.envelope[ch])) for ch in trial.envelope.channels
        }
        out["envelope_units"] = trial.envelope.units[0]
    return out


def run_data_overview(
    cohort: Cohort,
    emg: Step | None,
    kinematics: Step | None,
    resample_hz: float | None,
    run_dir: str | os.PathLike[str],
    max_figures: int = 6,
) -> dict[str, Any]:
    """Preprocess `cohort`, write it as a dataset folder and read it back, plot, and summarise."""
    run_dir = Path(run_dir)
    processed = preprocess_cohort(cohort, emg, kinematics, resample_hz)
    # the raw EMG stays with the source files; the dataset folder holds the processed streams
    slim = Cohort(
        processed.subjects.values(), [t.replace(emg=None) for t in processed], processed.name
    )
    write_dataset(slim, run_dir / "dataset")
    reread = read_dataset(run_dir / "dataset")
    exact = all(
        np.array_equal(a.values, b.values) and np.array_equal(a.time, b.time)
        for t0, t1 in zip(slim, reread, strict=True)
        for a, b in zip(t0.streams().values(), t1.streams().values(), strict=True)
    )
    figures = [
        str(plot_trial(t, run_dir / "figures" / f"{t.subject}_{t.trial_id}.png"))
        for t in processed.trials[:max_figures]
    ]
    log.info(
        "%s: %d trials of %d subjects preprocessed; dataset folder round trip exact: %s",
        cohort.name,
        len(cohort),
        len(cohort.subjects),
        exact,
    )
    return {
        "dataset": cohort.name,
        "n_trials": len(cohort),
        "n_subjects": len(cohort.subjects),
        "dataset_roundtrip_exact": exact,
        "trials": [trial_summary(t) for t in processed],
        "figures": figures,
    }
