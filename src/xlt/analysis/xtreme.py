"""XTREME-R aggregation: task scores, category scores and the overall score.

As the official leaderboard computes them: a task's score is the unweighted mean over its evaluated
languages *including* English of its main metric (QA tasks: the mean of F1 and EM); a category's
score is the mean of its tasks' scores; the overall score is the mean over all ten tasks and is only
reported when every XTREME-R task is present. Computed per seed, then mean ± std over seeds.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

CATEGORIES = ("classification", "structured prediction", "question answering", "retrieval")


def _task_specs() -> dict:
    from xlt.tasks import all_specs

    return {s.name: s for s in all_specs()}


def _task_metrics(spec) -> tuple[str, ...]:
    """The metrics averaged into the task score: F1 and EM for QA, else the main metric."""
    if spec.category == "question answering":
        return tuple(m for m in spec.metrics if m.endswith(("_f1", "_em")))
    return (spec.main_metric,)


def summarize(rows: list[dict]) -> list[dict]:
    """One dict per condition: task scores, category scores, overall (None unless all ten tasks)."""
    specs = _task_specs()
    xtreme = {n: s for n, s in specs.items() if s.category in CATEGORIES}
    per = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: defaultdict(list))))
    for r in rows:
        spec = xtreme.get(r["task"])
        if spec and r["metric"] in _task_metrics(spec):
            cond = (r["model"], r["method"], r["intermediate"])
            per[cond][r["seed"]][r["task"]][r["language"]].append(r["value"])
    out = []
    for cond, seeds in sorted(per.items()):
        task_scores, cat_scores, overall = defaultdict(list), defaultdict(list), []
        for by_task in seeds.values():
            # per language: mean of the task's metrics (F1/EM), then the mean over languages
            scores = {t: float(np.mean([np.mean(v) for v in langs.values()])) for t, langs in by_task.items()}
            for t, v in scores.items():
                task_scores[t].append(v)
            for cat in CATEGORIES:
                members = [scores[t] for t in scores if xtreme[t].category == cat]
                if members:
                    cat_scores[cat].append(float(np.mean(members)))
            if set(scores) == set(xtreme):
                overall.append(float(np.mean(list(scores.values()))))
        out.append({
            "model": cond[0], "method": cond[1], "intermediate": cond[2],
            "tasks": {t: _mean_std(v) for t, v in sorted(task_scores.items())},
            "categories": {c: _mean_std(v) for c, v in cat_scores.items()},
            "overall": _mean_std(overall) if overall else None,
        })
    return out


def _mean_std(xs: list[float]) -> tuple[float, float, int]:
    return float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, len(xs)


def to_text(summary: list[dict]) -> str:
    if not summary:
        return ""
    lines = ["XTREME-R scores (x100; task = mean over languages incl. en, QA = (F1 + EM) / 2)"]
    for s in summary:
        label = s["model"] + ("" if (s["method"], s["intermediate"]) == ("finetune", "none")
                              else f" [{s['method']}, {s['intermediate']}]")
        fmt = lambda c: f"{c[0] * 100:.1f}" + (f" ± {c[1] * 100:.1f}" if c[2] > 1 else "")
        tasks = ", ".join(f"{t} {fmt(v)}" for t, v in s["tasks"].items())
        cats = ", ".join(f"{c} {fmt(v)}" for c, v in s["categories"].items())
        overall = fmt(s["overall"]) if s["overall"] else f"n/a ({len(s['tasks'])} of 10 tasks)"
        lines += [f"{label}:", f"  tasks:      {tasks}", f"  categories: {cats}", f"  overall:    {overall}"]
    return "\n".join(lines) + "\n"
