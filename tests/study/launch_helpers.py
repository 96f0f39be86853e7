"""Shared by the launch, kill and concurrency tests: a tiny study file, the `xlt` command, and a
snapshot of a results DB that ignores what legitimately differs between runs (timings, workers)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import yaml
from sqlalchemy import select

from xlt.store.db import Store, example_scores, predictions, runs, scores
from xlt.study.config import load_study
from xlt.study.runner import Runner

from tests.sib_fixture import write_tiny_sib200

# like tests/study/test_runner.py: the tiny models learn the keyword topics; one thread (determinism)
TRAIN = {"max_steps": 12, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "eval_every": 4,
         "max_length": 32, "precision": "fp32"}
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}
IGNORED = {"train_seconds", "eval_seconds", "peak_rss_mb", "started_at", "finished_at", "worker", "heartbeat", "id"}


def write_study(root: Path, model_dir: Path, seeds=(1, 2), name: str = "tiny") -> Path:
    data = write_tiny_sib200(root / "sib", n=21)
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "models": [str(model_dir)], "seeds": list(seeds), "train": TRAIN, "runtime": RUNTIME,
        "tasks": [{"name": "sib200", "data_dir": str(data), "languages": "available"}],
    }), encoding="utf-8")
    return path


def xlt(*args) -> list[str]:
    return [sys.executable, "-m", "xlt.cli.main", "-q", *map(str, args)]


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every row of runs, scores, example_scores and predictions, sorted, without timing columns."""
    store = Store(url)
    out = {}
    with store.engine.connect() as c:
        for table in (runs, scores, example_scores, predictions):
            cols = [col for col in table.columns if col.name not in IGNORED]
            out[table.name] = sorted(tuple(repr(v) for v in r) for r in c.execute(select(*cols)))
    store.engine.dispose()
    return out


def sequential_reference(study_file: Path, url: str) -> dict[str, list[tuple]]:
    """The clean run: the same study in this process, one run after the other."""
    threads = torch.get_num_threads()
    try:
        Runner(load_study(study_file), Store(url), progress=False).run()
    finally:
        torch.set_num_threads(threads)
    return snapshot(url)


class BarrierJob:
    """Wraps each `StudyJob` that `--workers N` hands to its process pool: the job records its pid
    in `folder` and waits there until `n` jobs have started, so N jobs must run at once in N processes
    (one process running them one after the other times out here)."""

    def __init__(self, folder: Path, n: int, job):
        self.folder, self.n, self.job = folder, n, job

    def __call__(self) -> dict:
        import os
        import time

        (self.folder / str(os.getpid())).write_text("started")
        deadline = time.monotonic() + 180
        while len(list(self.folder.iterdir())) < self.n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(list(self.folder.iterdir()))} of {self.n} worker processes started")
            time.sleep(0.05)
        return self.job()
