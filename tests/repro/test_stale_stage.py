"""`--rerun-stale` recomputes the intermediate stage as well: its checkpoint is keyed by the library versions
that make a run stale, so a stage trained under old versions is never reused by a recomputed run."""

from __future__ import annotations

import json

import torch

import xlt.provenance
from xlt.cli.main import main
from xlt.methods.intermediate import checkpoint, stage
from xlt.store.db import Store

from tests.repro.conftest import write_study
from tests.sib_fixture import write_tiny_sib200


def test_rerun_stale_retrains_the_intermediate_stage(tiny_bert, tmp_path, monkeypatch, capsys):
    calls = []
    real = stage.train_stage
    monkeypatch.setattr(stage, "train_stage", lambda *a, **k: calls.append(a[0].label) or real(*a, **k))
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    path = write_study(tmp_path, [tiny_bert], data, name="stale-stage", intermediate=[{"condition": "text:digits-nli", "stage_seed": "shared"}],
                       cache_dir=str(tmp_path / "cache"))
    assert main(["-q", "study", str(path)]) == 0
    assert calls == ["text:digits-nli"]  # one (shared) stage for both seeds
    root = checkpoint.cache_root(tmp_path / "cache")
    (first,) = root.iterdir()
    assert json.loads((first / "meta.json").read_text())["key"]["libraries"]["torch"] == torch.__version__
    before = {r["run_id"]: r["finished_at"] for r in Store(str(tmp_path / "r.sqlite")).runs("stale-stage")}

    # torch is upgraded: both runs are stale, and their stage was trained under the old torch
    real_version = xlt.provenance._version
    monkeypatch.setattr(xlt.provenance, "_version", lambda d: "9.9.9" if d == "torch" else real_version(d))
    assert main(["-q", "study", str(path)]) == 0  # without the flag: nothing recomputed, nothing trained
    assert calls == ["text:digits-nli"]
    assert main(["-q", "study", str(path), "--rerun-stale"]) == 0
    assert "2 run(s) executed" in capsys.readouterr().out
    assert calls == ["text:digits-nli"] * 2  # the stage was trained again, once
    second = next(p for p in root.iterdir() if p != first)
    assert json.loads((second / "meta.json").read_text())["key"]["libraries"]["torch"] == "9.9.9"
    after = {r["run_id"]: r["finished_at"] for r in Store(str(tmp_path / "r.sqlite")).runs("stale-stage")}
    assert set(after) == set(before) and all(after[k] > before[k] for k in before)
