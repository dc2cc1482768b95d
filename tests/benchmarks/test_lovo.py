"""The leave-one-variant-out choice (benchmarks/bench_lovo.py) on hand-made results whose answer
is known."""

from __future__ import annotations

import json

import pytest

from benchmarks.bench_lovo import (
    candidates_from,
    leave_one_variant_out,
    parse_setting,
    variant_score,
)
from benchmarks.table import docs_lovo_tables, render_lovo


def _result(met: dict[str, int], ratio: float) -> dict:
    """A run_variant-like result: per muscle, ``met[m]`` of its four targets met."""
    return {
        "targets_met": {m: {f"t{i}": i < k for i in range(4)} for m, k in met.items()},
        "muscles": {m: {"ratio_to_copy": {"ratio": ratio}} for m in met},
    }


def test_variant_score_counts_targets_and_averages_ratios():
    r = _result({"BRA": 3, "TRImed": 4}, 0.5)
    assert variant_score(r) == (7, 0.5)


def test_each_variant_is_judged_by_the_value_the_others_chose():
    # "a" wins v1 and v2, "b" wins v3. Held out, v3 is judged under "a" (v1 + v2 choose it)
    # although "b" is its best; with v1 held out the targets tie (4 + 1 vs 1 + 4) and "a"'s
    # lower mean ratio (0.5 vs 0.55) decides.
    results = {
        "a": {
            "v1": _result({"M": 4}, 0.5),
            "v2": _result({"M": 4}, 0.5),
            "v3": _result({"M": 1}, 0.5),
        },
        "b": {
            "v1": _result({"M": 1}, 0.7),
            "v2": _result({"M": 1}, 0.7),
            "v3": _result({"M": 4}, 0.4),
        },
    }
    out = leave_one_variant_out(results)
    assert out["chosen"] == "a"
    assert {v: h["chosen"] for v, h in out["held_out"].items()} == {"v1": "a", "v2": "a", "v3": "a"}
    assert out["held_out"]["v3"]["targets_met"] == 1 and out["held_out"]["v3"]["n_targets"] == 4
    assert out["stable"] is True


def test_an_unstable_choice_is_reported():
    # v1 decides for "a" (4 vs 0), v2 and v3 slightly for "b": with v1 held out, "b" is chosen,
    # with either other held out, "a".
    results = {
        "a": {
            "v1": _result({"M": 4}, 0.5),
            "v2": _result({"M": 2}, 0.6),
            "v3": _result({"M": 2}, 0.6),
        },
        "b": {
            "v1": _result({"M": 0}, 0.9),
            "v2": _result({"M": 3}, 0.6),
            "v3": _result({"M": 3}, 0.6),
        },
    }
    out = leave_one_variant_out(results)
    assert out["held_out"]["v1"]["chosen"] == "b"
    assert out["held_out"]["v2"]["chosen"] == "a"
    assert out["stable"] is False


def test_ties_in_targets_go_to_the_lower_ratio():
    results = {
        "a": {"v1": _result({"M": 4}, 0.55), "v2": _result({"M": 4}, 0.55)},
        "b": {"v1": _result({"M": 4}, 0.45), "v2": _result({"M": 4}, 0.45)},
    }
    assert leave_one_variant_out(results)["chosen"] == "b"


@pytest.mark.parametrize("text", ["specialise.enabled", "k=1", "=1,2", "k=1,1"])
def test_a_setting_needs_a_key_and_two_values(text):
    with pytest.raises(ValueError, match="KEY=V1,V2"):
        parse_setting(text)


def test_parse_setting():
    assert parse_setting("model.window_s=1.0, 2.0") == ("model.window_s", ["1.0", "2.0"])


def test_candidates_from_a_setting_or_bundles():
    assert candidates_from("k=1,2", None) == {"1": ["k=1"], "2": ["k=2"]}
    bundles = [["defaults"], ["old", "a.b=30", "c=[0.5,2.0]"]]
    assert candidates_from(None, bundles) == {"defaults": [], "old": ["a.b=30", "c=[0.5,2.0]"]}


@pytest.mark.parametrize(
    "setting, bundles",
    [("k=1,2", [["a"], ["b"]]), (None, None), (None, [["a"]]), (None, [["a"], ["a", "k=1"]])],
)
def test_candidates_need_one_form_and_two_distinct_labels(setting, bundles):
    with pytest.raises(ValueError):
        candidates_from(setting, bundles)


def test_lovo_tables_come_from_the_result(tmp_path):
    results = {
        "defaults": {"v1": _result({"M": 4}, 0.5), "v2": _result({"M": 3}, 0.5)},
        "old": {"v1": _result({"M": 2}, 0.7), "v2": _result({"M": 4}, 0.6)},
    }
    record = {
        "quick": False,
        "command": "python benchmarks/bench_lovo.py --name x --candidate defaults",
        "candidates": {"defaults": [], "old": ["a.b=30"]},
        "wall_s": 600.0,
        **leave_one_variant_out(results),
    }
    (tmp_path / "lovo_x.json").write_text(json.dumps(record))
    text = render_lovo(tmp_path)
    # v2 held out: v1 alone chooses "defaults" (4 vs 2), under which v2 meets 3 of 4; v1 held
    # out: v2 chooses "old" (4 vs 3). Overall "defaults" (7 vs 6), not stable.
    assert "| v2 | defaults | 3 of 4 | 3, 0.50 | 4, 0.60 |" in text
    assert "| v1 | old | 2 of 4 | 4, 0.50 | 2, 0.70 |" in text
    assert "| old | `a.b=30` |" in text and "| defaults | the defaults |" in text
    assert "chosen **defaults**, not stable" in text


def test_docs_defaults_tables_match_the_json_results():
    assert docs_lovo_tables() == render_lovo(), (
        "docs/defaults.md is out of date: run `python -m benchmarks.table`"
    )
