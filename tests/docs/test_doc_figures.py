"""The figures of README.md and docs/ agree with the committed JSON, and no other figure appears.

Traceability rule (:func:`test_every_figure_is_traceable`). In ``README.md``,
``docs/methods.md`` and ``docs/results.md``, outside generated blocks (rendered from JSON by
``benchmarks.doc_figures``), fenced code blocks and inline code (commands, paths and settings
quoted as typed), a *figure* is a number with a decimal point (``0.52``, ``1e-3`` counts too), a
percentage (``95 %``) or a factor (``3×``). Every figure must be

- a setting: a number that is a value in ``conf/**/*.yaml`` (its source is stated there), or
- a version, year or bibliographic number: after ``Python``/``torch``/``OpenSim``…, inside a
  DOI or arXiv id, or in the references section of ``docs/methods.md``, or
- in :data:`ALLOWED` with the reason it is not a result.

Integers (counts such as 5 subjects, 0/2/4 kg, 2 kHz) are not figures: they describe the data
and the protocol, and the docs would be unreadable without them. A measured result therefore
appears only inside a generated block, where this module's other tests hold it to its JSON.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from benchmarks import doc_figures
from benchmarks.doc_figures import BLOCKS, blocks_in, render, rendered

ROOT = doc_figures.ROOT
DOCS = [ROOT / "README.md", ROOT / "docs" / "methods.md", ROOT / "docs" / "results.md"]

# figures that are neither results nor conf values, each with its reason
ALLOWED: dict[str, str] = {
    "95 %": "the confidence level of the intervals, named in column headings",
    "0.25 s": "the NMM's window stride, conf/model/pinn.yaml stride_s (the unit follows the value)",
}

_FIGURE = re.compile(
    r"(?<![\w.])(?:\d+\.\d+(?:e-?\d+)?|\d+e-?\d+)(?:\s*(?:%|×|s\b))?"
    r"|(?<![\w.])\d+\s*%"
    r"|(?<![\w.])\d+\s*×"
)
_VERSION_BEFORE = re.compile(
    r"(Python|torch|OpenSim|Hydra|hydra|optuna|Lightning|numpy|xgboost|shap|version|v"
    r"|Apache|CC BY)\W{0,3}$"  # versions and licence versions
)


def _conf_numbers() -> set[float]:
    found: set[float] = set()

    def walk(node):
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            found.add(float(node))
        elif isinstance(node, str):  # "${...}" and "1e-3" style values
            for m in re.finditer(r"-?\d+\.?\d*(?:e-?\d+)?", node):
                found.add(float(m.group()))

    for path in (ROOT / "conf").rglob("*.yaml"):
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


def _prose(text: str) -> str:
    """``text`` without generated blocks, fenced code, inline code and HTML comments."""
    text = doc_figures._BLOCK_RE.sub("", text)
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"\(#[\w-]*\)|\]\([^)]*\)", "]", text)  # link targets


def untraceable(text: str, conf: set[float]) -> list[str]:
    """The figures of ``text`` that the rule above does not allow, with their context."""
    text = _prose(text)
    text = text.split("\n## References\n")[0]
    text = re.sub(r"doi:\S+|arXiv:\S+", "", text)
    bad = []
    for m in _FIGURE.finditer(text):
        figure = m.group().strip()
        before = text[max(0, m.start() - 12) : m.start()]
        if _VERSION_BEFORE.search(before) or figure in ALLOWED:
            continue
        number = float(re.match(r"[\d.e-]+", figure).group().rstrip(".-"))
        if any(math.isclose(number, c, rel_tol=1e-9) for c in conf):
            continue
        bad.append(f"{figure!r} in ...{text[max(0, m.start() - 40) : m.end() + 20]!r}")
    return bad


@pytest.fixture(scope="module")
def conf_numbers() -> set[float]:
    return _conf_numbers()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_figure_is_traceable(doc: Path, conf_numbers: set[float]):
    bad = untraceable(doc.read_text(encoding="utf-8"), conf_numbers)
    assert not bad, (
        f"{doc.relative_to(ROOT)}: figures with no JSON or conf source (render them from a "
        "result file in a generated block, or quote the setting as it is in conf/):\n"
        + "\n".join(bad)
    )


@pytest.mark.parametrize("doc", doc_figures.DOCS, ids=lambda p: p.name)
def test_generated_blocks_match_the_json(doc: Path):
    text = doc.read_text(encoding="utf-8")
    assert blocks_in(text), f"{doc.relative_to(ROOT)} has no generated figures"
    assert rendered(text) == text, (
        f"{doc.relative_to(ROOT)} is out of date: run `python -m benchmarks.doc_figures`"
    )


def test_every_block_is_used_once_and_names_its_sources():
    names = [n for doc in doc_figures.DOCS for n in blocks_in(doc.read_text(encoding="utf-8"))]
    assert sorted(names) == sorted(BLOCKS), "each block in BLOCKS appears once in the docs"
    for doc in doc_figures.DOCS:
        text = doc.read_text(encoding="utf-8")
        for name in blocks_in(text):
            assert doc_figures.begin_marker(BLOCKS[name]) in text


def test_no_doc_refers_outside_the_repository():
    for doc in DOCS[1:]:
        text = doc.read_text(encoding="utf-8")
        assert "../shared" not in text and "shared/" not in text, doc.name
        for target in re.findall(r"\]\(([^)#]+)", text):
            if "://" not in target:
                assert (doc.parent / target).resolve().exists(), f"{doc.name}: {target}"


def test_readme_links_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)", text):
        if "://" not in target:
            assert (ROOT / target).exists(), target


def test_a_figure_follows_its_json(tmp_path: Path):
    """Changing a result changes the rendered text: the figures are read, not typed."""
    for source in BLOCKS["classifier"].sources:
        (tmp_path / source).parent.mkdir(parents=True, exist_ok=True)
        result = json.loads((ROOT / source).read_text(encoding="utf-8"))
        result["cv_balanced_accuracy"] = 0.123456
        (tmp_path / source).write_text(json.dumps(result), encoding="utf-8")
    assert "balanced accuracy 0.123 [" in render("classifier", tmp_path)


def test_a_missing_result_renders_the_command_that_writes_it(tmp_path: Path):
    text = render("nmm", tmp_path)
    assert "benchmarks/results/nmm.json" in text and "bench_nmm.py" in text


def test_update_rewrites_only_the_blocks(tmp_path: Path):
    block = BLOCKS["fuzz"]
    doc = tmp_path / "doc.md"
    doc.write_text(
        "before 1.5\n"
        + doc_figures.begin_marker(block)
        + "\nstale\n"
        + doc_figures.end_marker(block)
        + "\nafter\n",
        encoding="utf-8",
    )
    assert doc_figures.stale([doc]) == [doc]
    assert doc_figures.update([doc]) == [doc]
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("before 1.5\n") and text.endswith("after\n") and "stale" not in text
    assert blocks_in(text)["fuzz"] == render("fuzz")
    assert doc_figures.stale([doc]) == []


def test_the_rule_catches_a_typed_result(conf_numbers: set[float]):
    assert untraceable("balanced accuracy 0.61 [0.51, 0.73]", conf_numbers)
    assert untraceable("a 13× speed-up and 77 % of cases", conf_numbers)
    assert not untraceable(
        "Python 3.11, `torch==2.13.0`, 5 subjects, a 6.0 Hz envelope", conf_numbers
    )
