"""bench_scaling: the growth exponent on analytic power laws, and each size run on the first N
subjects of one cohort (the committed default cohort, 5 subjects: nothing is generated)."""

from __future__ import annotations

import pytest
from hydra.utils import instantiate

from benchmarks.bench_generalise import QUICK_COMPARE
from benchmarks.bench_scaling import (
    first_subjects,
    growth,
    growth_exponent,
    painsig_config,
    stage_overrides,
)
from nmm.config import compose_config
from nmm.data.io.dataset import read_dataset
from nmm.jobs.cohorts import DEFAULT_ROOT
from nmm.jobs.nmm_setup import load_cohort


@pytest.mark.parametrize("b", [0.5, 1.0, 1.7])
def test_growth_exponent_recovers_a_power_law(b):
    sizes = [1, 2, 5, 10, 20]
    assert growth_exponent(sizes, [3.0 * n**b for n in sizes]) == pytest.approx(b, rel=1e-12)


def test_growth_exponent_needs_two_sizes():
    assert growth_exponent([5], [10.0]) is None
    assert growth_exponent([5, 5], [10.0, 11.0]) is None


def test_growth_of_each_stage_from_the_size_records():
    """NMM linear, SynX quadratic, painsig (from 2 subjects on) constant, from hand-made
    records as run_size writes them."""
    sizes = [1, 2, 4]
    runs = [
        {
            "n_subjects": n,
            "compare": {"nmm_stage_s": 10.0 * n, "synx_stage_s": 2.0 * n * n},
            "painsig": None if n == 1 else {"painsig_s": 7.0},
        }
        for n in sizes
    ]
    b = growth(runs)
    assert b["nmm"] == pytest.approx(1.0, abs=1e-12)
    assert b["synx"] == pytest.approx(2.0, abs=1e-12)
    assert b["painsig"] == pytest.approx(0.0, abs=1e-12)


def test_first_subjects_in_the_manifest_order():
    assert first_subjects(DEFAULT_ROOT, 2) == ["S01", "S02"]
    assert first_subjects(DEFAULT_ROOT, 5) == ["S01", "S02", "S03", "S04", "S05"]
    with pytest.raises(ValueError, match="5 subjects, 6 asked for"):
        first_subjects(DEFAULT_ROOT, 6)


@pytest.mark.parametrize(("n", "quick"), [(1, True), (3, False)])
def test_both_stages_read_the_first_n_subjects(tmp_path, n, quick):
    """The overrides run_size gives nmm-compare and painsig make each read the first n
    subjects of the cohort, with all their trials and no other subject's."""
    full = read_dataset(DEFAULT_ROOT / "dataset")
    ids = first_subjects(DEFAULT_ROOT, n)
    overrides = stage_overrides(ids, QUICK_COMPARE if quick else [], quick)
    compare = compose_config(
        "compare", [f"data.root={DEFAULT_ROOT}", f"run_dir={tmp_path}", *overrides["compare"]]
    )
    nmm_cohort, truth = load_cohort(compare)  # nmm-compare's and its NMM stage's reader
    painsig_cohort = instantiate(
        painsig_config(str(DEFAULT_ROOT), str(tmp_path), overrides["painsig"]).data
    )
    expected = [(t.subject, t.trial_id) for t in full if t.subject in ids]
    for cohort in (nmm_cohort, painsig_cohort):
        assert cohort.subject_ids == ids
        assert [(t.subject, t.trial_id) for t in cohort] == expected
    assert truth == DEFAULT_ROOT / "ground_truth"
