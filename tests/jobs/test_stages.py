"""Stage caching and resume (nmm.jobs.stages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nmm.jobs.stages import StageRunner, fingerprint


def _writer(calls: list, text: str):
    def fn(folder: Path, resume: bool) -> dict:
        calls.append(resume)
        (folder / "out.txt").write_text(text)
        return {"text": text}

    return fn


def test_a_finished_stage_is_skipped_while_its_inputs_are_unchanged(tmp_path: Path) -> None:
    calls: list = []
    runner = StageRunner(tmp_path)
    first = runner.run("fit", {"lr": 0.1}, _writer(calls, "a"))
    again = StageRunner(tmp_path).run("fit", {"lr": 0.1}, _writer(calls, "b"))
    assert first.ran and not again.ran and calls == [False]
    assert (tmp_path / "stages" / "fit" / "out.txt").read_text() == "a"
    assert again.result == {"text": "a"} and again.fingerprint == fingerprint({"lr": 0.1})
    changed = StageRunner(tmp_path).run("fit", {"lr": 0.2}, _writer(calls, "c"))
    assert changed.ran and (tmp_path / "stages" / "fit" / "out.txt").read_text() == "c"


def test_a_failing_stage_leaves_the_previous_result_intact(tmp_path: Path) -> None:
    runner = StageRunner(tmp_path)
    runner.run("fit", {"lr": 0.1}, _writer([], "good"))

    def broken(folder: Path, resume: bool) -> dict:
        (folder / "out.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        runner.run("fit", {"lr": 0.2}, broken)
    final = tmp_path / "stages" / "fit"
    assert (final / "out.txt").read_text() == "good"
    assert json.loads((final / "stage.json").read_text())["fingerprint"] == fingerprint({"lr": 0.1})


def test_an_interrupted_stage_resumes_from_its_partial_folder(tmp_path: Path) -> None:
    runner = StageRunner(tmp_path)

    def interrupted(folder: Path, resume: bool) -> dict:
        (folder / "checkpoint").write_text("epoch 3")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run("fit", {"lr": 0.1}, interrupted)
    seen = {}

    def finish(folder: Path, resume: bool) -> dict:
        seen["resume"] = resume
        ckpt = folder / "checkpoint"
        seen["checkpoint"] = ckpt.read_text() if ckpt.exists() else None
        return {}

    StageRunner(tmp_path).run("fit", {"lr": 0.1}, finish)
    assert seen == {"resume": True, "checkpoint": "epoch 3"}
    # with other inputs the partial output is not reused
    with pytest.raises(KeyboardInterrupt):
        runner.run("fit", {"lr": 0.3}, interrupted)
    StageRunner(tmp_path).run("fit", {"lr": 0.4}, finish)
    assert seen == {"resume": False, "checkpoint": None}
