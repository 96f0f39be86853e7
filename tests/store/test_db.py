"""Results store: atomic, idempotent run writes; resumable runs; concurrent SQLite writers."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from xlt.store.db import Store, example_scores, scores


def _info(study="s", task="sib200", seed=1, model="m") -> dict:
    return {"study": study, "model": model, "task": task, "method": "finetune", "intermediate": "none", "seed": seed}


def _rows(value=0.5, langs=("eng_Latn", "fra_Latn")) -> list[dict]:
    out = [{"language": l, "split": "test", "metric": "accuracy", "value": value, "n": 4} for l in langs]
    out.append({"language": "eng_Latn", "split": "dev", "metric": "accuracy", "value": value, "n": 4})
    return out


def _per_example(langs=("eng_Latn", "fra_Latn")) -> list[dict]:
    return [{"language": l, "metric": "accuracy", "values": [1, 0, 1, 0]} for l in langs]


def _count(store: Store, table) -> int:
    with store.engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar()


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(str(tmp_path / "r.sqlite"))


def test_sqlite_file_created_in_missing_nested_directory(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "results.sqlite"
    st = Store(str(path))
    assert path.is_file()
    assert st.run_status() == {}
    # a sqlite:/// URL works the same
    path2 = tmp_path / "x" / "y" / "r.sqlite"
    Store(f"sqlite:///{path2}")
    assert path2.is_file()


def test_finish_run_is_idempotent(store):
    store.start_run("r1", _info())
    store.finish_run("r1", _rows(0.5), _per_example(), {"dev_score": 0.5})
    store.finish_run("r1", _rows(0.75), _per_example(), {"dev_score": 0.75})
    assert store.run_status() == {"r1": "done"}
    assert _count(store, scores) == 3  # one set: 2 test + 1 dev
    assert _count(store, example_scores) == 2
    rows = store.score_rows()
    assert sorted(r["language"] for r in rows) == ["eng_Latn", "fra_Latn"]
    assert all(r["value"] == 0.75 for r in rows)  # the rewrite replaced the old values
    [run] = store.runs()
    assert run["dev_score"] == 0.75 and run["finished_at"] is not None and run["error"] is None


def test_unique_constraint_on_scores(store):
    store.start_run("r1", _info())
    store.finish_run("r1", _rows(), _per_example(), {})
    with pytest.raises(IntegrityError):
        with store.engine.begin() as c:
            c.execute(scores.insert().values(run_id="r1", language="eng_Latn", split="test",
                                             metric="accuracy", value=0.1, n=1))
    with pytest.raises(IntegrityError):
        with store.engine.begin() as c:
            c.execute(example_scores.insert().values(run_id="r1", language="eng_Latn", metric="accuracy",
                                                     values=[1]))
    assert _count(store, scores) == 3


def test_finish_run_is_atomic(store):
    """A failing write (duplicate score row) leaves neither new rows nor a 'done' status."""
    store.start_run("r1", _info())
    store.finish_run("r1", _rows(0.5), _per_example(), {"dev_score": 0.5})
    store.start_run("r2", _info(seed=2))
    bad = _rows(0.9) + [_rows(0.9)[0]]  # same (language, split, metric) twice
    with pytest.raises(IntegrityError):
        store.finish_run("r2", bad, _per_example(), {"dev_score": 0.9})
    assert store.run_status() == {"r1": "done", "r2": "running"}
    with store.engine.connect() as c:
        n_r2 = c.execute(select(func.count()).select_from(scores).where(scores.c.run_id == "r2")).scalar()
        n_ex = c.execute(select(func.count()).select_from(example_scores)
                         .where(example_scores.c.run_id == "r2")).scalar()
    assert n_r2 == 0 and n_ex == 0
    # and a failing rewrite of a done run keeps the old rows
    with pytest.raises(IntegrityError):
        store.finish_run("r1", bad, _per_example(), {})
    assert sorted(r["value"] for r in store.score_rows() if r["run_id"] == "r1") == [0.5, 0.5]


def test_start_run_never_resets_a_done_run(store):
    store.start_run("r1", _info())
    store.finish_run("r1", _rows(), _per_example(), {"dev_score": 0.5})
    [before] = store.runs()
    store.start_run("r1", _info(study="other"))
    [after] = store.runs()
    assert after["status"] == "done"
    assert after["study"] == "s" and after["started_at"] == before["started_at"]
    assert _count(store, scores) == 3 and _count(store, example_scores) == 2


def test_failed_run_is_restartable(store):
    store.start_run("r1", _info())
    store.fail_run("r1", "RuntimeError: " + "x" * 5000)
    [run] = store.runs()
    assert run["status"] == "failed" and len(run["error"]) == 4000
    store.start_run("r1", _info())
    [run] = store.runs()
    assert run["status"] == "running" and run["error"] is None and run["finished_at"] is None
    store.finish_run("r1", _rows(), _per_example(), {})
    assert store.run_status() == {"r1": "done"}
    assert _count(store, scores) == 3


def test_restarting_an_unfinished_run_drops_its_old_rows(store):
    """A 'running' row (process killed) is replaced, and its stale scores go with it (cascade)."""
    store.start_run("r1", _info())
    with store.engine.begin() as c:  # a stray score of the killed attempt
        c.execute(scores.insert().values(run_id="r1", language="xx", split="test", metric="accuracy", value=0.0))
    store.start_run("r1", _info())
    assert _count(store, scores) == 0


def test_score_rows_filters_by_study_task_and_split(store):
    for rid, study, task in [("a", "s1", "sib200"), ("b", "s1", "other"), ("c", "s2", "sib200")]:
        store.start_run(rid, _info(study=study, task=task))
        store.finish_run(rid, _rows(), _per_example(), {})
    store.start_run("d", _info(study="s1"))  # running: never reported
    assert {r["run_id"] for r in store.score_rows()} == {"a", "b", "c"}
    assert {r["run_id"] for r in store.score_rows(study="s1")} == {"a", "b"}
    assert {r["run_id"] for r in store.score_rows(task="sib200")} == {"a", "c"}
    assert {r["run_id"] for r in store.score_rows(study="s1", task="sib200")} == {"a"}
    assert store.score_rows(study="nope") == []
    dev = store.score_rows(split="dev")
    assert len(dev) == 3 and {r["language"] for r in dev} == {"eng_Latn"}
    row = store.score_rows(study="s2")[0]
    assert {"study", "model", "task", "method", "intermediate", "protocol", "seed", "run_id", "language", "metric",
            "value", "n"} == set(row)
    assert row["protocol"] == "zero-shot"  # a run stored without one (before protocols) is zero-shot
    assert [r["run_id"] for r in store.runs(study="s2")] == ["c"]


def test_frames_for_analysis(store):
    """The read API of xlt.analysis / xlt.report: DataFrames with fixed columns, finished runs only."""
    for rid, study, task in [("a", "s1", "sib200"), ("b", "s1", "other"), ("c", "s2", "sib200")]:
        store.start_run(rid, _info(study=study, task=task, seed=ord(rid)))
        per_example = _per_example() + [{"language": "eng_Latn", "metric": "f1", "values": [[1, 2, 2], [0, 1, 1]]}]
        store.finish_run(rid, _rows(), per_example, {"dev_score": 0.5})
    store.start_run("d", _info(study="s1"))  # running: in runs_frame, never in the score frames
    with store.engine.begin() as c:  # even with a stray row of an unfinished attempt
        c.execute(example_scores.insert().values(run_id="d", language="eng_Latn", metric="accuracy", values=[1]))
    store.link_study("s2", ["a", "c"])  # a run shared by two studies belongs to both

    ex = store.example_frame("s1")
    assert list(ex.columns) == ["task", "model", "method", "intermediate", "protocol", "seed", "run_id", "language",
                                "metric", "scores"]
    assert sorted(set(ex["run_id"])) == ["a", "b"] and len(ex) == 2 * 3  # 2 runs x (2 accuracy + 1 f1)
    row = ex[(ex["run_id"] == "a") & (ex["language"] == "fra_Latn")].iloc[0]
    assert (row["task"], row["seed"], row["metric"], list(row["scores"])) == ("sib200", ord("a"), "accuracy",
                                                                              [1, 0, 1, 0])
    assert ex.loc[ex["metric"] == "f1", "scores"].iloc[0] == [[1, 2, 2], [0, 1, 1]]  # counts stay as stored
    assert sorted(set(store.example_frame("s2")["run_id"])) == ["a", "c"]
    assert set(store.example_frame("s1", task="sib200")["run_id"]) == {"a"}
    assert set(store.example_frame("s1", metric="f1")["language"]) == {"eng_Latn"}
    empty = store.example_frame("nope")
    assert empty.empty and list(empty.columns) == list(ex.columns)

    sc = store.scores_frame(study="s1", task="sib200")
    assert sc.to_dict("records") == store.score_rows(study="s1", task="sib200")
    assert store.scores_frame(study="nope").empty and "value" in store.scores_frame(study="nope").columns
    runs = store.runs_frame("s1")
    assert sorted(runs["run_id"]) == ["a", "b", "d"] and set(runs["status"]) == {"done", "running"}
    assert runs.set_index("run_id").loc["a", "dev_score"] == 0.5
    assert store.runs_frame("nope").empty and "status" in store.runs_frame("nope").columns
    assert store.studies() == ["s1", "s2"]


# -- concurrency --------------------------------------------------------------------------------
def _writer(url: str, worker: int, barrier) -> None:
    barrier.wait()
    st = Store(url)
    for i in range(10):
        rid = f"w{worker}-r{i}"
        st.start_run(rid, _info(seed=i, model=f"m{worker}"))
        st.finish_run(rid, _rows(0.25 * (worker % 4)), _per_example(), {"dev_score": 0.1})


def _run_writers(url: str, n: int = 4) -> list[int]:
    ctx = mp.get_context("spawn")  # no fork of a process that has torch threads
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_writer, args=(url, w, barrier)) for w in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [p.exitcode for p in procs]


def test_concurrent_writers_on_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'db' / 'r.sqlite'}"
    Store(url)  # the file and its tables exist before the workers start
    assert _run_writers(url) == [0, 0, 0, 0]
    st = Store(url)
    status = st.run_status()
    assert len(status) == 40 and set(status.values()) == {"done"}
    assert _count(st, scores) == 40 * 3
    assert _count(st, example_scores) == 40 * 2
    assert len(st.score_rows()) == 40 * 2


def test_concurrent_writers_on_a_fresh_sqlite_file(tmp_path):
    for trial in range(3):  # the race is near-certain with a barrier; retry to make it deterministic
        url = f"sqlite:///{tmp_path / str(trial) / 'r.sqlite'}"
        codes = _run_writers(url)
        assert codes == [0, 0, 0, 0], f"trial {trial}: worker exit codes {codes}"
        assert len(Store(url).run_status()) == 40


def test_linking_a_study_makes_it_its_current_grid(store):
    """Runs a study no longer lists leave it (their rows stay); `superseded` counts the finished ones."""
    for rid in ("old", "new", "kept"):
        store.start_run(rid, _info(study="s"))
        store.finish_run(rid, _rows(), _per_example(), {})
    assert store.link_study("s", ["old", "new", "kept"]) == 0  # every claim linked its run already
    assert store.link_study("s", ["new", "kept"]) == 1  # "old" leaves the study
    assert {r["run_id"] for r in store.runs(study="s")} == {"new", "kept"}
    assert store.superseded("s") == 1 and len(store.runs()) == 3
    assert {r["run_id"] for r in store.score_rows()} == {"new", "kept"}  # no study given: current runs only
