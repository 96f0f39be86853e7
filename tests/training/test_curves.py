"""Fine-tuning curves: the loop records every point (mean train loss since the previous point, the lr the
step applied, dev at evaluations), a study stores them per run (replaced on a rerun), old databases gain
the table, and the report plots them per condition."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.sib_fixture import write_tiny_sib200
from tests.study.test_runner import make_study
from tests.tiny_models import tiny_classifier_and_rows
from xlt.store.db import CURVE_COLUMNS, Store
from xlt.study.claims import Worker
from xlt.study.runner import Runner
from xlt.training import loop
from xlt.training.settings import Runtime, TrainSettings

CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_loop_records_mean_loss_lr_epoch_and_dev_per_point(tiny_bert):
    """16 rows, batch 4, grad_accum 2: 2 optimizer steps per epoch. The loss of the i-th forward pass is
    i, so step k's mean loss is 2k - 0.5 and a point every 2 steps (eval_every 20 // 10) averages two."""
    model, data = tiny_classifier_and_rows(tiny_bert, 16)
    calls = []

    def loss_fn(m, b):
        calls.append(1)
        return m(b["input_ids"], b["attention_mask"]).sum() * 0.0 + float(len(calls))

    dev = iter([0.3, 0.7])
    cfg = TrainSettings(max_steps=40, batch_size=4, grad_accum=2, eval_every=20, warmup_ratio=0.1, lr=1e-3,
                        freeze_embeddings=True, precision="fp32")
    res = loop.fine_tune(model, data, cfg, 1, 0, CPU, loss_fn, lambda m: next(dev), Runtime(progress=False))
    steps = [p["step"] for p in res.history]
    assert steps == list(range(2, 41, 2))
    for p in res.history:
        s = p["step"]
        assert p["train_loss"] == pytest.approx(2 * s - 1.5)  # mean of steps s-1 and s
        assert p["epoch"] == s / 2
        factor = s / 4 if s <= 4 else (40 - (s - 1)) / 36  # warmup 4 steps, then linear decay to 0
        assert p["lr"] == pytest.approx(1e-3 * factor)  # the rate step s applied (before the scheduler moved)
    assert [(p["step"], p["dev"]) for p in res.history if p["dev"] is not None] == [(20, 0.3), (40, 0.7)]
    assert (res.best_dev, res.best_step) == (0.7, 40)


@pytest.fixture(scope="module")
def sib_dir(tmp_path_factory) -> Path:
    return write_tiny_sib200(tmp_path_factory.mktemp("sib"), n=28)


def test_a_study_stores_every_point_and_a_rerun_replaces_them(tiny_bert, sib_dir, tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    runner = Runner(make_study(tiny_bert, sib_dir, seeds=(1, 2)), store)
    runner.run()  # max_steps 12, eval_every 4: a train-loss point every step, dev at 4, 8, 12
    frame = store.curves_frame("tiny")
    assert list(frame.columns) == CURVE_COLUMNS
    runs = store.runs_frame("tiny").set_index("run_id")
    assert len(runs) == 2 and set(frame["run_id"]) == set(runs.index)
    for rid, g in frame.groupby("run_id"):
        assert g["step"].tolist() == list(range(1, 13))
        evals = g.dropna(subset=["dev"])
        assert evals["step"].tolist() == [4, 8, 12]
        assert evals["dev"].max() == pytest.approx(runs.loc[rid, "dev_score"])  # the stored best is the curve's max
        assert evals.loc[evals["dev"].idxmax(), "step"] == runs.loc[rid, "best_step"]
        assert np.isfinite(g["train_loss"]).all() and (g["lr"] > 0).all()
        assert (g[["model", "method", "intermediate", "seed"]].iloc[0].tolist()
                == runs.loc[rid, ["model", "method", "intermediate", "seed"]].tolist())
    assert set(store.curves_frame("tiny", task="xnli")["run_id"]) == set()
    before = frame

    run = runner.validate()[0]
    assert runner.execute(run, Worker(store, redo=frozenset({run.run_id})))  # recompute one finished run
    after = store.curves_frame("tiny")
    assert (after["run_id"] == run.run_id).sum() == 12  # replaced, not appended
    pd.testing.assert_frame_equal(after, before)  # same seed, same numbers


def test_an_old_database_without_the_table_opens_and_gains_it(tmp_path):
    path = tmp_path / "old.sqlite"
    store = Store(str(path))
    store.start_run("r1", {"study": "s", "model": "m", "task": "sib200", "method": "finetune",
                           "intermediate": "none", "seed": 1})
    store.finish_run("r1", [{"language": "eng_Latn", "split": "test", "metric": "accuracy", "value": 0.5, "n": 2}],
                     [], {"dev_score": 0.5})
    store.engine.dispose()
    with sqlite3.connect(path) as c:  # what an xlt before curves wrote
        c.execute("DROP TABLE curves")
    reader = Store(str(path), read_only=True)  # reading commands never upgrade
    assert reader.curves_frame("s").empty and list(reader.curves_frame("s").columns) == CURVE_COLUMNS
    assert len(reader.scores_frame("s")) == 1
    reader.engine.dispose()

    writer = Store(str(path))  # opening for writing creates the table; the old rows stay
    assert len(writer.scores_frame("s")) == 1
    point = {"step": 3, "epoch": 1.5, "dev": 0.6, "train_loss": 0.9, "lr": 1e-5}
    writer.claim_run("r2", {"study": "s", "model": "m", "task": "sib200", "method": "finetune",
                            "intermediate": "none", "seed": 2})
    assert writer.finish_run("r2", [], [], {"dev_score": 0.6}, curve=[point])
    assert writer.curves_frame("s")[["run_id", "step", "dev"]].values.tolist() == [["r2", 3, 0.6]]


def test_finishing_a_run_again_replaces_its_curve(tmp_path):
    store = Store(str(tmp_path / "c.sqlite"))
    info = {"study": "s", "model": "m", "task": "sib200", "method": "finetune", "intermediate": "none", "seed": 1}
    store.start_run("r", info)
    first = [{"step": s, "epoch": s / 4, "dev": None if s % 2 else s / 10, "train_loss": 1 / s, "lr": 1e-5}
             for s in range(1, 5)]
    store.finish_run("r", [], [], {}, curve=first)
    store.finish_run("r", [], [], {}, curve=first[:2])
    frame = store.curves_frame("s")
    assert frame["step"].tolist() == [1, 2] and np.isnan(frame["dev"].iloc[0]) and frame["dev"].iloc[1] == 0.2
