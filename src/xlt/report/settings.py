"""The resolved training settings of a study's runs, per model x task: only what differs from the
`TrainSettings` defaults (the merged study / preset / model / task settings, precision as it ran).
`xlt study --dry-run` prints the same table from the planned runs (`settings_table`)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from xlt.report.document import Block, Table
from xlt.training.settings import TrainSettings

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainSettings)}


def differing(train) -> dict:
    """{setting: value} of a TrainSettings (or its stored dict) where it differs from the default."""
    values = dataclasses.asdict(train) if dataclasses.is_dataclass(train) else dict(train or {})
    return {k: v for k, v in values.items() if k in DEFAULTS and v != DEFAULTS[k]}


def _text(values: dict) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()) or "defaults"


def grouped(rows: dict[tuple[str, str], object]) -> list[tuple[str, str, str]]:
    """(models, task, settings) rows from {(model, task): settings}; models with the same settings on
    a task share a row. A (model, task) with several settings (e.g. runs from two machines with another
    precision) lists each."""
    by: dict[tuple[str, str], list[str]] = {}
    for (model, task), train in rows.items():
        trains = train if isinstance(train, (list, set, tuple)) and not isinstance(train, str) else [train]
        for text in sorted({_text(differing(t)) for t in trains}):
            models = by.setdefault((task, text), [])
            if model not in models:
                models.append(model)
    order = {m: i for i, m in enumerate(dict.fromkeys(model for model, _ in rows))}  # models as listed
    return [(", ".join(models), task, text)
            for (task, text), models in sorted(by.items(), key=lambda kv: (kv[0][0], order[kv[1][0]], kv[0][1]))]


def settings_table(rows: dict[tuple[str, str], object]) -> list[str]:
    """Plain-text lines (the dry run's table)."""
    body = grouped(rows)
    w_model = max([len("model(s)")] + [len(m) for m, _, _ in body])
    w_task = max([len("task")] + [len(t) for _, t, _ in body])
    return [f"{'model(s)':{w_model}}  {'task':{w_task}}  settings"] + [
        f"{m:{w_model}}  {t:{w_task}}  {s}" for m, t, s in body]


def settings_blocks(runs: pd.DataFrame) -> list[Block]:
    """The report's table from `Store.runs_frame` (finished runs; settings from each run's identity)."""
    done = runs[runs["status"] == "done"]
    rows: dict[tuple[str, str], list] = {}
    for model, task, config in done[["model", "task", "config"]].itertuples(index=False):
        train = ((config if isinstance(config, dict) else {}).get("run") or {}).get("train")
        if train is not None:
            rows.setdefault((model, task), []).append(train)
    if not rows:
        return []
    return [Table("Training settings per model and task, as the runs used them (study train:, preset, model "
                  "and task settings merged; precision as resolved on the machine): only the settings that differ "
                  "from xlt's TrainSettings defaults ("
                  + _text({k: v for k, v in DEFAULTS.items() if k != "precision"}) + ").",
                  ["model(s)", "task", "settings"], [list(r) for r in grouped(rows)], left=3)]
