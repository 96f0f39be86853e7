"""The report's first section: what the study ran (models, conditions, tasks, seeds, runs, training
settings) and how checkpoints were chosen, read from the `runs` table."""

from __future__ import annotations

import pandas as pd

from xlt.analysis.condition import FIELDS, Condition
from xlt.report.protocols import PROTOCOLS_NOTE
from xlt.analysis.stats import mean_std
from xlt.analysis.units import UNIT, points
from xlt.report.document import Block, Bullets, Heading, Para, Table

# training settings worth a reader's attention, in this order (the full config is in the runs table)
TRAIN_KEYS = ("epochs", "max_steps", "batch_size", "grad_accum", "lr", "head_lr", "warmup_ratio", "max_length",
              "pooling", "freeze_embeddings", "precision")


def _train_settings(config) -> str:
    train = ((config if isinstance(config, dict) else {}).get("run") or {}).get("train") or {}
    return ", ".join(f"{k} {train[k]}" for k in TRAIN_KEYS if k in train and train[k] not in (0, None, ""))


def _mean(values: pd.Series) -> float:
    return mean_std(values.dropna()).mean  # NaN for a retrieval run's missing dev score


def summary_blocks(study: str, runs: pd.DataFrame, analyses) -> list[Block]:
    """The study summary from `Store.runs_frame` (missing values are NaN there)."""
    done = runs[runs["status"] == "done"]
    other = runs.loc[runs["status"] != "done", "status"].value_counts()
    sources = {ta.task: ta.source for ta in analyses}
    n_langs = {ta.task: len(ta.tables[0].languages) for ta in analyses if ta.tables}
    models = sorted(set(zip(done["model"], done["model_revision"].fillna(""))))
    versions = sorted(set(done["xlt_version"].fillna("?")))
    status = f"{len(done)} finished run(s)" + "".join(f", {n} {s} (not reported)" for s, n in sorted(other.items()))
    out: list[Block] = [
        Heading(2, "Study summary", "summary"),
        Para(f"Study {study}: {status}; xlt {', '.join(versions)}."),
        Bullets([
            "Models: " + ", ".join(f"{m} (revision {rev})" if rev else m for m, rev in models),
            "Methods: " + ", ".join(sorted(set(done["method"]))),
            "Intermediate conditions: " + ", ".join(sorted(set(done["intermediate"]))),
            "Tasks: " + "; ".join(f"{t} (version {v or '?'}, source {sources.get(t, '?')}, "
                                  f"{n_langs.get(t, 0)} evaluated languages)"
                                  for t, v in sorted(set(zip(done["task"], done["task_version"].fillna("?"))))),
            "Seeds: " + ", ".join(str(s) for s in sorted(set(done["seed"]))),
        ]),
        Para("Zero-shot protocol: every run is fine-tuned on the source language (English) only, and its "
             "checkpoint is the one with the best source-language dev score (no target-language data is used "
             "for training or for model selection). Retrieval tasks use the pretrained encoder without "
             "fine-tuning (no dev score)." if set(done["protocol"]) <= {"zero-shot"} else PROTOCOLS_NOTE),
    ]
    rows = []
    for (*cond, task), g in done.groupby([*FIELDS, "task"], sort=True):
        steps = sorted({int(s) for s in g["best_step"].dropna()})
        rows.append([Condition(*cond).label, task, ", ".join(str(s) for s in sorted(g["seed"])),
                     points(_mean(g["dev_score"])), ", ".join(map(str, steps)) or "-",
                     f"{_mean(g['train_seconds']):.0f}", f"{_mean(g['eval_seconds']):.0f}"])
    out.append(Table(f"Runs per condition (model / method / intermediate) and task: seeds, best source-language dev "
                     f"score ({UNIT}, mean over seeds) and the step it was reached at (the selected checkpoint), "
                     "seconds per run.",
                     ["condition", "task", "seeds", "source dev", "best step", "train s", "eval s"], rows, left=2))
    settings = sorted({(Condition(*c).label, _train_settings(cfg))
                       for *c, cfg in done[[*FIELDS, "config"]].itertuples(index=False) if _train_settings(cfg)})
    if settings:
        same = len({s for _, s in settings}) == 1
        out.append(Para("Training settings: " + (settings[0][1] if same else
                                                 "; ".join(f"{c}: {s}" for c, s in settings)) + "."))
    return out
