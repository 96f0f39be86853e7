"""`xlt report`: one study as report.md, report.tex and a self-contained report.html with plots.

    xlt report --study demo -o report/                  # every task, every condition
    xlt report --study cmp --compare mbert xlmr-base    # the paired comparison of two conditions

Data flow: the store's public read API gives DataFrames (the runs, the test scores, and per task its
per-example scores, each read once); the pure functions of `xlt.analysis` run on them once per task
(per-language table, family table, paired comparisons, gap regression; the statistics live there,
not here); this package never opens the database. The results are turned into format-neutral
blocks (sections.py, summary.py) and figures (plots.py), and renders the blocks three times
(markdown.py, latex.py, html.py). Figures are saved under OUTDIR/figures as .svg (Markdown, and
inlined into the HTML) and .pdf (LaTeX).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from xlt.analysis.condition import Condition, conditions_of, default_pairs, parse_condition, resolve
from xlt.analysis.families import examples_for, family_table, gap_regression, grouping, paired_comparison
from xlt.analysis.results import TaskTable, build_tables, source_language
from xlt.errors import XltError
from xlt.report.regression import add_typology
from xlt.tasks.generic import register_stored

if TYPE_CHECKING:
    from xlt.store.db import Store


@dataclass
class TaskAnalysis:
    task: str
    source: str
    tables: list[TaskTable]  # one per stored metric (results.build_tables)
    metric: str | None  # per-example metric of the family analyses; None = none possible
    conditions: list[Condition]  # those with per-example scores
    families: pd.DataFrame | None = None
    comparisons: list[tuple[Condition, Condition, pd.DataFrame]] = field(default_factory=list)  # (A, B, table)
    regression: dict | None = None
    notes: list[str] = field(default_factory=list)
    groupings: list = field(default_factory=list)  # (grouping, table, comparisons) beyond the first (report.regression)
    interactions: list = field(default_factory=list)  # interaction regressions per comparison (report.regression)


def _main_metric(task: str) -> str | None:
    from xlt.tasks import find_spec

    spec = find_spec(task)  # None: a task stored by another xlt version; fall back to the stored metrics
    return spec.main_metric if spec else None


def pick_metric(examples: pd.DataFrame, task: str, stored: list[str]) -> tuple[str | None, pd.DataFrame | None,
                                                                                  list[str]]:
    """The main metric if its per-example values are one number per example, else the first stored
    metric that has them. Returns (metric, its per-example rows, notes)."""
    main = _main_metric(task)
    notes = []
    for metric in sorted(stored, key=lambda m: (m != main, m)):
        values = examples.loc[examples["metric"] == metric, "scores"]
        if values.empty:
            continue
        try:  # one conversion per value, kept for the analyses
            ex = examples_for(examples, metric)
        except XltError:
            notes.append(f"{task}: per-example {metric} values are neither scores nor per-sentence counts of a "
                         "ratio; the family bootstrap cannot use them")
            continue
        if np.ndim(values.iloc[0]) == 2:  # a metric's values share one layout
            notes.append(f"{task}: {metric} is a corpus-level ratio stored as per-sentence counts; the bootstrap and "
                         "the paired tests resample sentences through its delta-method linearisation (the means equal "
                         "the corpus scores)")
        if main and metric != main:
            notes.append(f"{task}: family analysis on {metric} (no per-example {main} scores stored)")
        return metric, ex, notes
    return None, None, notes + [f"{task}: no per-example scores stored; family analysis and comparisons skipped"]


def analyse_task(task: str, scores: pd.DataFrame, examples: pd.DataFrame, compare: tuple[dict, dict] | None,
                 n_boot: int, group_by: tuple[str, ...] = ("family",)) -> TaskAnalysis:
    """All analyses of one task from its score and per-example frames; warnings of the analysis
    functions become the task's notes."""
    metric, ex, notes = pick_metric(examples, task, sorted(scores["metric"].unique()))
    conds = conditions_of(ex) if ex is not None else []
    ta = TaskAnalysis(task, source_language(task), build_tables(scores), metric, conds, notes=notes)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if metric:
            ta.families = family_table(ex, metric, n_boot=n_boot, group_by=group_by[0])
            pairs = default_pairs(conds) if compare is None else [compare]
            for a, b in pairs:
                a, b = (x if isinstance(x, dict) else x._asdict() for x in (a, b))
                ka, kb = resolve(a, conds, task), resolve(b, conds, task)
                if ka is None or kb is None:
                    ta.notes.append(f"{task}: no per-example scores for both {a} and {b}; comparison skipped")
                    continue
                table = paired_comparison(ex, a, b, metric=metric, n_boot=n_boot, group_by=group_by[0])
                if len(table):
                    ta.comparisons.append((ka, kb, table))
            add_typology(ta, ex, group_by[1:], n_boot)
        try:
            ta.regression = gap_regression(scores, metric or _main_metric(task) or scores["metric"].iloc[0])
        except XltError as exc:
            ta.notes.append(f"{task}: gap regression skipped: {exc}")
    ta.notes += sorted({f"{task}: {w.message}" for w in caught})
    return ta


def analyse(store: Store, study: str, task: str | None = None, compare: tuple[str, str] | None = None,
            n_boot: int = 2000, progress: bool = True,
            group_by: tuple[str, ...] = ("family",)) -> tuple[pd.DataFrame, pd.DataFrame, list[TaskAnalysis]]:
    """(the study's runs, its test scores, one TaskAnalysis per task); one XltError if there is nothing to
    report. Reads the store once for the runs, once for the scores and once per task for the per-example
    scores (every metric in one query)."""
    runs = store.runs_frame(study)
    if runs.empty:
        raise XltError(f"study {study!r} is not in {store.url} (studies: {', '.join(store.studies()) or 'none'})")
    register_stored(runs["config"])  # tasks declared in the study file are known to this process too
    scores = store.scores_frame(study, task)
    if scores.empty:
        raise XltError(f"study {study!r}{f' task {task!r}' if task else ''}: no finished runs with test scores")
    if n_boot < 100:
        raise XltError(f"--n-boot {n_boot} is too small for 95 % percentile intervals (use >= 100)")
    spec = None
    if compare:
        conds = conditions_of(scores)
        spec = tuple(parse_condition(c, conds) for c in compare)
    for by in group_by:
        grouping(by)  # an unknown grouping is one line before any work
    out = [analyse_task(t, scores[scores["task"] == t], store.example_frame(study, t), spec, n_boot, tuple(group_by))
           for t in tqdm(sorted(scores["task"].unique()), desc="report: analyses", unit="task",
                         disable=not progress)]
    if compare and not any(ta.comparisons for ta in out):
        raise XltError(f"--compare {compare[0]} {compare[1]}: no task has per-example scores for both")
    return (runs if task is None else runs[runs["task"] == task]), scores, out


def _svg_inline(path: Path, prefix: str) -> str:
    """The <svg> element of a saved figure, with ids prefixed so several figures share one page."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)  # RDF namespace URLs
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    return re.sub(r'(url\(#|href="#)', rf"\g<1>{prefix}-", text)


def write_report(store: Store, study: str, outdir: Path, task: str | None = None,
                 compare: tuple[str, str] | None = None, n_boot: int = 2000, progress: bool = True,
                 group_by: tuple[str, ...] = ("family",)) -> dict[str, Path]:
    """Write report.md, report.tex, report.html and figures/ under outdir; returns {format: path}."""
    from xlt.report import html, latex, markdown, plots
    from xlt.report.curves import add_curves
    from xlt.report.document import Figure
    from xlt.report.sections import report_blocks

    runs, scores, analyses = analyse(store, study, task, compare, n_boot, progress, tuple(group_by))
    blocks = report_blocks(study, runs, scores, analyses, n_boot)
    blocks = add_curves(blocks, store.curves_frame(study, task))  # fine-tuning curves, one figure per task
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
