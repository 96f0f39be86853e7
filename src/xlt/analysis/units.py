"""Score units: the store and the analysis frames hold scores in [0, 1]; people read points (x100).

Everything that shows a score to a person (text, Markdown, CSV, LaTeX and HTML tables, figures,
`xlt families`) converts here and says "x100" in its header or caption.
"""

from __future__ import annotations

import math

SCALE = 100.0
UNIT = "x100"


def points(x: float | None, digits: int = 1) -> str:
    """A score in [0, 1] (or a difference of scores) as points with `digits` decimals; '-' if missing."""
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{SCALE * x:.{digits}f}"


def mean_std_text(cell, digits: int = 1) -> str:
    """A (mean, std, n) aggregate as '85.0 ± 5.0' (one value: '85.0'; none: '-')."""
    mean, std, n = cell
    if n == 0:
        return "-"
    return points(mean, digits) + (f" ± {points(std, digits)}" if n > 1 else "")


def in_points(frame, columns):
    """A copy of `frame` with the score columns x100 and renamed 'name (x100)'."""
    cols = [c for c in columns if c in frame.columns]
    out = frame.copy()
    out[cols] = out[cols] * SCALE
    return out.rename(columns={c: f"{c} ({UNIT})" for c in cols})
