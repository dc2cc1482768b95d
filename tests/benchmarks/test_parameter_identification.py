"""Which personalised parameters a run identifies (benchmarks/parameter_identification.py), and
bench_generalise's rescoring of a finished run, on hand-made run directories whose answer is
known: fitted = truth is identified, fitted = prior centre is not, a fit that moves away from
the truth is worse than the prior."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from benchmarks.bench_generalise import main, rescore_variant, score_run
from benchmarks.parameter_identification import (
    ParameterCell,
    identification,
    identified_parameters,
)
from benchmarks.table import (
    IDENT_BEGIN,
    IDENT_COLUMNS,
    IDENT_END,
    docs_identified_table,
    render_identified,
    update_identified_table,
)
from nmm.data.io.sto import write_sto
from nmm.synth.ground_truth import write_trial_truth

SUBJECTS = ("S01", "S02", "S03")
MEASURED, HIDDEN = "BIClong", "BRA"
TRUE_GAIN = {"S01": 1.2, "S02": 1.3, "S03": 1.1}  # excitation per normalised envelope
TRUE_STRENGTH = {"S01": 0.9, "S02": 0.8, "S03": 1.1}  # factor
INITIAL = {
    "max_isometric_force": 1.0,
    "emg_gain": 1.0,
    "shape_factor": -0.05,
    "tau_act_s": 0.015,
    "electromechanical_delay_s": 0.01,
}
TRUE_TAU_S = 0.015  # the cohort's activation time constant: the prior centre


def _cells(param: str, true: float, initial: float, fitted: dict[str, float]) -> list:
    return [ParameterCell(s, param, "M", true, fitted[s], initial) for s in SUBJECTS]


@pytest.mark.parametrize(
    ("fitted", "expected"),
    [
        ({"S01": 0.9, "S02": 0.9, "S03": 0.9}, "identified"),  # at the truth
        ({"S01": 1.0, "S02": 1.0, "S03": 1.0}, "not identified"),  # at the prior centre
        ({"S01": 1.1, "S02": 1.05, "S03": 1.2}, "worse than the prior"),  # away from the truth
        ({"S01": 0.99, "S02": 0.98, "S03": 0.99}, "partly"),  # toward it, a tenth of the way
        ({"S01": 0.9, "S02": 1.1, "S03": 0.95}, "not identified"),  # either way
    ],
)
def test_verdicts_of_known_fits(fitted, expected):
    rec = identification(_cells("max_isometric_force", 0.9, 1.0, fitted), n_boot=200)
    r = rec["max_isometric_force"]
    assert r["verdict"] == expected and r["identified"] == (expected == "identified")
    assert r["median_abs_error_initial"] == pytest.approx(0.1)
    errors = sorted(abs(v - 0.9) for v in fitted.values())
    assert r["median_abs_error_fitted"] == pytest.approx(errors[1])
    assert r["mean_error_reduction"] == pytest.approx(0.1 - np.mean(errors))


def test_a_prior_at_the_truth_cannot_be_improved():
    at_truth = identification(
        _cells("tau_act_s", 0.015, 0.015, dict.fromkeys(SUBJECTS, 0.015)), 200
    )
    assert at_truth["tau_act_s"]["verdict"] == "not identified"
    assert at_truth["tau_act_s"]["share_of_error_removed"] is None
    moved = identification(_cells("tau_act_s", 0.015, 0.015, dict.fromkeys(SUBJECTS, 0.016)), 200)
    assert moved["tau_act_s"]["verdict"] == "worse than the prior"


def _write_cohort(root: Path) -> None:
    """A three-subject cohort: one measured and one hidden muscle, one trial each, its true
    excitation and the synth settings' activation time constant."""
    truth = root / "ground_truth"
    truth.mkdir(parents=True)
    cohort = {
        "measured": [MEASURED],
        "hidden": [HIDDEN],
        "muscles": [MEASURED, HIDDEN],
        "subjects": [{"subject_id": s} for s in SUBJECTS],
    }
    (truth / "cohort.json").write_text(json.dumps(cohort) + "\n")
    synth = {"synth": {"muscle_parameters": {"activation_time_constant_s": TRUE_TAU_S}}}
    (root / "config.yaml").write_text(yaml.safe_dump(synth))
    t = np.arange(200) / 100.0
    u = np.column_stack([0.3 + 0.2 * np.sin(2 * np.pi * t), 0.2 + 0.1 * np.cos(2 * np.pi * t)])
    for s in SUBJECTS:
        arrays = {k: u for k in ("excitation", "activation", "tendon_force", "fiber_length")}
        write_trial_truth(truth, s, "1", "t_1", t, [MEASURED, HIDDEN], arrays, t, "elbow", 12)


def _write_stage(stage: Path, fitted: dict[str, dict], predictions: bool = True) -> None:
    """An NMM stage: parameters.json (``fitted[subject]``), its config, the recovery record of
    the strength and, with ``predictions``, each subject's recorded envelope ê = u / g*."""
    stage.mkdir(parents=True)
    params = {"bounds": {"tau_act_s": [0.005, 0.05]}, "relative": ["max_isometric_force"]}
    (stage / "parameters.json").write_text(json.dumps(params | fitted))
    config = {
        "physics": {"personalised": {"initial": INITIAL}},
        "evaluate": {"reference_cutoff_hz": None},  # the raw excitation: g* exactly
    }
    (stage / "config.yaml").write_text(yaml.safe_dump(config))
    values = [
        {
            "subject": s,
            "parameter": "max_isometric_force",
            "muscle": m,
            "true": TRUE_STRENGTH[s],
            "learned": fitted[s]["max_isometric_force"][m],
            "initial": INITIAL["max_isometric_force"],
        }
        for s in SUBJECTS
        for m in (MEASURED, HIDDEN)
    ]
    metrics = {
        "per_subject": {"parameter_recovery": {"values": values}},
        "fit": {"global_steps": 10, "budget": {"stop_reason": "converged"}, "fit_wall_s": 1.0},
    }
    (stage / "metrics.json").write_text(json.dumps(metrics))
    if not predictions:
        return
    t = np.arange(200) / 100.0
    for s in SUBJECTS:
        env = np.column_stack([(0.3 + 0.2 * np.sin(2 * np.pi * t)) / TRUE_GAIN[s], 0.1 + 0 * t])
        path = stage / "predictions" / "envelopes" / s / "1_t_1_envelopes.sto"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sto(path, t, env, [MEASURED, HIDDEN])


def _fitted(at_truth: bool) -> dict[str, dict]:
    """Every subject's parameters: at the truth, or at the prior centres."""

    def pick(true, initial):
        return true if at_truth else initial

    return {
        s: {
            "max_isometric_force": dict.fromkeys((MEASURED, HIDDEN), pick(TRUE_STRENGTH[s], 1.0)),
            "emg_gain": {MEASURED: pick(TRUE_GAIN[s], 1.0), HIDDEN: 0.4},
            "shape_factor": dict.fromkeys((MEASURED, HIDDEN), pick(0.0, -0.05)),
            "tau_act_s": TRUE_TAU_S,
            "electromechanical_delay_s": pick(0.0, 0.01),
        }
        for s in SUBJECTS
    }


def _identified(tmp_path, at_truth: bool) -> dict:
    """The record of a hand-made run fitted at the truth or left at the prior."""
    _write_cohort(tmp_path / "cohort")
    _write_stage(tmp_path / "nmm", _fitted(at_truth=at_truth))
    return identified_parameters(tmp_path / "nmm", tmp_path / "cohort", n_boot=200)


def test_fitted_at_the_truth_is_identified(tmp_path):
    rec = _identified(tmp_path, at_truth=True)
    for name in ("max_isometric_force", "emg_gain", "shape_factor", "electromechanical_delay_s"):
        assert rec[name]["verdict"] == "identified", name
        assert rec[name]["median_abs_error_fitted"] == pytest.approx(0.0, abs=1e-9), name
    # the equivalent true gain is the scale from ê onto u: 1.2, 1.3, 1.1 -> |1 - g*| median 0.2
    assert rec["emg_gain"]["median_abs_error_initial"] == pytest.approx(0.2)
    # only the measured muscle's gain and shape are scored; the hidden shape is listed apart
    assert rec["emg_gain"]["n_cells"] == 3 and list(rec["emg_gain"]["per_muscle"]) == [MEASURED]
    assert list(rec["shape_factor"]["unscored_per_muscle"]) == [HIDDEN]
    assert set(rec["max_isometric_force"]["by_role"]) == {"measured", "hidden"}
    # tau_act's prior centre is the truth: nothing to gain, nothing lost
    assert rec["tau_act_s"]["verdict"] == "not identified"


def test_fitted_at_the_prior_is_not_identified(tmp_path):
    rec = _identified(tmp_path, at_truth=False)
    for name in ("max_isometric_force", "emg_gain", "shape_factor", "electromechanical_delay_s"):
        assert rec[name]["verdict"] == "not identified", name
        assert rec[name]["closer_than_initial"] == 0.0 and rec[name]["median_abs_change"] == 0.0


def test_without_predictions_the_gain_is_not_scored(tmp_path):
    _write_cohort(tmp_path / "cohort")
    _write_stage(tmp_path / "nmm", _fitted(at_truth=True), predictions=False)
    rec = identified_parameters(tmp_path / "nmm", tmp_path / "cohort", n_boot=200)
    assert rec["emg_gain"]["verdict"] == "not scored" and "predictions" in rec["emg_gain"]["note"]
    assert rec["shape_factor"]["verdict"] == "identified"


def _write_run(run: Path, cohort: Path) -> None:
    """A finished nmm-compare run: its metrics, config, the compare cells of the hidden
    muscle (NMM and SynX, subject × load) and the NMM stage."""
    _write_stage(run / "stages" / "nmm", _fitted(at_truth=True))
    (run / "stages" / "compare").mkdir(parents=True)
    g = np.random.default_rng(0)
    fields = ["method", "subject", "load_kg", "muscle", "rmse", "baseline_rmse", "pearson_r"]
    fields += ["baseline_pearson_r", "torque_r2"]
    with (run / "stages" / "compare" / "cells.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for method in ("nmm", "mse"):
            for s in SUBJECTS:
                for load in (0.0, 2.0):
                    row = [method, s, load, HIDDEN, *g.uniform(0.01, 1, 5)]
                    w.writerow(dict(zip(fields, row, strict=True)))
    stages = {k: {"path": f"stages/{k}", "wall_s": 1.0} for k in ("nmm", "mse", "compare")}
    (run / "metrics.json").write_text(json.dumps({"n_trials": 6, "stages": stages}))
    (run / "config.yaml").write_text(yaml.safe_dump({"physics": {"hidden": [HIDDEN]}}))


def test_rescoring_reproduces_a_run_and_adds_the_identification(tmp_path):
    _write_cohort(tmp_path / "cohort")
    _write_run(tmp_path / "runs" / "default", tmp_path / "cohort")
    run = tmp_path / "runs" / "default"
    metrics = json.loads((run / "metrics.json").read_text())
    recorded = score_run("default", tmp_path / "cohort", run, metrics, [HIDDEN], 200)
    del recorded["identified_parameters"]  # a result written before the record existed
    recorded["nmm"]["joint_fit_s"] = 99.0  # a rerun's timings differ; the result's are kept
    recorded["wall_s"] = 5.0
    result = {"quick": True, "variants": {"default": recorded}, "peak_rss_mib": 1.0}
    (tmp_path / "old.json").write_text(json.dumps(result))
    out = tmp_path / "new.json"
    argv = ["--rescore-from", str(tmp_path / "runs"), "--result", str(tmp_path / "old.json")]
    assert main([*argv, "--out", str(out)]) == 0
    new = json.loads(out.read_text())["variants"]["default"]
    assert new["identified_parameters"]["emg_gain"]["verdict"] == "identified"
    assert new["nmm"]["joint_fit_s"] == 99.0 and new["wall_s"] == 5.0
    assert new["muscles"] == recorded["muscles"]
    # a result that this run does not reproduce is refused, naming what differs
    recorded["muscles"][HIDDEN]["rmse"]["nmm"] += 1e-12
    with pytest.raises(ValueError, match=r"\['muscles'\]"):
        rescore_variant("default", recorded, run, 200)


def test_identification_table_cells(tmp_path):
    _write_cohort(tmp_path / "cohort")
    _write_stage(tmp_path / "nmm", _fitted(at_truth=True))
    rec = identified_parameters(tmp_path / "nmm", tmp_path / "cohort", n_boot=200)
    (tmp_path / "generalise.json").write_text(
        json.dumps({"variants": {"v": {"identified_parameters": rec}}})
    )
    table = render_identified(tmp_path).splitlines()
    assert len(table) == 3 and table[0].count("|") == len(IDENT_COLUMNS) + 2
    cells = [c.strip() for c in table[2].strip("|").split("|")]
    assert cells[0] == "v"
    assert cells[1] == "yes 0.1→0" and cells[5] == "yes 0.2→0"  # strength measured, EMG gain
    assert cells[7] == "no 0→0"  # tau_act: the prior centre is the truth
    (tmp_path / "generalise.json").write_text(json.dumps({"variants": {"v": {}}}))
    assert render_identified(tmp_path).startswith("No parameter identification")


def test_a_parameter_that_is_not_personalised_is_left_out(tmp_path):
    _write_cohort(tmp_path / "cohort")
    fitted = _fitted(at_truth=True)
    for values in fitted.values():
        del values["tau_act_s"], values["emg_gain"]
    _write_stage(tmp_path / "nmm", fitted)
    rec = identified_parameters(tmp_path / "nmm", tmp_path / "cohort", n_boot=200)
    assert "tau_act_s" not in rec and rec["emg_gain"]["verdict"] == "not scored"
    assert rec["electromechanical_delay_s"]["verdict"] == "identified"


def test_the_docs_table_is_rewritten_between_its_markers(tmp_path):
    doc = tmp_path / "generalisation.md"
    doc.write_text("# Doc\n\nno table here\n")
    assert update_identified_table(tmp_path, doc) is False
    assert doc.read_text() == "# Doc\n\nno table here\n"
    doc.write_text(f"# Doc\n\n{IDENT_BEGIN}\nold\n{IDENT_END}\n\nafter\n")
    (tmp_path / "generalise.json").write_text(json.dumps({"variants": {"v": {}}}))
    assert update_identified_table(tmp_path, doc) is True
    assert docs_identified_table(doc) == render_identified(tmp_path)
    assert doc.read_text().endswith(f"{IDENT_END}\n\nafter\n")


def test_docs_identification_table_matches_the_json_result():
    table = docs_identified_table()
    if table is None:
        pytest.skip("docs/generalisation.md has no parameter identification table markers yet")
    assert table == render_identified(), (
        "docs/generalisation.md's identification table is out of date: run "
        "`python -m benchmarks.table`"
    )
