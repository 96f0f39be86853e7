"""Experiment trackers: a tiny study logs each run to TensorBoard, MLflow (local SQLite store) and W&B
(offline), and each is read back with the tracker's own reader: hyperparameters, the curve as stored
in the results DB, the final scores. Tests of a tracker whose package is missing skip locally and fail
under XLT_REQUIRE_TRACKERS=1 (CI installs the `test` extra, which has all three)."""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
from pathlib import Path

import pytest
import torch

from tests.conftest import needed
from tests.sib_fixture import write_tiny_sib200
from tests.study.test_runner import make_study
from xlt import trackers
from xlt.errors import ConfigError
from xlt.store.db import Store
from xlt.study.claims import Worker
from xlt.study.config import load_study
from xlt.study.run import RunResult
from xlt.study.runner import Runner
from xlt.training.settings import Runtime

INSTALLED = [t for t, (mods, _) in trackers.NEEDS.items() if all(importlib.util.find_spec(m) for m in mods)]


def _need(name: str) -> None:
    needed(name in INSTALLED, "XLT_REQUIRE_TRACKERS", f"tracker {name}: {trackers.NEEDS[name][1]}")


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, tiny_bert):
    """A 2-seed tiny study logged to every installed tracker; then seed 1's run is computed again. The study
    file's `db` is not the store used (as with `xlt study --db`): the trackers go next to the store."""
    tmp = tmp_path_factory.mktemp("trackers")
    n = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        study = make_study(tiny_bert, write_tiny_sib200(tmp / "sib", n=28), seeds=(1, 2),
                           runtime={"trackers": INSTALLED})  # tracker_dir: the default, next to the DB
        store = Store(str(tmp / "r.sqlite"))
        runner = Runner(study, store)
        runner.run()
        again = runner.validate()[0]
        assert runner.execute(again, Worker(store, redo=frozenset({again.run_id})))
    torch.set_num_threads(n)
    runs = {r.run_id: r for r in runner.validate()}
    return {"dir": tmp / "trackers", "store": store, "runs": runs, "again": again.run_id,
            "curves": store.curves_frame("tiny"), "scores": store.scores_frame("tiny"),
            "lr": study.train.lr}


def _expected(tracked, rid: str) -> tuple[list, list, dict]:
    """(dev points, train-loss points, final test scores) of a run as the results DB holds them."""
    c = tracked["curves"][tracked["curves"]["run_id"] == rid]
    dev = [(int(s), float(v)) for s, v in zip(c["step"], c["dev"]) if v == v]
    loss = [(int(s), float(v)) for s, v in zip(c["step"], c["train_loss"])]
    sc = tracked["scores"][tracked["scores"]["run_id"] == rid]
    return dev, loss, {f"test/{m}/{l}": float(v) for m, l, v in zip(sc["metric"], sc["language"], sc["value"])}


def test_tensorboard_events_read_back(tracked):
    _need("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    for rid in tracked["runs"]:
        folder = tracked["dir"] / "tensorboard" / "tiny" / rid
        assert len(list(folder.glob("events.out.tfevents.*"))) == 1  # the rerun replaced seed 1's events
        ea = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        ea.Reload()
        dev, loss, final = _expected(tracked, rid)
        assert [(e.step, e.value) for e in ea.Scalars("dev/score")] == [(s, pytest.approx(v)) for s, v in dev]
        assert [(e.step, e.value) for e in ea.Scalars("train/loss")] == [(s, pytest.approx(v)) for s, v in loss]
        assert len(final) == 3
        for tag, value in final.items():
            assert ea.Scalars(tag)[0].value == pytest.approx(value)
        content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        hp = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        assert hp["train.lr"].number_value == pytest.approx(tracked["lr"]) and hp["seed"].number_value in (1, 2)


def test_mlflow_runs_read_back(tracked):
    _need("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tracked['dir'] / 'mlflow.db'}")
    exp = client.get_experiment_by_name("tiny")
    found = client.search_runs([exp.experiment_id])
    assert sorted(r.data.tags["xlt.run_id"] for r in found) == sorted(tracked["runs"])  # seed 1's first run deleted
    for r in found:
        rid = r.data.tags["xlt.run_id"]
        spec = tracked["runs"][rid]
        assert r.info.run_name == f"{rid} {trackers.label(spec)}" and f"seed {spec.seed}" in r.info.run_name
        assert float(r.data.params["train.lr"]) == tracked["lr"] and r.data.params["seed"] == str(spec.seed)
        assert r.info.status == "FINISHED"
        dev, loss, final = _expected(tracked, rid)
        assert [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "dev/score")] == dev
        assert [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, "train/loss")] == loss
        assert {k: v for k, v in r.data.metrics.items() if k.startswith("test/")} == pytest.approx(final)


def _wandb_records(path: Path):
    """The protobuf records of an offline W&B run file (a LevelDB-style log: 7-byte header, then 32 KiB
    blocks of chunks with crc32 / length / type headers; type 1 = whole record, 2-4 = first/middle/last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, parts = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a header is padding
            pos += 32768 - pos % 32768
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(parts)
            parts = b""
            yield rec


def _items(items) -> dict:
    """W&B's key/value items (a key is `key` or, in history and summary records, `nested_key`)."""
    return {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in items}


def test_wandb_offline_run_reads_back(tracked):
    _need("wandb")
    files = sorted((tracked["dir"] / "wandb" / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 3  # two runs, and seed 1's again (W&B keeps both; `wandb sync` uploads them)
    seen = set()
    for path in files:
        history, config, summary, name = [], {}, {}, None
        for rec in _wandb_records(path):
            kind = rec.WhichOneof("record_type")
            if kind == "history":
                history.append(_items(rec.history.item))
            elif kind == "summary":
                summary.update(_items(rec.summary.update))
            elif kind == "run":  # the run record carries the config
                name, config = rec.run.display_name, _items(rec.run.config.update)
        rid = name.split()[0]
        seen.add(rid)
        dev, loss, final = _expected(tracked, rid)
        assert config["train.lr"] == tracked["lr"] and config["seed"] == tracked["runs"][rid].seed
        assert [(h["_step"], h["dev/score"]) for h in history if "dev/score" in h] == [
            (s, pytest.approx(v)) for s, v in dev]
        assert [(h["_step"], h["train/loss"]) for h in history] == [(s, pytest.approx(v)) for s, v in loss]
        assert {k: summary[k] for k in final} == pytest.approx(final) and summary["xlt.run_id"] == rid
    assert seen == set(tracked["runs"])


def test_a_tracker_that_fails_costs_a_warning(tracked, monkeypatch, caplog):
    def broken(rec, root):
        raise OSError("disk full")

    monkeypatch.setattr(trackers, "tensorboard", broken)
    spec = next(iter(tracked["runs"].values()))
    with caplog.at_level(logging.WARNING, logger="xlt"):
        trackers.log_run(Runtime(trackers=("tensorboard",)), "x.sqlite", spec, RunResult([], [], [], {}, []))
    assert f"tracker tensorboard could not log run {spec.run_id}: OSError: disk full" in caplog.text


def test_validation_names_the_bad_tracker_and_the_install(tmp_path, monkeypatch):
    study = tmp_path / "study.yaml"
    study.write_text("name: t\nmodels: [mbert]\ntasks: [sib200]\nruntime:\n  trackers: [tensorbord]\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:5: runtime\.trackers: unknown tracker 'tensorbord' "
                                          r"\(valid: tensorboard, mlflow, wandb\)"):
        load_study(study)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    study.write_text("name: t\nmodels: [mbert]\ntasks: [sib200]\nruntime: {trackers: mlflow}\n")
    with pytest.raises(ConfigError, match=r"study\.yaml:4: runtime\.trackers: tracker mlflow needs the mlflow "
                                          r"package, which is not installed \(pip install mlflow-skinny alembic"):
        load_study(study)
    assert load_study(study, ["runtime.trackers=[]"]).runtime.trackers == ()


def test_tracker_dir_defaults_next_to_a_sqlite_db(tmp_path):
    assert trackers.default_dir("runs/r.sqlite") == Path("runs/trackers")
    assert trackers.default_dir(Store(str(tmp_path / "r.sqlite")).url) == tmp_path / "trackers"  # what the runner passes
    assert trackers.default_dir("sqlite:////data/x/r.sqlite") == Path("/data/x/trackers")
    assert trackers.default_dir("postgresql://u@h/db") == Path("xlt-trackers")
    assert Runtime(trackers="mlflow").trackers == ("mlflow",)  # one name in YAML is a list of one
