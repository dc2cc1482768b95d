"""Features referenced to each patient's baseline sessions (painsig.reference) on tables of known
content: each patient's baseline median moves to the cohort's, the changes from it are kept, the
baseline is the first k sessions by number, and undefined medians leave a feature unshifted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from painsig.reference import baseline_rows, patient_referenced


def _table(traits: dict[str, float] | None = None) -> pd.DataFrame:
    """Patients (default S01 with trait 0, S02 with 10) of three sessions of two contractions:
    a_rms = trait + session change (0, -1, -2 by session); b_zc an integer count."""
    rows = []
    for subject, trait in (traits or {"S01": 0.0, "S02": 10.0}).items():
        for session in ("1", "2", "3"):
            for k in range(2):
                change = -(int(session) - 1.0)
                rows.append(
                    {
                        "subject": subject,
                        "session": session,
                        "condition": "pain",
                        "a_rms": trait + change + 0.1 * k,
                        "b_zc": int(session) + 3 * (subject == "S02"),
                    }
                )
    return pd.DataFrame(rows)


def test_the_baseline_is_each_subjects_first_k_sessions_by_number():
    table = pd.DataFrame(
        {"subject": ["S01"] * 4 + ["S02"] * 2, "session": ["10", "2", "1", "2", "3", "4"]}
    )
    assert baseline_rows(table, 2).tolist() == [False, True, True, True, True, True]
    assert baseline_rows(table, 1).tolist() == [False, False, True, False, True, False]
    with pytest.raises(ValueError, match="k = 0"):
        baseline_rows(table, 0)


def test_each_patients_baseline_median_moves_to_the_cohorts_and_changes_are_kept():
    table = _table()
    baseline = baseline_rows(table, 2)
    out = patient_referenced(table, ["a_rms", "b_zc"], baseline)
    # baseline medians: S01 -0.45, S02 9.55; pooled median over both: 4.55
    shift = {"S01": 4.55 - (-0.45), "S02": 4.55 - 9.55}
    for subject, rows in table.groupby("subject"):
        np.testing.assert_allclose(out.loc[rows.index, "a_rms"], rows["a_rms"] + shift[subject])
    # b_zc: S01 baseline median 1.5, S02 4.5, pooled 3.0: shifted by +1.5 and -1.5
    np.testing.assert_allclose(
        out["b_zc"], table["b_zc"] + np.where(table["subject"] == "S01", 1.5, -1.5)
    )
    # both patients now read alike: identical traces once their traits are removed
    s01, s02 = (out.loc[out["subject"] == s, "a_rms"].to_numpy() for s in ("S01", "S02"))
    np.testing.assert_allclose(s01, s02)
    pd.testing.assert_frame_equal(
        out[["subject", "session", "condition"]], table[["subject", "session", "condition"]]
    )


def test_one_patient_alone_and_undefined_medians_leave_features_unchanged():
    table = _table()
    alone = table[table["subject"] == "S01"]
    out = patient_referenced(alone, ["a_rms"], baseline_rows(alone, 2))
    np.testing.assert_allclose(out["a_rms"], alone["a_rms"])
    # S02 has no a_rms at baseline: its values stay as they were; S01 moves to the median of
    # S01's and S03's baseline contractions (-0.45 and 19.55: 9.55), by +10
    three = _table({"S01": 0.0, "S02": 10.0, "S03": 20.0})
    gone = (three["subject"] == "S02") & (three["session"] != "3")
    holes = three.assign(a_rms=three["a_rms"].where(~gone))
    out = patient_referenced(holes, ["a_rms"], baseline_rows(holes, 2))
    s01, s02 = holes["subject"] == "S01", holes["subject"] == "S02"
    np.testing.assert_allclose(out.loc[s02, "a_rms"], holes.loc[s02, "a_rms"])
    np.testing.assert_allclose(out.loc[s01, "a_rms"], holes.loc[s01, "a_rms"] + 10.0)


def test_a_ratio_column_is_scaled_to_the_cohorts_baseline_and_keeps_relative_changes():
    # a_rms = gain x drive: S01's gain 1, S02's 10; the drive halves at each session
    rows = [
        {"subject": s, "session": str(k + 1), "a_rms": gain * 0.5**k, "b_zc": 10.0 * gain + k}
        for s, gain in (("S01", 1.0), ("S02", 10.0))
        for k in range(3)
    ]
    table = pd.DataFrame(rows)
    baseline = baseline_rows(table, 2)
    out = patient_referenced(table, ["a_rms", "b_zc"], baseline, ratio_columns=["a_rms"])
    # baseline medians: S01 0.75, S02 7.5, pooled (0.5, 1, 5, 10) 3: scaled by 3 / own
    scale = np.where(table["subject"] == "S01", 3.0 / 0.75, 3.0 / 7.5)
    np.testing.assert_allclose(out["a_rms"], table["a_rms"] * scale)
    s01, s02 = (out.loc[out["subject"] == s, "a_rms"].to_numpy() for s in ("S01", "S02"))
    np.testing.assert_allclose(s01, s02)  # the gain is gone, the x0.5 steps are kept
    np.testing.assert_allclose(s01[1:] / s01[:-1], 0.5)
    # the shift of the same values would take S02's below zero (and keep its larger steps)
    shifted = patient_referenced(table, ["a_rms"], baseline)
    assert shifted.loc[table["subject"] == "S02", "a_rms"].min() < 0
    # b_zc is still shifted: baseline medians S01 10.5, S02 100.5, pooled 55.5
    np.testing.assert_allclose(
        out["b_zc"], table["b_zc"] + np.where(table["subject"] == "S01", 45.0, -45.0)
    )


def test_a_ratio_column_with_a_non_positive_median_is_left_unscaled_and_strays_are_refused():
    table = _table()  # S01's a_rms baseline median -0.45: no ratio; S02's is scaled
    baseline = baseline_rows(table, 2)
    out = patient_referenced(table, ["a_rms"], baseline, ratio_columns=["a_rms"])
    s01, s02 = table["subject"] == "S01", table["subject"] == "S02"
    np.testing.assert_allclose(out.loc[s01, "a_rms"], table.loc[s01, "a_rms"])
    # the pooled median is 4.55 and S02's 9.55
    np.testing.assert_allclose(out.loc[s02, "a_rms"], table.loc[s02, "a_rms"] * 4.55 / 9.55)
    with pytest.raises(ValueError, match=r"ratio column\(s\) \['b_zc'\]"):
        patient_referenced(table, ["a_rms"], baseline, ratio_columns=["b_zc"])
