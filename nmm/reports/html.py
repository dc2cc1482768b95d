"""A self-contained HTML report: sections of text, tables and figures (PNG embedded as base64),
one file that opens anywhere without its run directory."""

from __future__ import annotations

import base64
import html
import importlib.metadata as md
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nmm.atomic import atomic_write_text

__all__ = ["HtmlReport", "Section", "software_versions"]

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: right; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 0.8em; }
.note { background: #fff8e1; border-left: 4px solid #f0ad4e; padding: .5em .8em; }
nav ul { columns: 2; }
"""


def _fmt(value: Any, floatfmt: str) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else format(value, floatfmt)  # NaN
    if isinstance(value, list | tuple) and value and all(isinstance(v, float) for v in value):
        return "[" + ", ".join(_fmt(v, floatfmt) for v in value) + "]"
    return html.escape(str(value))


@dataclass
class Section:
    """One titled section; its blocks render in the order they were added."""

    title: str
    anchor: str
    blocks: list[str] = field(default_factory=list)

    def text(self, content: str, note: bool = False) -> Section:
        """A paragraph (escaped); ``note`` highlights it."""
        cls = ' class="note"' if note else ""
        self.blocks.append(f"<p{cls}>{html.escape(content)}</p>")
        return self

    def table(
        self,
        rows: pd.DataFrame | Sequence[Mapping[str, Any]],
        floatfmt: str = ".3f",
        caption: str | None = None,
        index: bool = False,
    ) -> Section:
        """A table of a DataFrame or of row dicts (columns in first-seen order)."""
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
        if index:
            frame = frame.reset_index()
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_fmt(v, floatfmt)}</td>" for v in row) + "</tr>"
            for row in frame.itertuples(index=False)
        )
        cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
        self.blocks.append(
            f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )
        return self

    def figure(self, path: str | os.PathLike[str], caption: str = "") -> Section:
        """A PNG embedded as a data URI; a missing file is named in the report instead."""
        p = Path(path)
        if not p.is_file():
            self.text(f"(figure missing: {p})", note=True)
            return self
        data = base64.b64encode(p.read_bytes()).decode("ascii")
        alt = html.escape(caption or p.stem)
        self.blocks.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def code(self, content: str) -> Section:
        """Preformatted text (configs, logs)."""
        self.blocks.append(f"<pre>{html.escape(content)}</pre>")
        return self


@dataclass
class HtmlReport:
    """Sections rendered into one HTML document with a table of contents."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        anchor = "s" + str(len(self.sections) + 1)
        s = Section(title, anchor)
        self.sections.append(s)
        return s

    def render(self) -> str:
        toc = "".join(
            f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in self.sections
        )
        body = "".join(
            f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{"".join(s.blocks)}</section>'
            for s in self.sections
        )
        sub = f"<p>{html.escape(self.subtitle)}</p>" if self.subtitle else ""
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>{sub}<nav><ul>{toc}</ul></nav>{body}</body></html>\n"
        )

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the document atomically."""
        return atomic_write_text(path, self.render())


def software_versions() -> dict[str, str]:
    """Versions of Python and of the libraries results depend on (absent ones left out)."""
    out = {"python": platform.python_version()}
    for dist in (
        "nmm-painsig",
        "torch",
        "lightning",
        "hydra-core",
        "opensim",
        "numpy",
        "scipy",
        "scikit-learn",
        "xgboost-cpu",
        "xgboost",
        "shap",
        "pandas",
        "matplotlib",
    ):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return out
