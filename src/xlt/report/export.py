"""`xlt export`: a run's test predictions in the XTREME leaderboard layout.

`<out>/<task>/test-<lang>.<ext>`, as google-research/xtreme's `evaluate.py` reads them:
- classification and multiple choice (.tsv): one predicted label per line, in test order;
- tagging (.tsv): one tag per token per line, a blank line after each sentence;
- QA (.json): {question id: answer text};
- Tatoeba (.tsv): for each English sentence, the index of the retrieved sentence (official en -> xx);
- LAReQA, Mewsli-X (.json): {query id: top-20 candidate ids, best first}.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from xlt.errors import XltError
from xlt.tasks.spec import TaskType

if TYPE_CHECKING:
    from xlt.store.db import Store


def _pick_runs(store: Store, study: str, model: str, seed: int | None) -> list[dict]:
    """Per task, the finished plain fine-tuning run of `model` with `seed` (default: its lowest seed)."""
    all_runs = store.runs_frame(study)
    runs = all_runs[(all_runs["status"] == "done") & (all_runs["model"] == model)
                    & (all_runs["method"] == "finetune") & (all_runs["intermediate"] == "none")
                    & (all_runs["protocol"] == "zero-shot")]
    if runs.empty:
        models = sorted(set(all_runs["model"]))
        raise XltError(f"no finished runs of model {model!r} in study {study!r} (models: {', '.join(models) or '-'})")
    if seed is not None:
        runs = runs[runs["seed"] == seed]
    if runs.empty:
        raise XltError(f"model {model!r} has no run with seed {seed} in study {study!r}")
    return runs.sort_values("seed", kind="stable").drop_duplicates("task").to_dict("records")


def export(store: Store, study: str, model: str, out: Path, seed: int | None = None) -> dict[str, list[str]]:
    """Write the files; returns {task: [written paths]} (empty list = skipped)."""
    from xlt.tasks import get_task
    from xlt.tasks.generic import register_stored

    written = {}
    picked = _pick_runs(store, study, model, seed)
    register_stored(run["config"] for run in picked)  # tasks declared in the study file
    for run in picked:
        spec = get_task(run["task"]).spec
        preds = store.predictions(run["run_id"])
        written[run["task"]] = []
        if not preds:
            continue
        for lang, values in sorted(preds.items()):
            ext = "json" if isinstance(values, dict) else "tsv"
            path = out / spec.name / f"test-{lang}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_render(spec.type, values), encoding="utf-8")
            written[run["task"]].append(str(path))
    return written


def _render(kind: TaskType, values) -> str:
    if isinstance(values, dict):  # QA answers, retrieval rankings
        return json.dumps(values, ensure_ascii=False, indent=0)
    if kind == TaskType.TAGGING:
        return "".join("\n".join(tags) + "\n\n" for tags in values)
    return "".join(f"{v}\n" for v in values)
