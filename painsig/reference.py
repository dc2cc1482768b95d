"""Contraction features referenced to each patient's own baseline sessions (issue 21).

A classifier trained across subjects reads absolute features, so a patient whose body or habit
sets a feature apart from the training subjects (e.g. a triceps that co-contracts more than most
at every session) can sit where its output saturates: every session then scores alike and the
session index stops following the patient's course. A clinician reads a patient against the
patient's own first sessions; :func:`patient_referenced` does so for the features:

    x'_{p,i,f} = x_{p,i,f} − median_{i ∈ B_p}(x_{p,i,f}) + median_{i ∈ B}(x_{i,f})

for patient ``p``, contraction ``i`` and feature ``f``, with ``B_p`` the patient's contractions in
their first ``k`` sessions (:func:`baseline_rows`) and ``B`` those of every patient pooled. Each
patient's changes from their own baseline are kept exactly (one shift per patient and feature);
only the patient's level at baseline is replaced by the cohort's. This assumes the patients enter
the monitored course in comparable states (e.g. all at the start of a treatment); with a single
patient the features are unchanged. Where a patient's or the cohort's baseline median is
undefined (every value NaN), the feature is left unshifted.

A feature that scales with the recording's gain (an EMG amplitude: its value is the gain times
the drive, and patients differ by electrode placement, tissue and MVIC) can be referenced by
ratio instead (``ratio_columns``):

    x'_{p,i,f} = x_{p,i,f} · median_{i ∈ B}(x_{i,f}) / median_{i ∈ B_p}(x_{p,i,f})

which keeps each patient's relative changes (a pain effect that scales the drive by ρ scales the
feature by ρ at any gain) and keeps the values positive, where the shift moves a patient whose
gain is larger than the cohort's by more than their smallest values, below zero, and gives the
changes of a patient whose gain is smaller the cohort's level with their own, smaller, steps.
Where either median is undefined or not positive, the feature is left unscaled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from painsig.trends import session_numbers

__all__ = ["baseline_rows", "patient_referenced"]


def baseline_rows(table: pd.DataFrame, k: int) -> pd.Series:
    """Boolean Series on ``table``'s index: the rows (contractions) of each subject's first
    ``k`` sessions, in the order of :func:`painsig.trends.session_numbers` (by number when every
    label is an integer, else in order of appearance). ``table`` has ``subject`` and
    ``session`` columns. ValueError for ``k`` < 1."""
    if k < 1:
        raise ValueError(f"k = {k}: the baseline needs 1 or more sessions")
    out = pd.Series(False, index=table.index)
    for _, rows in table.groupby("subject", sort=False):
        labels = list(dict.fromkeys(rows["session"].astype(str)))
        order = np.argsort(session_numbers(labels), kind="stable")
        first = {labels[i] for i in order[:k]}
        out[rows.index] = rows["session"].astype(str).isin(first)
    return out


def patient_referenced(
    table: pd.DataFrame,
    columns: Sequence[str],
    baseline: pd.Series,
    ratio_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """A copy of ``table`` whose ``columns`` (feature values, any units) are shifted per
    subject by the cohort's baseline median minus the subject's, and whose ``ratio_columns``
    (a subset of ``columns``, values in units that scale with the gain) are multiplied by the
    cohort's baseline median over the subject's (module doc). ``baseline``: boolean Series on
    ``table``'s index marking the baseline contractions (:func:`baseline_rows`). Other columns
    are copied unchanged. ValueError for a ratio column not in ``columns``."""
    stray = sorted(set(ratio_columns) - set(columns))
    if stray:
        raise ValueError(f"ratio column(s) {stray} are not among the referenced columns")
    values = table[list(columns)].astype(float)
    ratio = values.columns.isin(list(ratio_columns))
    shifted = values.copy()
    cohort_level = values[baseline].median()
    for _, rows in table.groupby("subject", sort=False):
        own = values.loc[rows.index[baseline[rows.index].to_numpy()]].median()
        mine = values.loc[rows.index]
        moved = mine + (cohort_level - own).fillna(0.0)
        if ratio.any():
            scale = (cohort_level / own).where((cohort_level > 0) & (own > 0), 1.0)
            moved.loc[:, ratio] = mine.loc[:, ratio] * scale[ratio]
        shifted.loc[rows.index] = moved
    out = table.copy()
    out[list(columns)] = shifted
    return out
