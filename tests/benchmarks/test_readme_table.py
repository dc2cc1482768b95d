"""benchmarks/README.md's table is what the JSON results say, and every result records the
machine and the peak memory."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks.machine import write_result
from benchmarks.table import (
    RESULTS,
    ROWS,
    readme_generalise_table,
    readme_table,
    render_generalise,
    render_table,
)

RESULT_FILES = sorted(RESULTS.glob("*.json"))


def test_readme_table_matches_the_json_results():
    assert readme_table() == render_table(), (
        "benchmarks/README.md is out of date: run `python -m benchmarks.table`"
    )


def test_readme_generalisation_table_matches_the_json_result():
    assert readme_generalise_table() == render_generalise(), (
        "benchmarks/README.md's generalisation table is out of date: run "
        "`python -m benchmarks.table`"
    )


def test_every_result_file_has_a_row():
    table = readme_table()
    for path in RESULT_FILES:
        assert f"`results/{path.name}`" in table


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: p.name)
def test_results_record_machine_and_peak_memory(path):
    result = json.loads(path.read_text())
    machine = result["machine"]
    assert machine["cpu_count"] >= 1 and re.match(r"3\.\d+", machine["python"])
    assert result["peak_rss_mib"] > 0, f"{path.name}: no peak memory"


def test_headline_numbers_come_from_the_result():
    # the classifier's sentence, from a result written here with known values
    row = next(r for r in ROWS if r.file == "classifier.json")
    result = {
        "fit_s": 0.0853,
        "n_samples": 280,
        "n_features": 52,
        "logo_cv_s": 1.96,
        "logo_cv_folds": 22,
        "classifier": {"n_estimators": 200, "max_depth": 3, "n_jobs": 1},
    }
    text = row.figure(result)
    assert "fit 85 ms on 280 contractions × 52 features" in text
    assert "200 trees of depth 3, 1 thread" in text and "CV 2.0 s (22 fits)" in text


def test_write_result_adds_the_peak_memory(tmp_path):
    path = write_result({"x": 1.0}, tmp_path / "r.json")
    written = json.loads(path.read_text())
    assert written["x"] == 1.0 and written["peak_rss_mib"] > 10  # this process holds numpy
    kept = json.loads(write_result({"peak_rss_mib": 5.0}, tmp_path / "s.json").read_text())
    assert kept["peak_rss_mib"] == 5.0
