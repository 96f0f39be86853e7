"""report.md: GitHub-flavoured Markdown; figures are linked from figures/*.svg beside the file."""

from __future__ import annotations

from xlt.report.document import Block, Bullets, Figure, Heading, Para, Table


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(t: Table) -> list[str]:
    out = [f"*{_cell(t.caption)}*", "", "| " + " | ".join(map(_cell, t.header)) + " |",
           "|" + "|".join([":---"] * t.left + ["---:"] * (len(t.header) - t.left)) + "|"]
    for i, row in enumerate(t.rows):
        cells = [_cell(c) for c in row]
        if i in t.strong_rows:
            cells = [f"**{c}**" if c and c != "-" else c for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    return out + [""]


def render(blocks: list[Block]) -> str:
    out, n_fig = [], 0
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items] + [""]
        elif isinstance(b, Table):
            out += _table(b)
        elif isinstance(b, Figure):
            n_fig += 1
            out += [f"![{b.title}](figures/{b.key}.svg)", "", f"*Figure {n_fig}. {b.title}.* {b.caption}", ""]
    return "\n".join(out)
