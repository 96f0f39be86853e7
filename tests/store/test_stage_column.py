"""The runs table's `stage` column: what a run stores about the intermediate stage it started from
(seeds, lrs, diagnostics), round-tripped as JSON, and added to databases written before it existed."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, create_engine, inspect

from tests.store.test_db import _info, _per_example, _rows
from xlt.store.db import Store, runs

RECORD = {"checkpoint": "abc", "seed": 2, "run_seed": 2, "seed_policy": "paired", "lr": 1e-4, "head_lr": 3e-3,
          "projector_lr": 1e-4, "steps": 100, "dev": 0.7,
          "diagnostics": {"weight_change": {"embeddings": 0.005, "layer.0": 0.01}, "cka": {"en": 0.6, "de": 0.65}}}


def test_stage_record_round_trips(tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    for rid, stage in (("r1", RECORD), ("r2", None)):
        store.start_run(rid, _info())
        store.finish_run(rid, _rows(), _per_example(), {"dev_score": 0.5, "stage": stage})
    frame = store.runs_frame().set_index("run_id")
    assert frame.loc["r1", "stage"] == RECORD and frame.loc["r2", "stage"] is None


def test_an_old_database_gains_the_stage_column(tmp_path):
    path = tmp_path / "old.sqlite"
    old = MetaData()
    Table("runs", old, *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                         for c in runs.columns if c.name != "stage"])
    engine = create_engine(f"sqlite:///{path}")
    old.create_all(engine)
    with engine.begin() as c:
        c.exec_driver_sql("PRAGMA journal_mode=WAL")  # as xlt writes its SQLite files
        c.execute(old.tables["runs"].insert().values(run_id="r0", status="done", **_info()))
    engine.dispose()
    before = path.read_bytes()
    old_reader = Store(str(path), read_only=True)  # reading never writes: the column reads as NULL
    assert old_reader.runs_frame()["stage"].isna().all() and path.read_bytes() == before
    old_reader.engine.dispose()
    store = Store(str(path))
    assert "stage" in {c["name"] for c in inspect(store.engine).get_columns("runs")}
    assert store.runs_frame().loc[0, "stage"] is None and store.run_status() == {"r0": "done"}
