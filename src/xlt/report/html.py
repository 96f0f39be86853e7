"""report.html: one self-contained page (inline CSS, inline SVG figures, no scripts, no external URLs)."""

from __future__ import annotations

from html import escape

from xlt.report.document import Block, Bullets, Figure, Heading, Para, Table

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.7em;border-bottom:2px solid #333}h2{margin-top:2em;border-bottom:1px solid #ccc}h3{margin-top:1.5em}
nav{font-size:.9em;background:#f3f3f3;padding:.4em 1em;border-radius:4px}nav a{margin-right:1em}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.86em;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-size:.95em;color:#444;padding-bottom:.4em;max-width:60em}
th,td{padding:.18em .7em;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}
th{border-bottom:2px solid #555;background:#fff;position:sticky;top:0}
th.l,td.l{text-align:left}
tr.strong td{font-weight:600;background:#f5f7fb}tr.rule td{border-bottom:2px solid #999}
.scroll{max-height:36em;overflow:auto;border:1px solid #ddd;margin-bottom:1.4em}
.scroll table{margin:0}
figure.plot{margin:1em 0 2em}figure.plot svg{max-width:100%;height:auto;display:block}
figcaption{font-size:.9em;color:#444;max-width:60em}
p.small{font-size:.85em;color:#555}
"""

LONG_TABLE = 30  # rows: longer tables scroll inside a box


def _table(t: Table) -> str:
    align = lambda j: ' class="l"' if j < t.left else ""
    head = "".join(f"<th{align(j)}>{escape(h)}</th>" for j, h in enumerate(t.header))
    rows = []
    for i, row in enumerate(t.rows):
        cls = " ".join(c for c, on in (("strong", i in t.strong_rows), ("rule", i in t.rules_after)) if on)
        cells = "".join(f"<td{align(j)}>{escape(c)}</td>" for j, c in enumerate(row))
        rows.append(f'<tr class="{cls}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    html = (f"<table><caption>{escape(t.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")
    return f'<div class="scroll">{html}</div>' if len(t.rows) > LONG_TABLE else html


def render(blocks: list[Block], title: str) -> str:
    body, n_fig = [], 0
    toc = [f'<a href="#{b.anchor}">{escape(b.text)}</a>' for b in blocks if isinstance(b, Heading) and b.anchor]
    for b in blocks:
        if isinstance(b, Heading):
            anchor = f' id="{escape(b.anchor)}"' if b.anchor else ""
            body.append(f"<h{b.level}{anchor}>{escape(b.text)}</h{b.level}>")
            if b.level == 1 and toc:
                body.append(f"<nav>{''.join(toc)}</nav>")
        elif isinstance(b, Para):
            body.append(f'<p class="small">{escape(b.text)}</p>' if b.small else f"<p>{escape(b.text)}</p>")
        elif isinstance(b, Bullets):
            body.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in b.items) + "</ul>")
        elif isinstance(b, Table):
            body.append(_table(b))
        elif isinstance(b, Figure):
            n_fig += 1
            body.append(f'<figure class="plot" id="fig-{escape(b.key)}">{b.svg}<figcaption><b>Figure {n_fig}. '
                        f"{escape(b.title)}.</b> {escape(b.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body><main>\n" + "\n".join(body) + "\n</main></body></html>\n")
