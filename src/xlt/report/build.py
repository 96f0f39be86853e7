"""`xlt report`: one study as report.md, report.tex and a self-contained report.html with plots.

    xlt report --study demo -o report/                  # every task, every condition
    xlt report --study cmp --compare mbert xlmr-base    # the paired comparison of two conditions

Per task this runs the analyses of `xlt.analysis` once (per-language table, family table, paired
comparisons, gap regression; the statistics live there, not here), turns them into format-neutral
blocks (sections.py, summary.py) and figures (plots.py), and renders the blocks three times
(markdown.py, latex.py, html.py). Figures are saved under OUTDIR/figures as .svg (Markdown, and
inlined into the HTML) and .pdf (LaTeX).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xlt.analysis.families import CONDITION, family_table, gap_regression, load_examples, paired_comparison
from xlt.analysis.results import TaskTable, _source_language, build_tables
from xlt.errors import XltError
from xlt.store.db import Store


@dataclass
class TaskAnalysis:
    task: str
    source: str
    tables: list[TaskTable]  # one per stored metric (results.build_tables)
    metric: str | None  # per-example metric of the family analyses; None = none possible
    conditions: list[tuple[str, str, str]]  # (model, method, intermediate) with per-example scores
    families: pd.DataFrame | None = None
    comparisons: list[tuple[tuple, tuple, pd.DataFrame]] = field(default_factory=list)  # (A, B, table)
    regression: dict | None = None
    notes: list[str] = field(default_factory=list)


def _main_metric(task: str) -> str | None:
    import xlt.tasks

    try:
        return xlt.tasks.get_task(task).spec.main_metric
    except Exception:  # a task stored by another xlt version: fall back to the stored metrics
        return None


def _pick_metric(store: Store, study: str, task: str, stored: list[str]) -> tuple[str | None, list, list[str]]:
    """The main metric if its per-example values are one number per example, else the first stored
    metric that has them. Returns (metric, conditions, notes)."""
    main = _main_metric(task)
    notes = []
    for metric in sorted(stored, key=lambda m: (m != main, m)):
        try:
            df = load_examples(store, study, task, metric)
        except XltError:
            continue
        if not all(np.ndim(v) == 1 for v in df["scores"]):
            notes.append(f"{task}: per-example {metric} values are counts (corpus-level F1), not one score per "
                         "example; the family bootstrap cannot use them")
            continue
        if main and metric != main:
            notes.append(f"{task}: family analysis on {metric} (no per-example {main} scores stored)")
        return metric, sorted(set(map(tuple, df[CONDITION].to_numpy()))), notes
    return None, [], notes + [f"{task}: no per-example scores stored; family analysis and comparisons skipped"]


def default_pairs(conditions) -> list[tuple[tuple, tuple]]:
    """Every pair of conditions that differ in exactly one of model / method / intermediate."""
    return [(a, b) for a, b in combinations(sorted(conditions), 2) if sum(x != y for x, y in zip(a, b)) == 1]


def parse_condition(text: str, conditions) -> dict:
    """A --compare argument: a model, method or intermediate name, or 'model/method/intermediate'."""
    t = text.strip()
    for i, dim in enumerate(CONDITION):
        if t in {c[i] for c in conditions}:
            return {dim: t}
    parts = tuple(p.strip() for p in t.rsplit("/", 2))
    if parts in set(conditions):
        return dict(zip(CONDITION, parts))
    shown = "; ".join("/".join(c) for c in sorted(conditions))
    raise XltError(f"--compare {text!r} is not a model, method, intermediate or model/method/intermediate "
                   f"of this study (conditions: {shown})")


def _resolve(spec: dict, conditions, task: str) -> tuple | None:
    """The one condition of the task that `spec` names; None if the task has none."""
    found = [c for c in conditions if all(spec.get(d) in (None, v) for d, v in zip(CONDITION, c))]
    if len(found) > 1:
        raise XltError(f"--compare {'/'.join(spec.values())} matches several conditions in {task}: "
                       + "; ".join("/".join(c) for c in found) + " (give model/method/intermediate)")
    return found[0] if found else None


def analyse_task(store: Store, study: str, task: str, rows: list[dict], compare: tuple[dict, dict] | None,
                 n_boot: int) -> TaskAnalysis:
    """All analyses of one task; warnings of the analysis functions become the task's notes."""
    source = _source_language(task)
    metric, conds, notes = _pick_metric(store, study, task, sorted({r["metric"] for r in rows}))
    ta = TaskAnalysis(task, source, build_tables(rows), metric, conds, notes=notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if metric:
            ta.families = family_table(store, study, task, metric, n_boot=n_boot)
            pairs = default_pairs(conds) if compare is None else [compare]
            for a, b in pairs:
                a, b = (x if isinstance(x, dict) else dict(zip(CONDITION, x)) for x in (a, b))
                ka, kb = _resolve(a, conds, task), _resolve(b, conds, task)
                if ka is None or kb is None:
                    ta.notes.append(f"{task}: no per-example scores for both {a} and {b}; comparison skipped")
                    continue
                table = paired_comparison(store, study, a, b, task=task, metric=metric, n_boot=n_boot,
                                          n_perm=n_boot)
                if len(table):
                    ta.comparisons.append((ka, kb, table))
        try:
            ta.regression = gap_regression(store, study, task, metric or _main_metric(task) or rows[0]["metric"])
        except XltError as exc:
            ta.notes.append(f"{task}: gap regression skipped: {exc}")
    ta.notes += sorted({f"{task}: {w.message}" for w in caught})
    return ta


def analyse(store: Store, study: str, task: str | None = None, compare: tuple[str, str] | None = None,
            n_boot: int = 2000, progress: bool = True) -> tuple[list[dict], list[dict], list[TaskAnalysis]]:
    """(the study's runs, its test score rows, one TaskAnalysis per task); one XltError if there is
    nothing to report."""
    runs = store.runs(study=study)
    if not runs:
        studies = sorted({r["study"] for r in store.runs()})
        raise XltError(f"study {study!r} is not in {store.url} (studies: {', '.join(studies) or 'none'})")
    rows = store.score_rows(study=study, task=task)
    if not rows:
        raise XltError(f"study {study!r}{f' task {task!r}' if task else ''}: no finished runs with test scores")
    if n_boot < 100:
        raise XltError(f"--n-boot {n_boot} is too small for 95 % percentile intervals (use >= 100)")
    spec = None
    if compare:
        conds = {(r["model"], r["method"], r["intermediate"]) for r in rows}
        spec = tuple(parse_condition(c, conds) for c in compare)
    tasks = sorted({r["task"] for r in rows})
    out = [analyse_task(store, study, t, [r for r in rows if r["task"] == t], spec, n_boot)
           for t in tqdm(tasks, desc="report: analyses", unit="task", disable=not progress)]
    if compare and not any(ta.comparisons for ta in out):
        raise XltError(f"--compare {compare[0]} {compare[1]}: no task has per-example scores for both")
    return [r for r in runs if task is None or r["task"] == task], rows, out


def _svg_inline(path: Path, prefix: str) -> str:
    """The <svg> element of a saved figure, with ids prefixed so several figures share one page."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)  # RDF namespace URLs
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    return re.sub(r'(url\(#|href="#)', rf"\g<1>{prefix}-", text)


def write_report(store: Store, study: str, outdir: Path, task: str | None = None,
                 compare: tuple[str, str] | None = None, n_boot: int = 2000, progress: bool = True) -> dict[str, Path]:
    """Write report.md, report.tex, report.html and figures/ under outdir; returns {format: path}."""
    from xlt.report import html, latex, markdown, plots
    from xlt.report.document import Figure
    from xlt.report.sections import report_blocks

    runs, rows, analyses = analyse(store, study, task, compare, n_boot, progress)
    blocks = report_blocks(study, runs, rows, analyses, n_boot)
    outdir = Path(outdir)
    (outdir / "figures").mkdir(parents=True, exist_ok=True)
    figures = [b for b in blocks if isinstance(b, Figure)]
    for i, fig in enumerate(tqdm(figures, desc="report: figures", unit="fig", disable=not progress)):
        svg = outdir / "figures" / f"{fig.key}.svg"
        plots.save(fig.plot, svg, outdir / "figures" / f"{fig.key}.pdf")
        fig.svg, fig.plot = _svg_inline(svg, f"f{i}"), None
    paths = {"md": outdir / "report.md", "tex": outdir / "report.tex", "html": outdir / "report.html"}
    paths["md"].write_text(markdown.render(blocks), encoding="utf-8")
    paths["tex"].write_text(latex.render(blocks), encoding="utf-8")
    paths["html"].write_text(html.render(blocks, title=f"xlt report: study {study}"), encoding="utf-8")
    return paths
