"""Markdown tables of data frames (``statistics.md`` of a run), without ``tabulate``."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["markdown_table"]


def _cell(value: object, floatfmt: str) -> str:
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return "NaN"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return format(float(value), floatfmt)
    text = str(value).replace("|", "\\|").replace("\n", " ")
    return text


def markdown_table(df: pd.DataFrame, floatfmt: str = ".3g", index: bool = True) -> str:
    """GitHub-flavoured markdown table of ``df``, without the ``tabulate`` dependency.

    Floats are written with ``format(x, floatfmt)``, NaN/None as ``NaN``, booleans as
    ``True``/``False`` and integers as is. ``|`` in text is escaped. Numeric columns are
    right-aligned (``---:``), the others left-aligned. With ``index=True`` the index comes
    first, headed by its name (empty if unnamed; levels of a MultiIndex become columns).

    Returns:
        The table, lines joined by ``"\\n"``, without a trailing newline.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"markdown_table needs a DataFrame, got {type(df).__name__}")
    table = df.reset_index() if index else df
    if index and df.index.nlevels == 1 and df.index.name is None:
        table = table.rename(columns={table.columns[0]: ""})
    headers = [
        _cell(c, floatfmt) if not isinstance(c, str) else c.replace("|", "\\|")
        for c in table.columns
    ]
    numeric = [
        pd.api.types.is_numeric_dtype(table.iloc[:, j])
        and not pd.api.types.is_bool_dtype(table.iloc[:, j])
        for j in range(table.shape[1])
    ]
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---:" if num else ":---" for num in numeric) + "|",
    ]
    for row in table.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)
