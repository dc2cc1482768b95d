"""How much of a hidden-muscle error is one scale per subject (benchmarks/level_shape.py), on
reconstructions whose answer is known analytically: the truth times a constant per subject is
all level, an orthogonal error is shape whose rescaled RMSE follows from the projection, and
a hand-made run folder is read back to the cells its cells.csv states."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.bench_generalise import _read_cells
from benchmarks.level_shape import ScoredCell, check_against_cells, level_shape, run_level_shape
from benchmarks.table import (
    LEVEL_BEGIN,
    LEVEL_END,
    docs_level_table,
    render_level_shape,
    update_level_table,
)
from nmm.data.io.sto import write_sto
from nmm.synth.ground_truth import write_trial_truth

SUBJECTS = ("S01", "S02", "S03")
LOADS = (0.0, 2.0)
LEVEL = {"S01": 1.25, "S02": 0.8, "S03": 1.1}  # each subject's reconstruction over its truth
COPY_LEVEL = {"S01": 0.5, "S02": 0.9, "S03": 2.0}  # its synergist's recording over the truth
MEASURED, HIDDEN = "BIClong", "BRA"
N = 200  # samples per trial: two whole periods of the truth's 1 Hz wave at 100 Hz
T = np.arange(N) / 100.0
U = 0.5 + 0.3 * np.sin(2 * np.pi * T)  # the truth's excitation (0-1)


def _cells(pred_of) -> list[ScoredCell]:
    """One method's cells of the hidden muscle: ``pred_of(subject, truth)``."""
    return [
        ScoredCell("nmm", s, load, HIDDEN, pred_of(s, U), U) for s in SUBJECTS for load in LOADS
    ]


def test_a_level_error_per_subject_is_all_level():
    rec = level_shape(_cells(lambda s, u: LEVEL[s] * u))
    assert rec["subject_factors"] == pytest.approx({s: 1 / c for s, c in LEVEL.items()})
    assert rec["rmse_subject_scaled"] == pytest.approx(0.0, abs=1e-12)
    assert rec["level_share"] == pytest.approx(1.0)
    rms_u = np.sqrt(np.mean(U**2))
    assert rec["rmse"] == pytest.approx(np.mean([abs(c - 1) for c in LEVEL.values()]) * rms_u)
    assert rec["median_abs_log_factor"] == pytest.approx(
        np.log(1.25)
    )  # |ln 0.8| = |ln 1.25| > ln 1.1
    assert rec["n_cells"] == len(SUBJECTS) * len(LOADS)


def test_a_level_that_changes_with_the_load_needs_a_scale_per_cell():
    # one subject at levels 1 and 2: k = Σ c u² / Σ c² u² = 3/5; its cells are left at
    # |k c - 1| rms(u) = 0.4 and 0.2 rms(u); a scale per cell removes every error
    cells = [ScoredCell("nmm", "S01", load, HIDDEN, c * U, U) for load, c in ((0.0, 1), (2.0, 2))]
    rec = level_shape(cells)
    rms_u = np.sqrt(np.mean(U**2))
    assert rec["subject_factors"] == pytest.approx({"S01": 0.6})
    assert rec["rmse_subject_scaled"] == pytest.approx(0.3 * rms_u)
    assert rec["level_share"] == pytest.approx(1 - (0.4**2 + 0.2**2) / (0**2 + 1**2))
    assert rec["rmse_cell_scaled"] == pytest.approx(0.0, abs=1e-12)
    assert rec["cell_level_share"] == pytest.approx(1.0)


def test_an_orthogonal_shape_error_stays_after_rescaling():
    # p = u + w with Σ u w = 0: k = |u|² / (|u|² + |w|²), and what is left is the part of u
    # off p: SSE_scaled = |u|² |w|² / (|u|² + |w|²), of the unscaled SSE = |w|²
    w = 0.1 * np.cos(2 * np.pi * T)
    uu, ww = N * (0.5**2 + 0.3**2 / 2), N * 0.1**2 / 2  # sums over whole periods
    rec = level_shape(_cells(lambda s, u: u + w))
    assert rec["subject_factors"] == pytest.approx(dict.fromkeys(SUBJECTS, uu / (uu + ww)))
    assert rec["rmse"] == pytest.approx(np.sqrt(ww / N))
    assert rec["rmse_subject_scaled"] == pytest.approx(np.sqrt(uu * ww / (uu + ww) / N))
    assert rec["level_share"] == pytest.approx(ww / (uu + ww))
    # every cell has the same shape error: a scale per cell leaves the same
    assert rec["rmse_cell_scaled"] == pytest.approx(rec["rmse_subject_scaled"])


def _write_predictions(folder: Path, hidden_level: dict[str, float]) -> None:
    """A method's reconstructions: the hidden muscle's excitation at ``hidden_level`` × the
    truth, the measured one's envelope (its recording) at :data:`COPY_LEVEL` × the hidden
    truth."""
    for s in SUBJECTS:
        for load in LOADS:
            base = folder / "envelopes" / s / f"1_t{load:.0f}_1"
            base.parent.mkdir(parents=True, exist_ok=True)
            env = np.column_stack([COPY_LEVEL[s] * U, hidden_level[s] * U])
            for what in ("envelopes", "excitation", "activation"):
                write_sto(Path(f"{base}_{what}.sto"), T, env, [MEASURED, HIDDEN])
            torque = np.column_stack([U, U])
            names = ["elbow_flexion_moment", "elbow_flexion_moment_muscles"]
            write_sto(Path(f"{base}_torque.sto"), T, torque, names)


def _write_run(tmp_path: Path) -> tuple[Path, Path]:
    """A cohort's truth and a finished run on it whose cells.csv holds the analytic RMSEs:
    NMM at :data:`LEVEL`, SynX at 1.5 ×, the copy at :data:`COPY_LEVEL` × the truth."""
    cohort, run = tmp_path / "cohort", tmp_path / "run"
    truth = cohort / "ground_truth"
    trials = []
    for s in SUBJECTS:
        for load in LOADS:
            arrays = dict.fromkeys(("excitation", "activation", "tendon_force", "fiber_length"))
            arrays = {k: np.column_stack([U, U]) for k in arrays}
            write_trial_truth(
                truth, s, "1", f"t{load:.0f}_1", T, [MEASURED, HIDDEN], arrays, U, "elbow", 12
            )
            trials.append(
                {
                    "subject": s,
                    "session": "1",
                    "trial_id": f"t{load:.0f}_1",
                    "kind": "movement",
                    "load_kg": load,
                }
            )
    (truth / "cohort.json").write_text(json.dumps({"trials": trials}))
    _write_predictions(run / "stages" / "nmm" / "predictions", LEVEL)
    _write_predictions(run / "stages" / "mse" / "predictions", dict.fromkeys(SUBJECTS, 1.5))
    config = {
        "physics": {"hidden": [HIDDEN]},
        "evaluate": {
            "kinds": ["movement"],
            "reference_cutoff_hz": None,
            "baseline": {HIDDEN: [MEASURED]},
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    stages = {k: {"path": f"stages/{k}", "wall_s": 1.0} for k in ("nmm", "mse", "compare")}
    (run / "metrics.json").write_text(json.dumps({"stages": stages}))
    rms_u = np.sqrt(np.mean(U**2))
    (run / "stages" / "compare").mkdir(parents=True)
    with (run / "stages" / "compare" / "cells.csv").open("w", newline="") as f:
        w = csv.DictWriter(
            f, fieldnames=["method", "subject", "load_kg", "muscle", "rmse", "baseline_rmse"]
        )
        w.writeheader()
        for s in SUBJECTS:
            for load in LOADS:
                copy = abs(COPY_LEVEL[s] - 1) * rms_u
                w.writerow(
                    {
                        "method": "nmm",
                        "subject": s,
                        "load_kg": load,
                        "muscle": HIDDEN,
                        "rmse": abs(LEVEL[s] - 1) * rms_u,
                        "baseline_rmse": copy,
                    }
                )
                w.writerow(
                    {
                        "method": "mse",
                        "subject": s,
                        "load_kg": load,
                        "muscle": HIDDEN,
                        "rmse": 0.5 * rms_u,
                        "baseline_rmse": copy,
                    }
                )
    return run, cohort


def test_a_run_folder_is_read_back_to_its_scored_cells(tmp_path):
    run, cohort = _write_run(tmp_path)
    rows = _read_cells(run / "stages" / "compare" / "cells.csv")
    rec = run_level_shape(run, cohort, [HIDDEN], rows)[HIDDEN]
    assert rec["nmm"]["subject_factors"] == pytest.approx({s: 1 / c for s, c in LEVEL.items()})
    assert rec["copy"]["subject_factors"] == pytest.approx(
        {s: 1 / c for s, c in COPY_LEVEL.items()}
    )
    assert rec["synx"]["subject_factors"] == pytest.approx(dict.fromkeys(SUBJECTS, 1 / 1.5))
    for method in ("nmm", "synx", "copy"):
        assert rec[method]["rmse_subject_scaled"] == pytest.approx(0.0, abs=1e-9)
    # a cells.csv that the files do not reproduce is refused, naming the cell
    rows[0]["rmse"] *= 1.001
    with pytest.raises(ValueError, match=r"nmm S01 0\.0 kg BRA"):
        run_level_shape(run, cohort, [HIDDEN], rows)


def test_a_run_without_a_methods_predictions_is_not_scored(tmp_path):
    run, cohort = _write_run(tmp_path)
    shutil.rmtree(run / "stages" / "mse" / "predictions")
    rows = _read_cells(run / "stages" / "compare" / "cells.csv")
    assert "synx" in run_level_shape(run, cohort, [HIDDEN], rows)["not_scored"]


def test_check_against_cells_accepts_the_scorers_numbers():
    cells = _cells(lambda s, u: LEVEL[s] * u)
    rms_u = np.sqrt(np.mean(U**2))
    rows = [
        {
            "method": "nmm",
            "subject": c.subject,
            "load_kg": c.load_kg,
            "muscle": HIDDEN,
            "rmse": abs(LEVEL[c.subject] - 1) * rms_u,
        }
        for c in cells
    ]
    check_against_cells(cells, rows)
    with pytest.raises(ValueError, match=r"cells\.csv has None"):
        check_against_cells(cells, rows[1:])


def test_the_level_table_states_each_methods_record(tmp_path):
    rec = {
        "BRA": {
            "nmm": {
                "rmse": 0.04,
                "rmse_subject_scaled": 0.02,
                "level_share": 0.75,
                "subject_factors": {"S01": 0.8, "S02": 1.25},
            },
            "synx": {"rmse": 0.05, "rmse_subject_scaled": 0.05, "level_share": 0.0},
            "copy": {"not_scored": "no predictions"},
        }
    }
    (tmp_path / "generalise.json").write_text(json.dumps({"variants": {"v": {"level_shape": rec}}}))
    table = render_level_shape(tmp_path).splitlines()
    assert len(table) == 3
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    assert cells == [
        "v",
        "BRA",
        "0.0400 → 0.0200 (0.75)",
        "0.0500 → 0.0500 (0.00)",
        "not scored",
        "0.80, 1.25",
    ]
    (tmp_path / "generalise.json").write_text(json.dumps({"variants": {"v": {}}}))
    assert render_level_shape(tmp_path).startswith("No level and shape records")
    doc = tmp_path / "generalisation.md"
    doc.write_text(f"# Doc\n\n{LEVEL_BEGIN}\nold\n{LEVEL_END}\n\nafter\n")
    assert update_level_table(tmp_path, doc) is True
    assert docs_level_table(doc) == render_level_shape(tmp_path)
    assert doc.read_text().endswith(f"{LEVEL_END}\n\nafter\n")


def test_docs_level_table_matches_the_json_result():
    table = docs_level_table()
    assert table is not None, "docs/generalisation.md lost its level and shape table markers"
    assert table == render_level_shape(), (
        "docs/generalisation.md's level and shape table is out of date: run "
        "`python -m benchmarks.table`"
    )
