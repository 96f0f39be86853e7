"""The report's first section: what the study ran (models, conditions, tasks, seeds, runs, training
settings) and how checkpoints were chosen, read from the `runs` table."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from xlt.report.document import Block, Bullets, Heading, Para, Table, condition_label, pct

# training settings worth a reader's attention, in this order (the full config is in the runs table)
TRAIN_KEYS = ("epochs", "max_steps", "batch_size", "grad_accum", "lr", "head_lr", "warmup_ratio", "max_length",
              "pooling", "freeze_embeddings", "precision")


def _train_settings(run: dict) -> str:
    train = ((run.get("config") or {}).get("run") or {}).get("train") or {}
    return ", ".join(f"{k} {train[k]}" for k in TRAIN_KEYS if k in train and train[k] not in (0, None, ""))


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else float("nan")


def summary_blocks(study: str, runs: list[dict], analyses) -> list[Block]:
    done = [r for r in runs if r["status"] == "done"]
    other = Counter(r["status"] for r in runs if r["status"] != "done")
    sources = {ta.task: ta.source for ta in analyses}
    n_langs = {ta.task: len(ta.tables[0].languages) for ta in analyses if ta.tables}
    models = sorted({(r["model"], r["model_revision"] or "") for r in done})
    versions = sorted({r["xlt_version"] or "?" for r in done})
    status = f"{len(done)} finished run(s)" + "".join(f", {n} {s} (not reported)" for s, n in sorted(other.items()))
    out: list[Block] = [
        Heading(2, "Study summary", "summary"),
        Para(f"Study {study}: {status}; xlt {', '.join(versions)}."),
        Bullets([
            "Models: " + ", ".join(f"{m} (revision {rev})" if rev else m for m, rev in models),
            "Methods: " + ", ".join(sorted({r["method"] for r in done})),
            "Intermediate conditions: " + ", ".join(sorted({r["intermediate"] for r in done})),
            "Tasks: " + "; ".join(f"{t} (version {v or '?'}, source {sources.get(t, '?')}, "
                                  f"{n_langs.get(t, 0)} evaluated languages)"
                                  for t, v in sorted({(r["task"], r["task_version"]) for r in done})),
            "Seeds: " + ", ".join(str(s) for s in sorted({r["seed"] for r in done})),
        ]),
        Para("Zero-shot protocol: every run is fine-tuned on the source language (English) only, and its "
             "checkpoint is the one with the best source-language dev score (no target-language data is used "
             "for training or for model selection). Retrieval tasks use the pretrained encoder without "
             "fine-tuning (no dev score)."),
    ]
    groups = defaultdict(list)
    for r in done:
        groups[(r["model"], r["method"], r["intermediate"], r["task"])].append(r)
    rows = []
    for (*cond, task), rs in sorted(groups.items()):
        steps = sorted({r["best_step"] for r in rs if r["best_step"] is not None})
        rows.append([condition_label(*cond), task, ", ".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"])),
                     pct(_mean(r["dev_score"] for r in rs)), ", ".join(map(str, steps)) or "-",
                     f"{_mean(r['train_seconds'] for r in rs):.0f}", f"{_mean(r['eval_seconds'] for r in rs):.0f}"])
    out.append(Table("Runs per condition (model / method / intermediate) and task: seeds, best source-language dev "
                     "score (x100, mean over seeds) and the step it was reached at (the selected checkpoint), "
                     "seconds per run.",
                     ["condition", "task", "seeds", "source dev", "best step", "train s", "eval s"], rows, left=2))
    settings = sorted({(condition_label(r["model"], r["method"], r["intermediate"]), _train_settings(r))
                       for r in done if _train_settings(r)})
    if settings:
        same = len({s for _, s in settings}) == 1
        out.append(Para("Training settings: " + (settings[0][1] if same else
                                                 "; ".join(f"{c}: {s}" for c, s in settings)) + "."))
    return out
