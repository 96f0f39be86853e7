"""Per-language result tables: mean +- std over seeds, both averages and the transfer gap.

Naming follows XTREME: `avg_incl_src` is the unweighted mean over all evaluated languages including
the English source (the XTREME convention), `avg_excl_src` excludes it, and
`transfer_gap = source - avg_excl_src` (computed per seed, then averaged).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

SUMMARY_ROWS = {
    "avg_incl_src": "avg (incl. {src})",
    "avg_excl_src": "avg (excl. {src})",
    "transfer_gap": "transfer gap ({src} - avg excl.)",
}


@dataclass
class Condition:
    model: str
    method: str
    intermediate: str

    @property
    def label(self) -> str:
        extra = [x for x in (self.method if self.method != "finetune" else "",
                             self.intermediate if self.intermediate != "none" else "") if x]
        return self.model + (f" [{', '.join(extra)}]" if extra else "")


@dataclass
class TaskTable:
    task: str
    metric: str
    source: str
    languages: list[str]
    conditions: list[Condition]
    cells: dict  # (condition index, row key) -> (mean, std, n_seeds)


def _source_language(task: str) -> str:
    from xlt.tasks.base import _REGISTRY

    cls = _REGISTRY.get(task)
    return cls.spec.source_language if cls else "en"


def build_tables(rows: list[dict]) -> list[TaskTable]:
    """Group long score rows (one per run/language/metric) into one table per task and metric."""
    by_task = defaultdict(list)
    for r in rows:
        by_task[(r["task"], r["metric"])].append(r)
    tables = []
    for (task, metric), items in sorted(by_task.items()):
        source = _source_language(task)
        conds = sorted({(r["model"], r["method"], r["intermediate"]) for r in items})
        langs = sorted({r["language"] for r in items}, key=lambda l: (l != source, l))
        # seed -> language -> value, per condition
        values = defaultdict(lambda: defaultdict(dict))
        for r in items:
            values[(r["model"], r["method"], r["intermediate"])][r["seed"]][r["language"]] = r["value"]
        cells = {}
        for ci, cond in enumerate(conds):
            per_seed = values[cond]
            for lang in langs:
                cells[(ci, lang)] = _agg([s[lang] for s in per_seed.values() if lang in s])
            summaries = defaultdict(list)
            for scores in per_seed.values():
                others = [v for l, v in scores.items() if l != source]
                summaries["avg_incl_src"].append(float(np.mean(list(scores.values()))))
                if others:
                    summaries["avg_excl_src"].append(float(np.mean(others)))
                    if source in scores:
                        summaries["transfer_gap"].append(scores[source] - float(np.mean(others)))
            for key in SUMMARY_ROWS:
                cells[(ci, key)] = _agg(summaries.get(key, []))
        tables.append(TaskTable(task, metric, source, langs, [Condition(*c) for c in conds], cells))
    return tables


def _agg(xs: list[float]) -> tuple[float, float, int]:
    if not xs:
        return (float("nan"), float("nan"), 0)
    return (float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, len(xs))


def _fmt(cell, scale: float = 100.0) -> str:
    mean, std, n = cell
    if n == 0:
        return "-"
    return f"{mean * scale:.1f}" + (f" ± {std * scale:.1f}" if n > 1 else "")


def _grid(t: TaskTable) -> tuple[list[str], list[list[str]]]:
    header = ["language"] + [c.label for c in t.conditions]
    body = [[lang] + [_fmt(t.cells[(i, lang)]) for i in range(len(t.conditions))] for lang in t.languages]
    for key, label in SUMMARY_ROWS.items():
        body.append([label.format(src=t.source)]
                    + [_fmt(t.cells[(i, key)]) for i in range(len(t.conditions))])
    body.append(["seeds"] + [str(t.cells[(i, "avg_incl_src")][2]) for i in range(len(t.conditions))])
    return header, body


def to_text(tables: list[TaskTable]) -> str:
    out = []
    for t in tables:
        header, body = _grid(t)
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        out.append(f"{t.task} — {t.metric} (x100, mean ± std over seeds; zero-shot from {t.source})")
        out.append(line(header))
        out.append("  ".join("-" * w for w in widths))
        n_lang = len(t.languages)
        out += [line(r) for r in body[:n_lang]]
        out.append("  ".join("-" * w for w in widths))
        out += [line(r) for r in body[n_lang:]]
        out.append("")
    return "\n".join(out)


def to_markdown(tables: list[TaskTable]) -> str:
    out = []
    for t in tables:
        header, body = _grid(t)
        out.append(f"### {t.task} — {t.metric}\n")
        out.append(f"Scores x100, mean ± std over seeds. Fine-tuned on {t.source} only; checkpoint selected "
                   f"on {t.source} dev (zero-shot for every other language).\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for r in body:
            bold = r[0].startswith(("avg (", "transfer gap ("))
            out.append("| " + " | ".join(f"**{c}**" if bold and c != "-" else c for c in r) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(tables: list[TaskTable]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["task", "metric", "model", "method", "intermediate", "row_type", "language", "mean", "std", "n_seeds"])
    for t in tables:
        for i, c in enumerate(t.conditions):
            for lang in t.languages:
                w.writerow([t.task, t.metric, c.model, c.method, c.intermediate, "language", lang, *t.cells[(i, lang)]])
            for key in SUMMARY_ROWS:
                w.writerow([t.task, t.metric, c.model, c.method, c.intermediate, "summary", key, *t.cells[(i, key)]])
    return buf.getvalue()
