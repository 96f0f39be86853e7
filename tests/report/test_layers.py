"""Layering of analysis and report: they read the store only through its public read API (frames), read
each task's per-example scores once per report, and never reach into the database or private names."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import xlt
from tests.report.conftest import MODELS, SOURCE, STUDY, TARGETS, write_study
from xlt.report.build import write_report
from xlt.store.db import Store

PACKAGES = [Path(xlt.__file__).parent / p for p in ("analysis", "report")]


def _violations(path: Path) -> list[str]:
    """What a module of analysis/report must not do, as 'file:line: what'."""
    out, tree = [], ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            out += [f"{where}: imports {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "sqlalchemy":
                out.append(f"{where}: imports from sqlalchemy")
            if node.module.startswith("xlt.store"):  # the Store type (for annotations) and nothing else
                out += [f"{where}: imports {a.name} from the store" for a in node.names if a.name != "Store"]
            if node.module.startswith("xlt."):
                out += [f"{where}: imports private {a.name} from {node.module}" for a in node.names
                        if a.name.startswith("_")]
        elif isinstance(node, ast.Attribute) and node.attr in ("engine", "_write", "_writer"):
            out.append(f"{where}: uses .{node.attr}")
    return out


def test_analysis_and_report_never_touch_the_database():
    files = sorted(f for pkg in PACKAGES for f in pkg.glob("*.py"))
    assert len(files) >= 12  # the scan sees both packages
    assert [v for f in files for v in _violations(f)] == []


def test_the_scan_catches_what_it_forbids(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from sqlalchemy import select\nfrom xlt.store.db import Store, runs\n"
                   "from xlt.tasks.base import _REGISTRY\nimport sqlalchemy.orm\n"
                   "def f(store):\n    return store.engine.connect()\n", encoding="utf-8")
    assert len(_violations(bad)) == 5


class SpyStore:
    """A Store that counts its read calls and refuses everything but the public read API."""

    READS = ("runs_frame", "scores_frame", "example_frame", "curves_frame", "studies", "predictions", "url")

    def __init__(self, store: Store):
        self._store, self.calls = store, Counter()
        self.example_tasks: list[str | None] = []

    def __getattr__(self, name):
        if name not in self.READS:
            raise AssertionError(f"the report used Store.{name}")
        attr = getattr(self._store, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            self.calls[name] += 1
            if name == "example_frame":
                self.example_tasks.append(kwargs.get("task", args[1] if len(args) > 1 else None))
            return attr(*args, **kwargs)
        return call


def _add_second_task(store: Store) -> None:
    """A second task (xnli, 2 seeds) so the report has two tasks to load."""
    rng = np.random.default_rng(3)
    for model in MODELS:
        for seed in (1, 2):
            run_id = f"{STUDY}-xnli-{model}-{seed}"
            store.start_run(run_id, {"study": STUDY, "model": model, "task": "xnli", "method": "finetune",
                                     "intermediate": "none", "seed": seed})
            scores = {l: (rng.random(40) < 0.6).astype(int) for l in ("en", "de", "fr", "sw")}
            store.finish_run(run_id, [{"language": l, "split": "test", "metric": "accuracy", "value": float(v.mean()),
                                       "n": 40} for l, v in scores.items()],
                             [{"language": l, "metric": "accuracy", "values": v.tolist()} for l, v in scores.items()],
                             {"dev_score": 0.7, "best_step": 10})


def test_report_reads_each_task_once(tmp_path):
    store = Store(str(tmp_path / "two-tasks.sqlite"))
    write_study(store)
    _add_second_task(store)
    spy = SpyStore(store)
    paths = write_report(spy, STUDY, tmp_path / "out", n_boot=100, progress=False)
    assert sorted(spy.example_tasks) == ["sib200", "xnli"]  # one per-example load per task, all metrics in it
    assert spy.calls == Counter({"runs_frame": 1, "scores_frame": 1, "example_frame": 2, "curves_frame": 1})
    md = paths["md"].read_text(encoding="utf-8")
    assert "## Task sib200" in md and "## Task xnli" in md and SOURCE in md and TARGETS[0] in md


def test_spy_store_refuses_the_engine(tmp_path):
    spy = SpyStore(Store(str(tmp_path / "r.sqlite")))
    with pytest.raises(AssertionError, match="Store.engine"):
        spy.engine
