"""Data parallelism: 2 CPU processes under torchrun (gloo) give what one process with grad_accum=2 gives.

One optimizer step of 2 ranks x 1 batch averages the same two batches' gradients as 1 process x 2
accumulated batches, so with dropout off the numbers agree to float rounding: every step's gradient
norm (before clipping) and weights (tests/study/dp_spy.py records them), the dev score and the
predictions; evaluation is sharded and gathered, and only rank 0 writes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from xlt.store.db import Store
from xlt.study.config import load_study
from xlt.study.runner import Runner

from tests.study.dp_spy import install
from tests.study.launch_helpers import RUNTIME, TRAIN
from tests.sib_fixture import write_tiny_sib200

torchrun = shutil.which("torchrun") or shutil.which("torchrun", path=str(Path(sys.executable).parent))


def _no_dropout_copy(model_dir, dest):
    shutil.copytree(model_dir, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def _study(tmp_path, model, db, grad_accum: int):
    data = write_tiny_sib200(tmp_path / "sib", n=21)
    path = tmp_path / f"study{grad_accum}.yaml"
    train = dict(TRAIN, batch_size=4, grad_accum=grad_accum, dropout=0.0, max_steps=6, eval_every=3)
    path.write_text(yaml.safe_dump({"name": "dp", "models": [str(model)], "seeds": [1], "db": str(db), "train": train, "runtime": RUNTIME,
                                    "tasks": [{"name": "sib200", "data_dir": str(data), "languages": "available"}]}))
    return path


def _values(db) -> dict:
    store = Store(str(db))
    [run] = store.runs(study="dp")
    out = {(r["language"], r["metric"]): r["value"] for r in store.score_rows(study="dp")}
    return {"scores": out, "dev": run["dev_score"], "best_step": run["best_step"], "preds": store.predictions(run["run_id"])}


@pytest.mark.skipif(torchrun is None, reason="torchrun not installed")
def test_two_processes_equal_one_process_with_accumulation(tiny_bert, tmp_path):
    model = _no_dropout_copy(tiny_bert, tmp_path / "model")
    one = tmp_path / "one.sqlite"
    reference, stop = install()
    try:
        Runner(load_study(_study(tmp_path, model, one, grad_accum=2)), Store(str(one)), progress=False).run()
    finally:
        stop()

    two = tmp_path / "two.sqlite"
    study = _study(tmp_path, model, two, grad_accum=1)
    spy = Path(__file__).with_name("dp_spy.py")
    proc = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", str(spy), str(tmp_path / "dp"), "-q",
                           "study", str(study)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]

    # continuous numbers, step by step. A sum instead of a mean in the all-reduce doubles the norms but
    # moves the weights by only ~1e-8 after a step (AdamW is nearly blind to the gradient's scale, and
    # clipping too), so the weights are held to 1e-9: the (g1 + g2) / 2 of 2 ranks and the g1/2 + g2/2
    # of accumulation are the same floats (bit-identical here).
    ranks = [torch.load(tmp_path / f"dp.rank{r}.pt") for r in (0, 1)]
    assert len(reference["grad_norms"]) == len(reference["weights"]) == 6
    for rec in ranks:
        assert rec["grad_norms"] == pytest.approx(reference["grad_norms"], rel=1e-5)
        assert len(rec["weights"]) == 6
        for step, (got, want) in enumerate(zip(rec["weights"], reference["weights"]), 1):
            assert (got - want).abs().max().item() <= 1e-9, f"step {step}"
    for got, want in zip(*(r["weights"] for r in ranks)):
        assert torch.equal(got, want)  # the ranks hold the same weights after every step

    a, b = _values(one), _values(two)
    assert len(Store(str(two)).runs(study="dp")) == 1  # rank 1 stored nothing of its own
    assert b["best_step"] == a["best_step"] and b["dev"] == pytest.approx(a["dev"], abs=1e-6)
    assert set(b["scores"]) == set(a["scores"]) and len(a["scores"]) >= 3
    for key, value in a["scores"].items():
        assert b["scores"][key] == pytest.approx(value, abs=1e-6), key
    assert b["preds"] == a["preds"]  # every test example predicted, once, identically
