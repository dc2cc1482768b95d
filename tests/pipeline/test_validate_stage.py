"""The pipeline's validate stage runs ``conf/validate.yaml`` with the pipeline's nodes copied in.
A copied node must not point at nodes validate's config lacks: ``preprocess.causal`` follows
``model.causal``, and an unresolved copy failed when the stage was fingerprinted (``make demo``
stopped at validate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nmm.config import compose_config
from nmm.jobs.stages import StageResult, StageRunner, fingerprint
from nmm.pipeline.job import _validate_stage


class _Inputs(StageRunner):
    """Fingerprints a stage's inputs as the runner does, and keeps them instead of running."""

    def run(self, name: str, inputs: Any, fn) -> Any:
        self.inputs, self.fp = inputs, fingerprint(inputs)
        return self.fp


@pytest.mark.parametrize("causal", [False, True])
def test_the_validate_stage_carries_the_resolved_preprocessing(tmp_path: Path, causal: bool):
    cfg = compose_config("pipeline", [f"run_dir={tmp_path}", f"model.causal={causal}"])
    runner = _Inputs(tmp_path)
    upstream = StageResult("nmm", tmp_path, "0" * 64, {}, ran=False, wall_s=0.0)
    _validate_stage(runner, cfg, upstream, "predictions")
    preprocess = runner.inputs["validate"].preprocess
    assert preprocess.causal is causal
    assert preprocess.emg.causal is causal and preprocess.kinematics.causal is causal
