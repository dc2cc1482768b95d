"""The import rules of the house (``STYLE.md``'s layer drawing, issue 19), read from the source
with :mod:`ast`: no import cycle between modules, every import runs down the layers, and
imports sit at module top level unless they load a heavy optional dependency on purpose.

Layers, each importing only itself and the lines above it::

    base       nmm.atomic nmm.bootstrap nmm.config nmm.metrics  (import nothing of the project)
    data       nmm.data
    reports    nmm.reports
    physics    nmm.physics     (no OpenSim, no model)
    opensim    nmm.opensim     (no model)
    synth      nmm.synth       (the synthetic cohort with OpenSim/Moco truth; a source of data,
                               not part of the data layer)
    model      nmm.model
    synergy    nmm.synergy
    painsig    painsig         (imports base, data and reports only)
    stream     nmm.stream      (the causal, chunk-by-chunk path: imports the NMM layers and painsig)
    apps       nmm.jobs nmm.compare nmm.pipeline  (only here do the NMM and painsig meet)
    scripts    scripts         (entry points: nothing imports them)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nmm", "painsig", "scripts")

#: Layer of a module: its longest matching prefix here.
LAYER_OF = {
    "nmm": "base",
    "nmm.atomic": "base",
    "nmm.bootstrap": "base",
    "nmm.config": "base",
    "nmm.metrics": "base",
    "nmm.data": "data",
    "nmm.reports": "reports",
    "nmm.physics": "physics",
    "nmm.opensim": "opensim",
    # The synthetic-cohort generator: its own layer (STYLE.md's nmm/synth).
    "nmm.synth": "synth",
    "nmm.model": "model",
    "nmm.synergy": "synergy",
    "painsig": "painsig",
    "nmm.stream": "stream",
    "nmm.jobs": "apps",
    "nmm.compare": "apps",
    "nmm.pipeline": "apps",
    "scripts": "scripts",
}
ORDER = ("base", "data", "reports", "physics", "opensim", "synth", "model", "synergy")
#: Layers each layer may import (its own included).
MAY_IMPORT = {layer: set(ORDER[: i + 1]) for i, layer in enumerate(ORDER)}
# painsig stands beside the NMM: the recordings, the reports and the base utilities only
# (nmm.bootstrap: the subject-cluster bootstrap both products use).
MAY_IMPORT["painsig"] = {"base", "data", "reports", "painsig"}
# The real-time path joins the causal NMM, the streaming filters and painsig's indices.
MAY_IMPORT["stream"] = {*ORDER, "painsig", "stream"}
MAY_IMPORT["apps"] = {*ORDER, "painsig", "stream", "apps"}
MAY_IMPORT["scripts"] = {*ORDER, "painsig", "stream", "apps"}

#: Imports up the layers that are still allowed, (importer, imported) -> why: a job that still
#: lives in a domain package (issue 19, item 1 moves the jobs to the app layer), or a config's
#: ``_target_`` that still names the lower module.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}

#: External packages a function may import lazily, -> why it is worth the laziness.
HEAVY = {
    "opensim": "optional (conda only); the torch side and most tests run without it",
    "ezc3d": "optional C3D reader, loaded only for .c3d files",
    "torch": "seconds to import; torch-free paths (nmm-validate, painsig) must not load it",
    "lightning": "imports torch",
    "matplotlib": "figures only; a second to import",
    "shap": "explanations only; imports numba",
    "xgboost": "the classifier only",
    "scipy": "loaded only by the step that needs it",
    "optuna": "sweeps only",
    "sqlalchemy": "the Optuna storage only",
    "tensorboard": "optional logger",
    "tensorboardX": "optional logger",
    "pylsl": "live amplifiers only (the `lsl` extra); tests never open LSL (it multicasts)",
    "pyxdf": "the .xdf replay source only",
    "onnx": "the ONNX export only",
    "onnxruntime": "the ONNX export's parity check and latency only",
}


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # a project module, or the top-level name of an external package
    line: int
    lazy: bool  # inside a function
    project: bool


@cache
def modules() -> dict[str, Path]:
    """Every module of the project's packages, dotted name -> file."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a module, or a name inside one)."""
    mods = modules()
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _walk(node: ast.AST, lazy: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        yield child, lazy
        inner = lazy or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            continue  # annotations only: never runs
        yield from _walk(child, inner)


@cache
def imports_of(module: str) -> tuple[Import, ...]:
    path = modules()[module]
    out: list[Import] = []
    for node, lazy in _walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, path.name == "__init__.py")
            names = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                target = _resolve(name)
                if target and target != module:
                    out.append(Import(module, target, node.lineno, lazy, True))
            else:
                out.append(Import(module, name.split(".")[0], node.lineno, lazy, False))
    return tuple(out)


def layer(module: str) -> str:
    keys = [k for k in LAYER_OF if module == k or module.startswith(k + ".")]
    if not keys:
        raise AssertionError(f"{module}: in no layer; add its package to LAYER_OF")
    return LAYER_OF[max(keys, key=len)]


def project_edges() -> list[Import]:
    return [i for m in modules() for i in imports_of(m) if i.project]


@cache
def heavy_at_import(module: str) -> frozenset[str]:
    """The HEAVY packages that importing ``module`` loads (its top-level imports, transitively;
    a package's ``__init__`` included)."""
    out: set[str] = set()
    todo, seen = [module], set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        parts = m.split(".")
        todo += [
            ".".join(parts[:k]) for k in range(1, len(parts)) if ".".join(parts[:k]) in modules()
        ]
        for imp in imports_of(m):
            if imp.lazy:
                continue
            if imp.project:
                todo.append(imp.target)
            elif imp.target in HEAVY:
                out.add(imp.target)
    return frozenset(out)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in modules()}
    for e in project_edges():
        graph[e.importer].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_layer_table_states_the_rules() -> None:
    """What the issue asks of the layers, read off :data:`MAY_IMPORT`."""
    assert not {"opensim", "model"} & MAY_IMPORT["physics"]
    assert "model" not in MAY_IMPORT["opensim"]
    assert MAY_IMPORT["data"] == {"base", "data"}
    assert MAY_IMPORT["painsig"] == {"base", "data", "reports", "painsig"}
    assert all("painsig" not in MAY_IMPORT[layer] for layer in ORDER)  # only the apps join them
    assert all("scripts" not in allowed for allowed in MAY_IMPORT.values())


def test_every_module_is_in_a_layer() -> None:
    for m in modules():
        layer(m)


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_imports_run_down_the_layers() -> None:
    bad = [
        f"{e.importer}:{e.line} ({layer(e.importer)}) imports {e.target} ({layer(e.target)})"
        for e in project_edges()
        if layer(e.target) not in MAY_IMPORT[layer(e.importer)]
        and (e.importer, e.target) not in ALLOWED_UPWARD
    ]
    assert bad == []


def test_allowed_upward_imports_still_exist() -> None:
    edges = {(e.importer, e.target) for e in project_edges()}
    assert set(ALLOWED_UPWARD) <= edges, "remove the entries that no longer apply"


def test_lazy_imports_only_load_heavy_dependencies() -> None:
    """A function-level import must spare its module a HEAVY package: an external one of
    :data:`HEAVY`, or a project module that loads one the importer does not."""
    bad = []
    for m in modules():
        for imp in imports_of(m):
            if not imp.lazy:
                continue
            if imp.project:
                spared = heavy_at_import(imp.target) - heavy_at_import(m)
            else:
                spared = {imp.target} & set(HEAVY) - heavy_at_import(m)
            if not spared:
                bad.append(f"{m}:{imp.line} imports {imp.target} inside a function")
    assert bad == []
