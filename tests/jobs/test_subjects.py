"""nmm-train honours the subject selection (conf/subject/): LOSO holds out the selected subjects
only, training on all the others; a subject the cohort lacks is a clear error."""

from __future__ import annotations

import warnings

import pytest
from hydra import compose, initialize_config_dir

from nmm.config import CONF_DIR
from nmm.jobs.train import run_train

from .conftest import train_fast

warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def compose_train(overrides: list[str]):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_loso_holds_out_the_selected_subject_only(tmp_path, arm26_osim, geometry_cache):
    fast = [o for o in train_fast(geometry_cache) if not o.startswith("fold=")]
    cfg = compose_train(
        [
            *fast,
            "subject=S02",
            "fold=loso",
            "evaluate.workers=1",
            "evaluate.personalise.steps=2",
            f"run_dir={tmp_path}",
        ]
    )
    metrics = run_train(cfg)
    folds = metrics["loso"]["folds"]
    assert [f["held_out"] for f in folds] == ["S02"]
    assert folds[0]["fit"]["train_subjects"] == ["S01", "S03", "S04", "S05"]
    assert metrics["fit"]["train_subjects"] == ["S02"]  # the fit of the whole job: S02 only
    assert "per_subject" not in metrics


def test_a_subject_the_cohort_lacks_is_an_error(tmp_path, arm26_osim, geometry_cache):
    cfg = compose_train([*train_fast(geometry_cache), "subjects=[S01,S09]", f"run_dir={tmp_path}"])
    with pytest.raises(ValueError, match=r"\['S09'\] not in the cohort"):
        run_train(cfg)
