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
    table: pd.DataFrame, columns: Sequence[str], baseline: pd.Series
) -> pd.DataFrame:
    """A copy of ``table`` whose ``columns`` (feature values, any units) are shifted per
    subject by the cohort's baseline median minus the subject's (module doc). ``baseline``:
    boolean Series on ``table``'s index marking the baseline contractions
    (:func:`baseline_rows`). Other columns are copied unchanged."""
    values = table[list(columns)].astype(float)
    shifted = values.copy()
    cohort_level = values[baseline].median()
    for _, rows in table.groupby("subject", sort=False):
        own = values.loc[rows.index[baseline[rows.index].to_numpy()]].median()
        shifted.loc[rows.index] = values.loc[rows.index] + (cohort_level - own).fillna(0.0)
    out = table.copy()
    out[list(columns)] = shifted
    return out
