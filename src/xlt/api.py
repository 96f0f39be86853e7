"""The Python API: load results as a DataFrame, run a study, write a report, export one JSON document.

    import xlt
    xlt.run_study("study.yaml", db="r.sqlite")            # or a dict shaped like a study file
    df = xlt.load_results("r.sqlite", study="demo")       # one row per run / language / metric, 0-1
    df.groupby(["condition", "language"])["value"].mean()
    xlt.write_report("r.sqlite", "demo", "report/")             # {"md": ..., "tex": ..., "html": ...}
    doc = xlt.results_document("r.sqlite", "demo")        # what `xlt results --format json` writes
    m = xlt.load_model(path)                              # a run saved with runtime.save=best
    m.predict(["query text"])                             # label names (classification heads)

`db` is a SQLite path, a database URL or an open `xlt.store.db.Store`. Readers open it read-only.
Bad input raises `xlt.errors.XltError` (one line), as on the command line.
"""

from __future__ import annotations

import copy
import math
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from xlt.errors import XltError

if TYPE_CHECKING:
    import pandas as pd

    from xlt.store.db import Store

SCHEMA_VERSION = 1
UNITS = "fraction (0-1)"  # every score in the document; tables and reports show them x100
N_BOOT = 2000  # bootstrap replicates of the family intervals (fixed seed: the document is reproducible)


def _store(db, read_only: bool = True) -> Store:
    from xlt.store.db import Store

    if isinstance(db, Store):
        return db
    if read_only and "://" not in str(db) and not Path(db).is_file():
        raise XltError(f"results database {db} not found")
    return Store(str(db), read_only=read_only)


def load_results(db, study: str | None = None, task: str | None = None) -> pd.DataFrame:
    """Test scores of the finished runs, one row per run / language / metric, scores in [0, 1]:
    study, model, task, method, intermediate, condition (the label every table uses), seed, run_id,
    language, metric, value, n. Without `study`: every study's current runs."""
    from xlt.analysis.condition import FIELDS, Condition

    store = _store(db)
    scores = store.scores_frame(study=study, task=task)
    if scores.empty:
        where = (f" for study {study!r}" if study else "") + (f" task {task!r}" if task else "")
        raise XltError(f"no finished runs in {store.url}{where} (studies: {', '.join(store.studies()) or 'none'})")
    labels = [Condition(*c).label for c in scores[list(FIELDS)].itertuples(index=False)]
    scores.insert(scores.columns.get_loc("intermediate") + 1, "condition", labels)
    return scores


def run_study(path_or_dict, db=None, overrides=(), progress: bool = False) -> dict:
    """Run a study file (path) or a study given as a dict (the YAML's shape) like `xlt study`: finished
    runs are skipped. `overrides`: `key=value` strings as on the command line. Returns {"study", "db",
    "runs", "ran", "skipped"}."""
    from xlt.store.db import Store
    from xlt.study.config import apply_overrides, load_study, override_keys, parse_study
    from xlt.study.runner import Runner

    overrides = list(overrides)
    if isinstance(path_or_dict, dict):
        raw = apply_overrides(copy.deepcopy(path_or_dict), overrides)
        study = parse_study(raw, "<dict>", "", override_keys(overrides))
    elif isinstance(path_or_dict, (str, Path)):
        study = load_study(path_or_dict, overrides)
    else:
        raise XltError(f"run_study takes a study file path or a dict, not {type(path_or_dict).__name__}")
    runner = Runner(study, progress=progress)
    runner.validate()  # bad input stops before any database is created
    store = runner.store = db if isinstance(db, Store) else Store(str(db or study.db))
    summary = runner.run()
    return {"study": study.name, "db": store.url, **summary}


def write_report(db, study: str, out, task: str | None = None, compare: tuple[str, str] | None = None,
                 n_boot: int = 2000, progress: bool = False) -> dict[str, Path]:
    """`xlt report`: report.md, report.tex, report.html and figures/ under `out`; returns {format: path}."""
    from xlt.report import build

    return build.write_report(_store(db), study, Path(out), task, compare, n_boot, progress=progress)


def load_model(path):
    """A run's fine-tuned model saved with `runtime.save: best` (the folder `Store(db).saved_models()`
    names): `.module` (encoder + head, as trained), `.tokenizer`, `.meta` (labels, pooling, run, ...),
    `.predict(texts)` for classification heads. See `xlt.repro.saved` for the folder's layout."""
    from xlt.repro.saved import load

    return load(path)


# -- the JSON document (`xlt results --format json`; schema: xlt/schemas/results.schema.json) -------
def _num(x):
    """A float for JSON: NaN and infinities (no estimate) become null."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _agg(cell) -> dict | None:
    mean, std, n = cell
    return None if n == 0 else {"mean": _num(mean), "std": _num(std), "n_seeds": int(n)}


def _cond(c) -> dict:
    return {"model": c.model, "method": c.method, "intermediate": c.intermediate, "protocol": c.protocol,
            "label": c.label}


def _iso(t) -> str | None:
    return None if t is None or (isinstance(t, float) and math.isnan(t)) else str(t.isoformat())


def _runs(runs: pd.DataFrame, scores: pd.DataFrame) -> list[dict]:
    per_run: dict[str, dict] = {}
    for r in scores.to_dict("records"):
        per_run.setdefault(r["run_id"], {}).setdefault(r["language"], {})[r["metric"]] = _num(r["value"])
    out = []
    for r in runs.sort_values(["task", "model", "method", "intermediate", "seed", "run_id"]).to_dict("records"):
        if r["run_id"] not in per_run:
            continue
        config = r["config"] or {}
        item = {
            "run_id": r["run_id"], "model": r["model"], "model_revision": r["model_revision"], "task": r["task"],
            "task_version": r["task_version"], "method": r["method"], "intermediate": r["intermediate"],
            "protocol": r.get("protocol") or "zero-shot", "seed": int(r["seed"]), "xlt_version": r["xlt_version"],
            "settings": config.get("run", {}),
            "runtime": config.get("runtime", {}), "data_sources": config.get("data_sources", []),
            "scores": per_run[r["run_id"]],
            "dev_score": _num(r["dev_score"]), "best_step": None if (b := _num(r["best_step"])) is None else int(b),
            "train_seconds": _num(r["train_seconds"]),
            "eval_seconds": _num(r["eval_seconds"]), "finished_at": _iso(r["finished_at"]),
        }
        if "provenance" in config:
            item["provenance"] = config["provenance"]
        out.append(item)
    return out


def _tables(scores: pd.DataFrame) -> list[dict]:
    from xlt.analysis.results import SUMMARY_ROWS, build_tables

    return [{"task": t.task, "metric": t.metric, "source": t.source,
             "conditions": [{**_cond(c),
                             "languages": {l: _agg(t.cells[(i, l)]) for l in t.languages},
                             "summary": {k: _agg(t.cells[(i, k)]) for k in SUMMARY_ROWS}}
                            for i, c in enumerate(t.conditions)]}
            for t in build_tables(scores)]


def _xtreme(scores: pd.DataFrame) -> list[dict]:
    from xlt.analysis import xtreme

    return [{"condition": _cond(s["condition"]), "tasks": {t: _agg(v) for t, v in s["tasks"].items()},
             "categories": {c: _agg(v) for c, v in s["categories"].items()},
             "overall": _agg(s["overall"]) if s["overall"] else None}
            for s in xtreme.summarize(scores)]


def _families(store: Store, study: str, scores: pd.DataFrame, n_boot: int, notes: list[str]) -> list[dict]:
    """Family means with bootstrap CIs per task on its per-example metric; tasks without usable
    per-example scores are left out, with a note saying why."""
    from xlt.analysis.condition import FIELDS, Condition
    from xlt.analysis.families import family_table
    from xlt.report.build import pick_metric  # the report's choice of per-example metric, shared

    rows = []
    for task in sorted(scores["task"].unique()):
        examples = store.example_frame(study, task)
        metric, ex, why = pick_metric(examples, task, sorted(scores.loc[scores["task"] == task, "metric"].unique()))
        notes += why
        if metric is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                table = family_table(ex, metric, n_boot=n_boot)
            except XltError as exc:
                notes.append(f"{task}: family table skipped: {exc}")
                continue
        notes += sorted({f"{task}: {w.message}" for w in caught})
        for r in table.to_dict("records"):
            rows.append({
                "task": r["task"], "metric": r["metric"], "condition": _cond(Condition(*(r[f] for f in FIELDS))),
                "family": r["family"], "languages": r["languages"].split(","), "n_seeds": int(r["n_seeds"]),
                "mean": _num(r["mean"]), "ci_low": _num(r["ci_low"]), "ci_high": _num(r["ci_high"]),
                "source": r["source"], "source_score": _num(r["source_score"]), "gap": _num(r["gap"]),
                "gap_ci_low": _num(r["gap_ci_low"]), "gap_ci_high": _num(r["gap_ci_high"]),
            })
    return rows


def results_document(db, study: str, n_boot: int = N_BOOT) -> dict:
    """One study as one JSON-ready dict (`xlt results --format json`): settings and provenance of every
    finished run with its per-language scores per seed, the per-language tables (mean/std over seeds,
    both averages, transfer gap), XTREME-R aggregates and language-family means with 95 % bootstrap
    CIs. Scores are fractions in [0, 1]; a missing estimate is null."""
    from xlt import __version__

    if not study:
        raise XltError("the JSON document is one study's: give --study (or study=...)")
    store = _store(db)
    runs = store.runs_frame(study)
    if runs.empty:
        raise XltError(f"study {study!r} is not in {store.url} (studies: {', '.join(store.studies()) or 'none'})")
    scores = store.scores_frame(study=study)
    if scores.empty:
        raise XltError(f"study {study!r}: no finished runs with test scores in {store.url}")
    notes = []
    if unfinished := int((runs["status"] != "done").sum()):
        notes.append(f"{unfinished} run(s) of the study are not finished (running, failed or interrupted); "
                     "only finished runs are included")
    if superseded := store.superseded(study):
        notes.append(f"{superseded} earlier run(s) are left out: their data, weights or settings changed and "
                     "the current runs replace them")
    families = _families(store, study, scores, n_boot, notes)
    done = runs[runs["status"] == "done"].sort_values("finished_at")
    return {
        "schema_version": SCHEMA_VERSION, "xlt_version": __version__, "study": study,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "units": UNITS,
        "split": "test",
        # the study file as parsed when its latest run finished (every run's own identity is in `settings`)
        "study_config": (done["config"].iloc[-1] or {}).get("study", {}) if len(done) else {},
        "runs": _runs(runs, scores), "tables": _tables(scores), "xtreme": _xtreme(scores),
        "families": {"n_boot": n_boot, "alpha": 0.05, "bootstrap_seed": 0, "rows": families},
        "notes": notes,
    }


def schema() -> dict:
    """The JSON Schema (draft 2020-12) of `results_document`, shipped with the package."""
    import json
    from importlib import resources

    return json.loads((resources.files("xlt") / "schemas" / "results.schema.json").read_text(encoding="utf-8"))
