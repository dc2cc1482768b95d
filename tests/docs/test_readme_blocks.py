"""README.md's code blocks run (as pyomeca's documentation examples do).

Every fenced block is handled one way, chosen by its language and by an HTML comment on the line
before it; none is skipped silently:

- ``python``: executed in this process, from the repository root (the examples only read).
- ``bash``: each command line is run from the repository root (``.venv/bin/`` and ``python``
  mean this interpreter's), and must exit 0. Only quick commands that write nothing belong here.
- ``bash`` after ``<!-- compose: reason -->``: each line must start with an app's entry point
  (``pyproject.toml``); its config is composed with the line's overrides by Hydra, as the app
  would (for ``-m`` sweeps, the first job of the sweep), without running the app. An override
  that no longer exists, or a group option that was renamed, fails here.
- ``yaml``: parsed; the CSV schema (docs/study.md's) is also used to read a CSV trial written
  to ``tmp_path``.
- ``text``: a layout listing; the path at the start of each line must exist.
- any block after ``<!-- not run: reason -->``: not run; the reason must be given.

Nothing is written outside pytest's ``tmp_path`` and nothing uses the network.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from omegaconf import OmegaConf

from nmm.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


@dataclass(frozen=True)
class CodeBlock:
    line: int  # 1-based line of the opening fence
    lang: str
    mark: str  # "" or the HTML comment's kind: "not run" or "compose"
    reason: str
    code: str

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.lang}{'-' + self.mark.replace(' ', '_') if self.mark else ''}"


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block of ``text`` with the mark on the line before it (blank lines skipped)."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = re.match(r"^<!--\s*(not run|compose):\s*(.*?)\s*-->$", lines[k]) if k >= 0 else None
        blocks.append(
            CodeBlock(
                i + 1,
                fence.group(1),
                mark.group(1) if mark else "",
                mark.group(2) if mark else "",
                "\n".join(lines[i + 1 : j]) + "\n",
            )
        )
        i = j + 1
    return blocks


BLOCKS = code_blocks(README.read_text(encoding="utf-8"))


def command_lines(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out.append(shlex.join(words))
    return out


def entry_points() -> dict[str, str]:
    """``{entry point: config name}`` from pyproject.toml and the scripts' ``@hydra.main``."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    out = {}
    for name, target in scripts.items():
        module = target.split(":")[0]
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "config_name":
                out[name] = node.value.value
    return out


def first_job(overrides: list[str]) -> list[str]:
    """The overrides of a sweep's first job: each sweep (``a=1,2``, ``glob(S*)``) at its first
    value; the group options of a glob are the files of ``conf/<group>/``."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    out = []
    for o, text in zip(parsed, overrides, strict=True):
        if not o.is_sweep_override():
            out.append(text)
            continue
        key = o.get_key_element()
        if isinstance(o.value(), Glob):
            group = Path(CONF_DIR) / o.key_or_group
            names = sorted(p.stem for p in group.glob("*.yaml"))
            values = o.value().filter(names)
        else:
            values = list(o.sweep_string_iterator())
        assert values, f"the sweep {text!r} has no value"
        out.append(f"{key}={values[0]}")
    return out


def compose_line(line: str, apps: dict[str, str]) -> None:
    words = shlex.split(line)
    app = Path(words[0]).name
    assert words[0] in (app, f".venv/bin/{app}") and app in apps, (
        f"{line!r}: a compose block holds app command lines only (entry points: {sorted(apps)})"
    )
    overrides = [w for w in words[1:] if w != "-m"]
    assert all("=" in w for w in overrides), f"{line!r}: only overrides may follow the app"
    if "-m" in words[1:]:
        overrides = first_job(overrides)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name=apps[app], overrides=overrides, return_hydra_config=True)
    assert OmegaConf.select(cfg, "hydra.job.name") is not None, f"{line!r}: not composed"


def test_every_block_is_handled_with_a_reason():
    assert BLOCKS, "README.md has no code blocks"
    for b in BLOCKS:
        assert b.lang in {"python", "bash", "yaml", "text"}, (
            f"README.md:{b.line}: fence a block with its language (python, bash, yaml, text)"
        )
        if b.mark:
            assert b.reason, f"README.md:{b.line}: <!-- {b.mark}: ... --> needs its reason"
        if b.mark == "compose":
            assert b.lang == "bash", f"README.md:{b.line}: only bash blocks are composed"
    # the two commands stay in the README, as CI and the users know them
    assert any("make demo" in b.code and "make test" in b.code for b in BLOCKS)


def _only(lang: str, mark: str = "") -> list[CodeBlock]:
    return [b for b in BLOCKS if b.lang == lang and b.mark == mark]


@pytest.mark.parametrize("block", _only("python"), ids=lambda b: b.id)
def test_python_block_runs(block: CodeBlock, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(ROOT)
    exec(compile(block.code, f"README.md:{block.line}", "exec"), {"__name__": "readme"})
    assert capsys.readouterr().out, "a README example shows its result"


@pytest.mark.parametrize("block", _only("bash"), ids=lambda b: b.id)
def test_bash_block_runs(block: CodeBlock, tmp_path: Path):
    bindir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLCONFIGDIR": str(tmp_path),
        "HOME": str(tmp_path),
    }
    for line in command_lines(block.code):
        words = shlex.split(line)
        if words[0] == "python":
            words[0] = sys.executable
        elif words[0].startswith(".venv/bin/"):
            words[0] = str(Path(bindir) / Path(words[0]).name)
        done = subprocess.run(
            words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"README.md:{block.line}: {line}\n{done.stdout}{done.stderr}"


@pytest.mark.parametrize("block", _only("bash", "compose"), ids=lambda b: b.id)
def test_app_command_lines_compose(block: CodeBlock):
    apps = entry_points()
    lines = command_lines(block.code)
    assert lines
    for line in lines:
        compose_line(line, apps)


#: docs/study.md's CSV schema, which the README links to.
STUDY_YAML = [
    b
    for b in code_blocks((ROOT / "docs" / "study.md").read_text(encoding="utf-8"))
    if b.lang == "yaml" and "streams:" in b.code
]


def test_the_csv_schema_is_documented():
    assert STUDY_YAML, "docs/study.md lost its CSV schema example"


@pytest.mark.parametrize("block", _only("yaml") + STUDY_YAML, ids=lambda b: b.id)
def test_yaml_block_parses(block: CodeBlock, tmp_path: Path):
    document = yaml.safe_load(block.code)
    assert isinstance(document, dict)
    if "streams" in document:  # the CSV schema: read a trial with it
        from nmm.data.io import read_csv_trial

        columns = {"time": np.arange(200) / 1000.0}
        for stream in document["streams"].values():
            for spec in stream.values():
                columns[spec["column"]] = np.sin(columns["time"] * 7.0)
        header = ",".join(columns)
        rows = np.column_stack(list(columns.values()))
        csv = tmp_path / "trial.csv"
        csv.write_text(
            header + "\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows) + "\n",
            encoding="utf-8",
        )
        schema = tmp_path / "trial.yaml"
        schema.write_text(block.code, encoding="utf-8")
        trial = read_csv_trial(csv, schema)
        assert trial.subject == document["subject"]
        assert trial.angle.shape == (200,)


@pytest.mark.parametrize("block", _only("text"), ids=lambda b: b.id)
def test_layout_paths_exist(block: CodeBlock):
    for line in block.code.splitlines():
        if line and not line[0].isspace():
            path = line.split()[0]
            assert (ROOT / path).exists(), f"README.md:{block.line}: {path} does not exist"


def test_compose_rejects_a_stale_override():
    with pytest.raises(Exception, match=r"no_such_group|Could not"):
        compose_line(".venv/bin/nmm-train no_such_group=x", entry_points())


def test_readme_is_a_short_guide():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 300


def test_not_run_blocks_are_few_and_named():
    skipped = [b for b in BLOCKS if b.mark == "not run"]
    run = [b for b in BLOCKS if b.mark != "not run"]
    assert len(run) > len(skipped), "most of the README's blocks are checked"
