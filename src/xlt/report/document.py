"""The report as a list of format-neutral blocks; markdown.py, latex.py and html.py render them.

Blocks hold plain text (each renderer escapes it), so one builder feeds all three formats and the
numbers in report.md, report.tex and report.html are the same strings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xlt.analysis.units import points


@dataclass
class Heading:
    level: int  # 1 = document title, 2 = section, 3 = subsection
    text: str
    anchor: str = ""


@dataclass
class Para:
    text: str
    small: bool = False  # footnote-style text


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]
    strong_rows: set[int] = field(default_factory=set)  # summary rows (averages, gap)
    rules_after: set[int] = field(default_factory=set)  # a horizontal rule after these row indices
    left: int = 1  # leading text columns (left-aligned); the rest are numbers (right-aligned)


@dataclass
class Figure:
    key: str  # file stem under figures/ (.svg for HTML and Markdown, .pdf for LaTeX)
    title: str
    caption: str
    plot: object = None  # the matplotlib Figure, until write_report saves it
    svg: str = ""  # the inline <svg> element (HTML), filled when saved


Block = Heading | Para | Bullets | Table | Figure


class Bounds:
    """Clips displayed intervals to the range the quantity can take, and counts the bounds it moved.

    Percentile bootstrap intervals (two-level, with a t-distributed seed term) can leave [0, 1] for a
    language near 0 or 1 with few examples; the table shows the clipped interval and the report's
    notes say how many bounds were clipped."""

    def __init__(self) -> None:
        self.moved = 0

    def ci(self, low: float, high: float, lo: float = 0.0, hi: float = 1.0) -> str:
        if math.isnan(low) or math.isnan(high):  # e.g. no source-language score: no gap
            return "-"
        a, b = max(low, lo), min(high, hi)
        self.moved += (a != low) + (b != high)
        return interval(a, b)


def interval(low: float, high: float) -> str:
    return f"[{points(low)}, {points(high)}]"


def pvalue(p: float) -> str:
    if p is None or math.isnan(p):
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"
