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
import pandas as pd

from xlt.analysis.condition import FIELDS, Condition
from xlt.analysis.stats import MeanStd, mean_std
from xlt.analysis.units import SCALE, UNIT, mean_std_text

SUMMARY_ROWS = {
    "avg_incl_src": "avg (incl. {src})",
    "avg_excl_src": "avg (excl. {src})",
    "transfer_gap": "transfer gap ({src} - avg excl.)",
}


@dataclass
class TaskTable:
    task: str
    metric: str
    source: str
    languages: list[str]
    conditions: list[Condition]
    cells: dict[tuple[int, str], MeanStd]  # (condition index, language or summary key) -> over seeds


def source_language(task: str) -> str:
    """The task's training language from the registry; "en" for a task it does not know."""
    from xlt.tasks import find_spec

    spec = find_spec(task)
    return spec.source_language if spec else "en"


def build_tables(scores: pd.DataFrame) -> list[TaskTable]:
    """Group long scores (`Store.scores_frame`: one row per run/language/metric) into one table per task
    and metric."""
    by_task = defaultdict(list)
    for r in scores.to_dict("records"):
        by_task[(r["task"], r["metric"])].append(r)
    tables = []
    for (task, metric), items in sorted(by_task.items()):
        source = source_language(task)
        conds = sorted({Condition(*(r[f] for f in FIELDS)) for r in items})
        langs = sorted({r["language"] for r in items}, key=lambda l: (l != source, l))
        # seed -> language -> value, per condition
        values = defaultdict(lambda: defaultdict(dict))
        for r in items:
            values[Condition(*(r[f] for f in FIELDS))][r["seed"]][r["language"]] = r["value"]
        cells = {}
        for ci, cond in enumerate(conds):
            per_seed = values[cond]
            for lang in langs:
                cells[(ci, lang)] = mean_std(s[lang] for s in per_seed.values() if lang in s)
            summaries = defaultdict(list)
            for by_lang in per_seed.values():
                others = [v for l, v in by_lang.items() if l != source]
                summaries["avg_incl_src"].append(float(np.mean(list(by_lang.values()))))
                if others:
                    summaries["avg_excl_src"].append(float(np.mean(others)))
                    if source in by_lang:
                        summaries["transfer_gap"].append(by_lang[source] - float(np.mean(others)))
            for key in SUMMARY_ROWS:
                cells[(ci, key)] = mean_std(summaries.get(key, []))
        tables.append(TaskTable(task, metric, source, langs, conds, cells))
    return tables


def grid(t: TaskTable) -> tuple[list[str], list[list[str]]]:
    header = ["language"] + [c.label for c in t.conditions]
    body = [[lang] + [mean_std_text(t.cells[(i, lang)]) for i in range(len(t.conditions))] for lang in t.languages]
    for key, label in SUMMARY_ROWS.items():
        body.append([label.format(src=t.source)]
                    + [mean_std_text(t.cells[(i, key)]) for i in range(len(t.conditions))])
    body.append(["seeds"] + [str(t.cells[(i, "avg_incl_src")].n) for i in range(len(t.conditions))])
    return header, body


def to_text(tables: list[TaskTable]) -> str:
    out = []
    for t in tables:
        header, body = grid(t)
        widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
        line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
        out.append(f"{t.task} — {t.metric} ({UNIT}, mean ± std over seeds; zero-shot from {t.source})")
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
        header, body = grid(t)
        out.append(f"### {t.task} — {t.metric}\n")
        out.append(f"Scores {UNIT}, mean ± std over seeds. Fine-tuned on {t.source} only; checkpoint selected "
                   f"on {t.source} dev (zero-shot for every other language).\n")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
        for r in body:
            bold = r[0].startswith(("avg (", "transfer gap ("))
            out.append("| " + " | ".join(f"**{c}**" if bold and c != "-" else c for c in r) + " |")
        out.append("")
    return "\n".join(out)


def to_csv(tables: list[TaskTable]) -> str:
    """One row per condition x language or summary; mean and std in points (x100, as in the tables)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["task", "metric", *FIELDS, "row_type", "language", f"mean_{UNIT}",
                f"std_{UNIT}", "n_seeds"])
    for t in tables:
        for i, c in enumerate(t.conditions):
            for kind, keys in (("language", t.languages), ("summary", SUMMARY_ROWS)):
                for key in keys:
                    mean, std, n = t.cells[(i, key)]
                    w.writerow([t.task, t.metric, *c, kind, key, mean * SCALE, std * SCALE, n])
    return buf.getvalue()
