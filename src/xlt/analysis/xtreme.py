"""XTREME-R aggregation: task scores, category scores and the overall score.

As the official leaderboard computes them: a task's score is the unweighted mean over its evaluated
languages *including* English of its main metric (QA tasks: the mean of F1 and EM); a category's
score is the mean of its tasks' scores; the overall score is the mean over all ten tasks and is only
reported when every XTREME-R task is present. Computed per seed, then mean ± std over seeds.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from xlt.analysis.condition import FIELDS, Condition
from xlt.analysis.stats import mean_std
from xlt.analysis.units import UNIT, mean_std_text

CATEGORIES = ("classification", "structured prediction", "question answering", "retrieval")


def _task_specs() -> dict:
    from xlt.tasks import all_specs

    return {s.name: s for s in all_specs()}


def _task_metrics(spec) -> tuple[str, ...]:
    """The metrics averaged into the task score: F1 and EM for QA, else the main metric."""
    if spec.category == "question answering":
        return tuple(m for m in spec.metrics if m.endswith(("_f1", "_em")))
    return (spec.main_metric,)


def summarize(scores: pd.DataFrame) -> list[dict]:
    """One dict per condition (`Store.scores_frame` rows): "condition", task scores, category scores,
    overall (None unless all ten tasks); each a (mean, std, n) over seeds."""
    specs = _task_specs()
    xtreme = {n: s for n, s in specs.items() if s.category in CATEGORIES}
    per = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for r in scores.to_dict("records"):
        spec = xtreme.get(r["task"])
        # XTREME-R averages cover its own languages only (a task may evaluate more of its released ones)
        if spec and r["metric"] in _task_metrics(spec) and r["language"] in (*spec.languages, spec.source_language):
            cond = Condition(*(r[f] for f in FIELDS))
            per[cond][r["seed"]][r["task"]][r["language"]].append(r["value"])
    out = []
    for cond, seeds in sorted(per.items()):
        task_scores, cat_scores, overall = defaultdict(list), defaultdict(list), []
        for by_task in seeds.values():
            # per language: mean of the task's metrics (F1/EM), then the mean over languages
            score = {t: float(np.mean([np.mean(v) for v in langs.values()])) for t, langs in by_task.items()}
            for t, v in score.items():
                task_scores[t].append(v)
            for cat in CATEGORIES:
                members = [score[t] for t in score if xtreme[t].category == cat]
                if members:
                    cat_scores[cat].append(float(np.mean(members)))
            if set(score) == set(xtreme):
                overall.append(float(np.mean(list(score.values()))))
        out.append({
            "condition": cond,
            "tasks": {t: mean_std(v) for t, v in sorted(task_scores.items())},
            "categories": {c: mean_std(v) for c, v in cat_scores.items()},
            "overall": mean_std(overall) if overall else None,
        })
    return out


def to_text(summary: list[dict]) -> str:
    if not summary:
        return ""
    lines = [f"XTREME-R scores ({UNIT}, mean ± std over seeds; task = mean over languages incl. en, "
             "QA = (F1 + EM) / 2)"]
    for s in summary:
        tasks = ", ".join(f"{t} {mean_std_text(v)}" for t, v in s["tasks"].items())
        cats = ", ".join(f"{c} {mean_std_text(v)}" for c, v in s["categories"].items())
        overall = mean_std_text(s["overall"]) if s["overall"] else f"n/a ({len(s['tasks'])} of 10 tasks)"
        lines += [f"{s['condition'].label}:", f"  tasks:      {tasks}", f"  categories: {cats}",
                  f"  overall:    {overall}"]
    return "\n".join(lines) + "\n"
