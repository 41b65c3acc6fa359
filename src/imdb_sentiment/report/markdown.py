"""Markdown for every report: tables, percentages, intervals and the one rule that calls a
difference real. Renderers (comparison.py, tuning's and the benchmark's) format through here and
compute nothing."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

HIGHER, LOWER, NOT_SHOWN = "yes: higher", "yes: lower", "no"


def pct(value: float, digits: int = 1) -> str:
    """0.8912 -> '89.1%'."""
    return f"{100 * value:.{digits}f}%"


def points(value: float, digits: int = 2, signed: bool = True) -> str:
    """Accuracy in percentage points, a difference signed: 0.0123 -> '+1.23' (or '1.23')."""
    return f"{100 * value:{'+' if signed else ''}.{digits}f}"


def interval(low: float, high: float, percent: bool = True, signed: bool = False) -> str:
    """'[86.1, 87.0]' (percent), '[+0.06, +0.46]' (signed points) or '[0.938, 0.943]'."""
    if signed:
        return f"[{points(low)}, {points(high)}]"
    if percent:
        return f"[{100 * low:.1f}, {100 * high:.1f}]"
    return f"[{low:.3f}, {high:.3f}]"


def with_interval(value: float, low: float | None, high: float | None, percent: bool = True) -> str:
    """A value and its interval when there is one: '86.6% [86.1, 87.0]'."""
    text = pct(value) if percent else f"{value:.3f}"
    if low is None or pd.isna(low):
        return text
    return f"{text} {interval(low, high, percent)}"


def difference_with_interval(difference: Mapping[str, float]) -> str:
    """A paired difference ``{difference, ci_low, ci_high}`` in points: '-0.08 [-0.46, +0.28]'."""
    return (
        f"{points(difference['difference'])} "
        f"{interval(difference['ci_low'], difference['ci_high'], signed=True)}"
    )


def verdict(difference: Mapping[str, float]) -> str:
    """Whether a difference is real: only when its interval excludes 0, and which way."""
    if difference["ci_low"] > 0:
        return HIGHER
    if difference["ci_high"] < 0:
        return LOWER
    return NOT_SHOWN


def table(frame: pd.DataFrame, index_name: str | None = "model") -> str:
    """A pandas frame as a Markdown table; the index is the first column unless
    ``index_name`` is None."""
    if index_name is None:
        return rows(list(map(str, frame.columns)), frame.itertuples(index=False))
    return rows(
        [index_name, *map(str, frame.columns)],
        ([index, *values] for index, *values in frame.itertuples()),
    )


def rows(header: Sequence[str], body: Iterable[Sequence[Any]], right: Collection[str] = ()) -> str:
    """A Markdown table from a header and rows of cells (``|`` in a cell is escaped); the
    columns named in ``right`` are right-aligned."""
    rule = "".join("---:|" if name in right else "---|" for name in header)
    lines = ["| " + " | ".join(header) + " |", "|" + rule]
    for cells in body:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def plus_minus(mean: float, std: float, digits: int = 2) -> str:
    """A mean and standard deviation of accuracies in percent: '85.39 ± 1.14'."""
    return f"{100 * mean:.{digits}f} ± {100 * std:.{digits}f}"


def ratio(value: float | None, digits: int = 2) -> str:
    """A speed ratio: 1.234 -> '1.23×' ('' for none)."""
    return "" if value is None else f"{value:.{digits}f}×"
