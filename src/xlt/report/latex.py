"""report.tex: a complete LaTeX document (pdflatex: article, booktabs, longtable, graphicx); figures
are included from figures/*.pdf beside it. Compile in OUTDIR: `pdflatex report.tex`.

Text is escaped for LaTeX; characters outside Latin-1 that pdflatex's T1/utf8 setup cannot typeset
are transliterated (N’Ko -> N'Ko, Māori -> Maori) so the document always compiles."""

from __future__ import annotations

import unicodedata

from xlt.report.document import Block, Bullets, Figure, Heading, Para, Table

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "²": r"\textsuperscript{2}",
            "·": r"$\cdot$", "’": "'", "‘": "`", "“": "``", "”": "''", "–": "--", "—": "---", "−": "--", "<": r"\textless{}",
            ">": r"\textgreater{}", "|": r"\textbar{}"}

PREAMBLE = r"""\documentclass[10pt]{article}
\usepackage[T1]{fontenc}
\usepackage[utf8]{inputenc}
\IfFileExists{lmodern.sty}{\usepackage{lmodern}}{}
\usepackage[margin=2cm]{geometry}
\usepackage{booktabs,longtable,graphicx,textcomp}
\usepackage[hidelinks]{hyperref}
\setlength{\LTcapwidth}{\linewidth}
\begin{document}
"""


def escape(text: str) -> str:
    """Plain text -> LaTeX source that typesets it literally."""
    out = []
    for ch in str(text):
        if ch in _SPECIAL:
            out.append(_SPECIAL[ch])
        elif ord(ch) < 256:
            out.append(ch)
        else:  # strip accents (ā -> a); drop what has no Latin-1 base
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 128)
            out.append(escape(base) if base else "?")
    return "".join(out)


def _table(t: Table) -> list[str]:
    cols = "l" * t.left + "r" * (len(t.header) - t.left)
    head = " & ".join(rf"\textbf{{{escape(h)}}}" for h in t.header) + r" \\"
    out = [r"\begingroup\small", rf"\begin{{longtable}}{{{cols}}}", rf"\caption{{{escape(t.caption)}}}\\", r"\toprule", head, r"\midrule",
           r"\endfirsthead", r"\toprule", head, r"\midrule", r"\endhead", r"\bottomrule", r"\endlastfoot"]
    for i, row in enumerate(t.rows):
        cells = [escape(c) for c in row]
        if i in t.strong_rows:
            cells = [rf"\textbf{{{c}}}" if c else c for c in cells]
        out.append(" & ".join(cells) + r" \\" + (r" \midrule" if i in t.rules_after else ""))
    return out + [r"\end{longtable}", r"\endgroup", ""]


def render(blocks: list[Block]) -> str:
    out = [PREAMBLE]
    for b in blocks:
        if isinstance(b, Heading):
            if b.level == 1:
                out += [rf"\title{{{escape(b.text)}}}", r"\date{}", r"\maketitle", ""]
            else:
                out += [(r"\section{" if b.level == 2 else r"\subsection{") + escape(b.text) + "}", ""]
        elif isinstance(b, Para):
            out += [(r"{\footnotesize " + escape(b.text) + "}") if b.small else escape(b.text), ""]
        elif isinstance(b, Bullets):
            out += [r"\begin{itemize}"] + [rf"\item {escape(i)}" for i in b.items] + [r"\end{itemize}", ""]
        elif isinstance(b, Table):
            out += _table(b)
        elif isinstance(b, Figure):
            out += [r"\begin{figure}[p]", r"\centering",
                    rf"\includegraphics[width=\linewidth,height=0.8\textheight,keepaspectratio]{{figures/{b.key}.pdf}}",
                    rf"\caption{{\textbf{{{escape(b.title)}.}} {escape(b.caption)}}}", r"\end{figure}", ""]
    return "\n".join(out + [r"\end{document}", ""])
