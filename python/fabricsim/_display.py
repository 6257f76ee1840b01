"""Notebook display helpers shared by the result types: HTML tables for ``_repr_html_``, the
optional pandas import, and the optional matplotlib axes.

Nothing here touches matplotlib's backend: a plot draws on the ``ax`` it is given (or on a new
figure made with :func:`matplotlib.pyplot.subplots`, which uses whatever backend the user or
the notebook chose) and returns the Figure.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any


def pandas() -> Any:
    """The pandas module, or an ImportError that says how to get it."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "to_pandas needs pandas: pip install pandas (or 'fabricsim[notebook]')"
        ) from None
    return pd


def pyplot() -> Any:
    """matplotlib.pyplot, or an ImportError that says how to get it (the backend is left
    alone)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib: pip install 'fabricsim[plot]'") from None
    return plt


def axes(
    ax: Any = None, *, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.2)
) -> tuple[Any, list[Any]]:
    """(figure, [axes]): the given ``ax`` (one, or a sequence of ``ncols``) and its figure, or a
    new figure with ``ncols`` axes side by side."""
    if ax is None:
        plt = pyplot()
        fig, made = plt.subplots(1, ncols, figsize=figsize, squeeze=False)
        return fig, list(made[0])
    many = list(ax) if isinstance(ax, (list, tuple)) or hasattr(ax, "flat") else [ax]
    if hasattr(ax, "flat"):
        many = list(ax.flat)
    if len(many) != ncols:
        raise ValueError(
            f"ax: this plot draws {ncols} panel(s); pass {ncols} axes, got {len(many)}"
        )
    return many[0].figure, many


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return html.escape(str(v))


def html_table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "", max_rows: int = 60
) -> str:
    """A small HTML table (numbers right-aligned); more than ``max_rows`` rows are elided."""
    rows_: list[Sequence[Any] | None] = list(rows)
    shown = (
        rows_
        if len(rows_) <= max_rows
        else rows_[: max_rows // 2] + [None] + rows_[-max_rows // 2 :]
    )
    out = ["<table>"]
    if caption:
        out.append(f"<caption style='text-align:left'>{html.escape(caption)}</caption>")
    out.append(
        "<thead><tr>"
        + "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        + "</tr></thead><tbody>"
    )
    for r in shown:
        if r is None:
            out.append(
                f"<tr><td colspan='{len(columns)}'>… {len(rows_) - max_rows} rows …</td></tr>"
            )
            continue
        out.append(
            "<tr>" + "".join(f"<td style='text-align:right'>{_cell(v)}</td>" for v in r) + "</tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)
