"""Provenance of a run: versions, source commit, platform and hardware (xlt.provenance)."""

from __future__ import annotations

import platform
import subprocess

import numpy
import torch
import transformers

import xlt
from xlt import provenance as prov


def test_provenance_fields_match_this_process():
    p = prov.provenance("cpu")
    assert p["libraries"]["torch"] == torch.__version__
    assert p["libraries"]["transformers"] == transformers.__version__
    assert p["libraries"]["numpy"] == numpy.__version__
    assert p["libraries"]["xlt"] == xlt.__version__ == p["xlt"]["version"]
    assert p["python"] == platform.python_version()
    assert p["platform"] == platform.platform()
    assert p["device"] == "cpu" and p["gpu"] is None  # no GPU block for a CPU run
    assert p["torch_threads"] == torch.get_num_threads()
    assert isinstance(p["cpu"], str) and p["cpu"]


def test_source_commit_is_this_checkout():
    src = prov.source()
    head = subprocess.run(["git", "-C", str(prov.Path(prov.__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    if head.returncode != 0:  # an installed copy: no commit, no dirty flag
        assert src["git_commit"] is None and src["git_dirty"] is None
    else:
        assert src["git_commit"] == head.stdout.strip() and len(src["git_commit"]) == 40
        assert isinstance(src["git_dirty"], bool)


def test_git_failure_is_none_not_an_error(monkeypatch):
    def boom(*a, **k):
        raise subprocess.TimeoutExpired("git", 5)

    monkeypatch.setattr(prov.subprocess, "run", boom)
    assert prov._git("rev-parse", "HEAD") is None


def test_stale_libraries_names_what_differs():
    now = prov.provenance("cpu")
    same = {"libraries": dict(now["libraries"])}
    assert prov.stale_libraries(same, now) == {}
    old = {"libraries": {**now["libraries"], "torch": "1.0.0", "numpy": "0.1"}}  # numpy alone is not stale
    assert prov.stale_libraries(old, now) == {"torch": ("1.0.0", torch.__version__)}
    assert prov.stale_libraries(None, now) == {}  # a run stored before provenance existed


def test_version_line():
    line = prov.version_line()
    assert line.startswith(f"xlt {xlt.__version__}")
    commit = prov.source()["git_commit"]
    assert (f"git {commit[:12]}" in line) if commit else ("git" not in line)


def test_a_worker_redoes_only_its_redo_runs_and_each_once():
    """The claim itself (not just the scheduler) guards finished runs: `redo` names the only ones
    a worker may take again, and only until it has finished them again."""
    from types import SimpleNamespace

    from xlt.store.db import Store
    from xlt.study.claims import Worker

    store = Store("sqlite://")
    info = {"study": "s", "model": "m", "task": "t", "method": "finetune", "intermediate": "none", "seed": 1}
    result = SimpleNamespace(rows=[], per_example=[], info={}, preds=[], curve=[])
    first = Worker(store)
    for rid in ("stale", "current"):
        assert first.claim(rid, info) and first.finish(rid, result)
    redo = Worker(store, redo=frozenset({"stale"}))
    assert not redo.claim("current", info)  # finished and not stale: never taken
    assert redo.claim("stale", info) and redo.finish("stale", result)
    assert not redo.claim("stale", info)  # finished again in this launch: done for good
    assert store.run_status() == {"stale": "done", "current": "done"}
