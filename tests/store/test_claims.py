"""Claims: one worker per run, heartbeats, take-over of dead workers' runs, on SQLite and PostgreSQL.

The concurrency tests start real processes (one of which dies holding a claim, like kill -9) on one
SQLite file and on one PostgreSQL database, and check that every run is stored exactly once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import random
import socket
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, func, insert, inspect, select

from xlt.errors import XltError
from xlt.store.db import Store, example_scores, normalize_url, runs, scores
from xlt.study.claims import Worker

from tests.store.pg import db_url  # noqa: F401  (fixture: SQLite file, then PostgreSQL)
from tests.store.test_db import _count, _info, _per_example, _rows

HOST = socket.gethostname()


def test_claim_heartbeat_release_and_take_over(db_url):
    store = Store(db_url)
    a = Worker(store, id=f"{HOST}:{os.getppid()}:a")  # as if held by another live process
    b = Worker(store)
    assert a.claim("r1", _info())
    assert not b.claim("r1", _info())  # a is alive: b may not take it
    assert a.claim("r1", _info())  # a worker may re-claim its own run
    assert a.store.heartbeat("r1", a.id) and not store.heartbeat("r1", b.id)
    assert not store.release_run("r1", b.id)
    store.fail_run("r1", "not b's to fail", b.id)
    assert store.claims()["r1"]["status"] == "running" and store.claims()["r1"]["worker"] == a.id

    with store._write() as c:  # a stray score of a's attempt
        c.execute(insert(scores).values(run_id="r1", language="xx", split="test", metric="accuracy", value=0.0))
    assert store.release_run("r1", a.id)  # preempted: given back
    assert store.claims()["r1"]["status"] == "interrupted"
    assert not store.heartbeat("r1", a.id)  # a lost it
    assert not store.finish_run("r1", _rows(0.9), _per_example(), {}, worker=a.id)  # and may not store it
    assert _count(store, scores) == 1 and store.claims()["r1"]["status"] == "interrupted"
    assert b.claim("r1", _info(seed=7))
    assert _count(store, scores) == 0  # the take-over dropped a's partial rows
    [row] = store.runs()
    assert row["worker"] == b.id and row["seed"] == 7 and row["error"] is None
    assert store.finish_run("r1", _rows(), _per_example(), {"dev_score": 0.5}, worker=b.id)
    assert not a.claim("r1", _info()) and not Worker(store).claim("r1", _info())  # done is final
    assert _count(store, scores) == 3


def test_failed_runs_are_retried_by_the_next_launch_only(db_url):
    store = Store(db_url)
    first = Worker(store)
    assert first.claim("r1", _info())
    store.fail_run("r1", "RuntimeError: boom", first.id)
    same_launch = Worker(store, since=first.since)
    assert not same_launch.claim("r1", _info())
    time.sleep(0.01)
    assert Worker(store).claim("r1", _info())  # a later launch retries it


def _row(worker: str, heartbeat_age: float = 0.0, status: str = "running") -> dict:
    return {"status": status, "worker": worker, "heartbeat": time.time() - heartbeat_age}


def test_liveness_of_claims(tmp_path):
    w = Worker(Store(str(tmp_path / "r.sqlite")), lease_s=60)
    dead = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    zombie = mp.get_context("fork").Process(target=os._exit, args=(9,))  # exits, stays unreaped
    zombie.start()
    time.sleep(0.3)
    assert w.live(_row(w.id, heartbeat_age=1e6))  # its own claim
    assert w.live(_row(f"{HOST}:{os.getppid()}:abc"))  # a live process on this host
    assert not w.live(_row(f"{HOST}:{os.getppid()}:abc", heartbeat_age=120))  # pid reused? lease ran out
    assert not w.live(_row(f"{HOST}:{dead.pid}:abc"))  # killed: taken over at once
    assert not w.live(_row(f"{HOST}:{zombie.pid}:abc"))  # killed, not yet reaped
    assert not w.live(_row(f"{HOST}:{os.getpid()}:other"))  # an ended worker of this very process
    assert w.live(_row("node17:4242:abc", heartbeat_age=30))  # other host: trusted while fresh
    assert not w.live(_row("node17:4242:abc", heartbeat_age=61))
    assert not w.live(_row("node17:4242:abc", status="interrupted"))
    zombie.join()


def test_old_database_gains_the_claim_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    old = MetaData()
    cols = [Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
            for c in runs.columns if c.name not in ("worker", "heartbeat")]
    Table("runs", old, *cols)
    engine = create_engine(f"sqlite:///{path}")
    old.create_all(engine)
    with engine.begin() as c:
        c.execute(old.tables["runs"].insert().values(run_id="r0", status="done", **_info()))
    engine.dispose()
    store = Store(str(path))
    assert {"worker", "heartbeat"} <= {c["name"] for c in inspect(store.engine).get_columns("runs")}
    assert store.run_status() == {"r0": "done"}
    assert Worker(store).claim("r1", _info())


def test_old_database_is_read_without_being_changed(tmp_path):
    """Reading commands open an older database read-only: columns added since read as NULL, file untouched."""
    from xlt.store.db import _ADDED_COLUMNS, study_runs

    path = tmp_path / "old.sqlite"
    old = MetaData()
    Table("runs", old, *[Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                         for c in runs.columns if c.name not in _ADDED_COLUMNS])
    Table("study_runs", old, *[Column(c.name, c.type) for c in study_runs.columns])
    engine = create_engine(f"sqlite:///{path}")
    old.create_all(engine)
    with engine.begin() as c:
        c.execute(old.tables["runs"].insert().values(run_id="r0", status="done", **_info()))
        c.execute(old.tables["study_runs"].insert().values(study="s", run_id="r0"))
    engine.dispose()
    before = path.read_bytes()
    frame = Store(str(path), read_only=True).runs_frame("s")
    assert list(frame["run_id"]) == ["r0"] and frame["stage"].isna().all()
    assert (frame["protocol"] == "zero-shot").all()  # NULL protocol reads as zero-shot
    assert path.read_bytes() == before


def test_urls(tmp_path):
    assert normalize_url("results.sqlite") == "sqlite:///results.sqlite"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        assert normalize_url("postgresql://u@h:5/db") == "postgresql+psycopg://u@h:5/db"
    with pytest.raises(XltError, match=r"cannot open results database 'postgresql\+psycopg://u:\*\*\*@"):
        Store("postgresql://u:secret@127.0.0.1:1/nope")  # nothing listens on port 1; password hidden


# -- concurrency: real processes ----------------------------------------------------------------
N_RUNS, N_WORKERS, CRASHER, CRASH_AFTER = 30, 4, 3, 2


def _claim_worker(url: str, idx: int, barrier, results) -> None:
    store = Store(url)
    worker = Worker(store, heartbeat_s=0.2, poll_s=0.05)
    plan = [(SimpleNamespace(model="m", intermediate="none", stage_key=lambda: None), f"run{i:02d}", "todo") for i in range(N_RUNS)]
    finished: list[str] = []

    def execute(run, rid: str, w: Worker) -> bool:
        if not w.claim(rid, _info(seed=int(rid[3:]))):
            return False
        with w.holding(rid):
            time.sleep(random.uniform(0.0, 0.02))
            store.finish_run(rid, _rows(int(rid[3:]) / 100), _per_example(), {"dev_score": 0.1})
        finished.append(rid)
        results.put((idx, rid))
        return True

    if idx == CRASHER:  # finishes CRASH_AFTER runs and claims one more before the others start, so the
        for run, rid, _ in plan[:CRASH_AFTER]:  # crash happens however the machine schedules the workers
            execute(run, rid, worker)
        assert worker.claim(plan[CRASH_AFTER][1], _info(seed=CRASH_AFTER))
        barrier.wait()
        os._exit(9)  # dies holding the claim, no clean-up (as under kill -9)
    barrier.wait()
    worker.work(plan, execute)
    results.put((idx, None))


def test_concurrent_workers_store_every_run_once(db_url):
    Store(db_url)  # tables exist before the workers start
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(N_WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_claim_worker, args=(db_url, i, barrier, results)) for i in range(N_WORKERS)]
    for p in procs:
        p.start()
    ran, ended = [], 0
    while ended < N_WORKERS - 1:  # every finished run as it is reported, then "ended" per worker
        idx, rid = results.get(timeout=120)
        ended += rid is None
        ran += [rid] if rid else []
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0, 0, 9]
    with pytest.raises(queue.Empty):
        results.get(timeout=0.1)

    assert sorted(ran) == [f"run{i:02d}" for i in range(N_RUNS)]  # each run stored by exactly one worker
    st = Store(db_url)
    assert set(st.run_status().values()) == {"done"} and len(st.run_status()) == N_RUNS
    assert _count(st, scores) == N_RUNS * 3 and _count(st, example_scores) == N_RUNS * 2
    with st.engine.connect() as c:
        keys = c.execute(select(scores.c.run_id, scores.c.language, scores.c.split, scores.c.metric,
                                func.count()).group_by(scores.c.run_id, scores.c.language, scores.c.split,
                                                       scores.c.metric)).all()
    assert len(keys) == N_RUNS * 3 and {k[-1] for k in keys} == {1}
    by_run = {r["run_id"]: r["value"] for r in st.score_rows()}
    assert all(by_run[rid] == int(rid[3:]) / 100 for rid in by_run)
