"""`xlt --version`, provenance stored with every run, the stale-run warning and `--rerun-stale`."""

from __future__ import annotations

import logging

import pytest
import torch
from sqlalchemy import update

import xlt
from xlt.cli.main import main
from xlt.store.db import Store, runs

from tests.cli.test_cli import _study_file
from tests.sib_fixture import write_tiny_sib200


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_version_flag(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"xlt {xlt.__version__}") and len(out.splitlines()) == 1


def _rows(db) -> dict[int, dict]:
    return {r["seed"]: r for r in Store(str(db)).runs("cli-tiny")}


def _stale_lines(caplog) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if "other library versions" in r.getMessage()]
    caplog.clear()
    return lines


def test_stale_runs_are_reported_and_rerun_alone(tmp_path, tiny_bert, capsys, caplog):
    caplog.set_level(logging.WARNING, logger="xlt")
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1, 2))
    db = tmp_path / "db" / "r.sqlite"
    assert main(["-q", "study", str(path)]) == 0
    rows = _rows(db)
    p = rows[1]["config"]["provenance"]
    assert p["libraries"]["torch"] == torch.__version__ and p["device"] == "cpu"
    assert p["xlt"]["version"] == xlt.__version__
    assert _stale_lines(caplog) == []

    # pretend seed 1 ran under another torch: only it is stale
    config = dict(rows[1]["config"])
    config["provenance"] = {**p, "libraries": {**p["libraries"], "torch": "1.0.0"}}
    store = Store(str(db))
    with store.engine.begin() as c:
        c.execute(update(runs).where(runs.c.run_id == rows[1]["run_id"]).values(config=config))
    capsys.readouterr()
    assert main(["-q", "study", str(path), "--dry-run"]) == 0
    [line] = _stale_lines(caplog)
    assert "1 finished run(s)" in line and f"torch 1.0.0 (now {torch.__version__})" in line
    assert "--rerun-stale" in line
    assert main(["-q", "study", str(path)]) == 0  # warns, recomputes nothing without the flag
    assert "0 run(s) executed, 2 already done" in capsys.readouterr().out
    assert len(_stale_lines(caplog)) == 1
    assert _rows(db)[1]["finished_at"] == rows[1]["finished_at"]

    n_scores = len(store.score_rows(study="cli-tiny"))
    assert main(["-q", "study", str(path), "--rerun-stale"]) == 0
    assert "1 run(s) executed, 1 already done" in capsys.readouterr().out
    after = _rows(db)
    assert after[1]["config"]["provenance"]["libraries"]["torch"] == torch.__version__
    assert after[1]["finished_at"] > rows[1]["finished_at"] and after[1]["status"] == "done"
    assert after[2]["finished_at"] == rows[2]["finished_at"]  # the current run was not touched
    assert len(store.score_rows(study="cli-tiny")) == n_scores  # replaced, not added
    _stale_lines(caplog)

    # nothing stale is left
    assert main(["-q", "study", str(path), "--rerun-stale"]) == 0
    assert "0 run(s) executed, 2 already done" in capsys.readouterr().out
    assert _stale_lines(caplog) == []


def test_rerun_stale_refuses_parallel_workers(tmp_path, tiny_bert, capsys):
    data = write_tiny_sib200(tmp_path / "sib", n=7)
    path = _study_file(tmp_path, tiny_bert, data, seeds=(1,))
    assert main(["-q", "study", str(path), "--rerun-stale", "--workers", "2"]) == 2
    assert "--rerun-stale runs in this process" in capsys.readouterr().err
