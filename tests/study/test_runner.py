"""End-to-end studies with tiny random-init models on a tiny SIB-200-layout directory."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

import xlt.study.run as runner_mod
from xlt.errors import ConfigError, DataError, XltError
from xlt.store.db import Store, example_scores, scores
from xlt.study.config import parse_study
from xlt.study.data import TaskData
from xlt.study.runner import Runner
from xlt.tasks import base as task_base
from xlt.tasks.sib200 import Sib200
from xlt.training import loop

from tests.sib_fixture import SOURCE, TARGETS, rows, write_split, write_tiny_sib200

N = 28  # rows per split and language
LANGS = [SOURCE, *TARGETS]  # eng_Latn, fra_Latn, rus_Cyrl (alphabetical, as `available` lists them)
# enough for the tiny models to learn the keyword topics (English ~0.7-1.0; not constant predictions)
TRAIN = {"max_steps": 12, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "eval_every": 4,
         "max_length": 32, "precision": "fp32"}
# one thread: tiny tensors, and OpenMP spin-waits crawl on a busy 2-core machine
RUNTIME = {"progress": False, "device": "cpu", "threads": 1}


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """`runtime.threads` sets torch's process-wide thread count; give other tests theirs back."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def sib_dir(tmp_path_factory) -> Path:
    return write_tiny_sib200(tmp_path_factory.mktemp("sib"), n=N)


def make_raw(model_dir, data_dir, seeds=(1, 2), name="tiny", languages="available", runtime=None, **train) -> dict:
    return {
        "name": name,
        "models": [str(model_dir)],
        "tasks": [{"name": "sib200", "data_dir": str(data_dir), "languages": languages}],
        "seeds": list(seeds),
        "train": {**TRAIN, **train},
        "runtime": {**RUNTIME, **(runtime or {})},
    }


def make_study(*args, **kwargs):
    return parse_study(make_raw(*args, **kwargs))


def _table(store: Store, table) -> list[dict]:
    with store.engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(select(table))]


def _values(store: Store) -> dict:
    """(run_id, language, split) -> value, and (run_id, language) -> per-example list."""
    out = {(r["run_id"], r["language"], r["split"]): r["value"] for r in _table(store, scores)}
    out.update({(r["run_id"], r["language"]): r["values"] for r in _table(store, example_scores)})
    return out


class CountingFineTune:
    """Wraps `fine_tune` in the runner; call number `interrupt_on` raises KeyboardInterrupt mid-training."""

    def __init__(self, interrupt_on: int | None = None, after_batches: int = 2):
        self.calls, self.interrupt_on, self.after_batches = 0, interrupt_on, after_batches
        self.batches_in_interrupted = 0

    def __call__(self, model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime):
        self.calls += 1
        if self.calls == self.interrupt_on:
            inner = loss_fn

            def loss_fn(m, batch):
                self.batches_in_interrupted += 1
                if self.batches_in_interrupted > self.after_batches:
                    raise KeyboardInterrupt
                return inner(m, batch)
        return loop.fine_tune(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime)


# -- end to end -----------------------------------------------------------------------------------
def test_study_end_to_end(tiny_model, sib_dir, tmp_path, monkeypatch):
    store = Store(str(tmp_path / "db" / "r.sqlite"))
    study = make_study(tiny_model, sib_dir)
    summary = Runner(study, store, progress=False).run()
    assert summary == {"runs": 2, "skipped": 0, "ran": 2}

    status = store.run_status()
    assert len(status) == 2 and set(status.values()) == {"done"}
    run_rows = {r["run_id"]: r for r in store.runs()}
    assert sorted(r["seed"] for r in run_rows.values()) == [1, 2]
    for r in run_rows.values():
        assert r["study"] == "tiny" and r["task"] == "sib200" and r["task_version"] == Sib200.spec.version
        assert r["model_revision"].startswith("local-") and r["finished_at"] is not None
        assert r["best_step"] in (4, 8, 12)
        assert r["config"]["run"]["seed"] == r["seed"]

    # one test score per language per run, plus one English dev row per run
    test_rows = store.score_rows()
    assert Counter(r["run_id"] for r in test_rows) == {rid: 3 for rid in status}
    assert {(r["run_id"], r["language"]) for r in test_rows} == {(rid, l) for rid in status for l in LANGS}
    assert all(r["n"] == N and r["metric"] == "accuracy" and 0.0 <= r["value"] <= 1.0 for r in test_rows)
    dev_rows = store.score_rows(split="dev")
    assert len(dev_rows) == 2 and {r["language"] for r in dev_rows} == {SOURCE}
    for r in dev_rows:
        assert r["value"] == pytest.approx(run_rows[r["run_id"]]["dev_score"])
        assert r["n"] == N

    # the per-example table holds 0/1 values whose mean is the stored accuracy
    acc = {(r["run_id"], r["language"]): r["value"] for r in test_rows}
    per_ex = _table(store, example_scores)
    assert len(per_ex) == len(acc)
    for r in per_ex:
        assert len(r["values"]) == N and set(r["values"]) <= {0, 1}
        assert np.mean(r["values"]) == pytest.approx(acc[(r["run_id"], r["language"])])

    # re-running does no work and changes nothing
    before = (_values(store), len(_table(store, scores)), len(_table(store, example_scores)))
    monkeypatch.setattr(runner_mod, "fine_tune", lambda *a, **k: pytest.fail("a finished run was retrained"))
    assert Runner(make_study(tiny_model, sib_dir), store, progress=False).run() == {
        "runs": 2, "skipped": 2, "ran": 0}
    assert (_values(store), len(_table(store, scores)), len(_table(store, example_scores))) == before


def test_killed_study_resumes_without_duplicates(tiny_bert, sib_dir, tmp_path, monkeypatch):
    url = str(tmp_path / "r.sqlite")
    study = make_study(tiny_bert, sib_dir, seeds=(1, 2, 3))
    ids = [rid for _, rid, _ in Runner(study, Store(url), progress=False).plan()]
    assert len(set(ids)) == 3

    ft = CountingFineTune(interrupt_on=2)
    monkeypatch.setattr(runner_mod, "fine_tune", ft)
    with pytest.raises(KeyboardInterrupt):
        Runner(study, Store(url), progress=False).run()
    assert ft.calls == 2 and ft.batches_in_interrupted == 3  # it really died in the middle of training
    store = Store(url)
    assert store.run_status() == {ids[0]: "done", ids[1]: "failed"}
    assert "KeyboardInterrupt" in {r["run_id"]: r for r in store.runs()}[ids[1]]["error"]
    assert {r["run_id"] for r in _table(store, scores)} == {ids[0]}  # nothing half-written
    first = {k: v for k, v in _values(store).items() if k[0] == ids[0]}

    monkeypatch.setattr(runner_mod, "fine_tune", ft := CountingFineTune())
    summary = Runner(make_study(tiny_bert, sib_dir, seeds=(1, 2, 3)), Store(url), progress=False).run()
    assert summary == {"runs": 3, "skipped": 1, "ran": 2} and ft.calls == 2
    store = Store(url)
    assert store.run_status() == {rid: "done" for rid in ids}
    keys = [(r["run_id"], r["language"], r["split"]) for r in _table(store, scores)]
    assert len(keys) == len(set(keys)) == 3 * (len(LANGS) + 1)
    assert len(_table(store, example_scores)) == 3 * len(LANGS)
    assert {k: v for k, v in _values(store).items() if k[0] == ids[0]} == first


def test_run_results_do_not_depend_on_earlier_runs(tiny_bert, sib_dir, tmp_path):
    torch.manual_seed(0)
    both = Store(str(tmp_path / "both.sqlite"))
    Runner(make_study(tiny_bert, sib_dir, seeds=(1, 2)), both, progress=False).run()
    torch.manual_seed(0)
    alone = Store(str(tmp_path / "alone.sqlite"))
    Runner(make_study(tiny_bert, sib_dir, seeds=(2,)), alone, progress=False).run()
    [rid] = alone.run_status()
    assert rid in both.run_status()  # the same run ...
    got = {k: v for k, v in _values(both).items() if k[0] == rid}
    assert got == _values(alone)  # ... must give the same numbers


# -- run ids ------------------------------------------------------------------------------------
def _rid(raw: dict, seed_index: int = 0) -> str:
    return _specs(raw)[seed_index].run_id


def _specs(raw: dict) -> list:
    return Runner(parse_study(raw), Store("sqlite://"), progress=False).specs()


def test_run_ids_are_deterministic(tiny_bert, sib_dir, tmp_path):
    base = make_raw(tiny_bert, sib_dir)
    rid = _rid(base)
    assert rid == _rid(make_raw(tiny_bert, sib_dir))
    assert len(rid) == 16 and int(rid, 16) >= 0
    # what determines the numbers changes the id
    assert _rid(base, 1) != rid  # seed 2
    assert _rid(make_raw(tiny_bert, sib_dir, lr=3e-5)) != rid
    assert _rid(make_raw(tiny_bert, sib_dir, max_steps=7)) != rid
    assert _rid(make_raw(tiny_bert, sib_dir, languages=["fra_Latn"])) != rid
    # the data's bytes count, not where they are: a copy is the same data, an edited file is not
    copy = tmp_path / "copy"
    shutil.copytree(sib_dir, copy)
    assert _rid(make_raw(tiny_bert, copy)) == rid
    with (copy / "fra_Latn" / "test.tsv").open("a", encoding="utf-8") as fh:
        fh.write("999\tsports\tLe match.\n")
    assert _rid(make_raw(tiny_bert, copy)) != rid
    assert dataclasses.replace(_specs(base)[0], task_version="2.0").run_id != rid  # another task version
    assert _rid(make_raw(tiny_bert, sib_dir, precision="bf16")) != rid  # another precision
    # runtime settings do not (no device is needed to compute an id)
    for change in ({"progress": True}, {"device": "auto"}, {"threads": 2}, {"eval_max_batch": 8},
                   {"eval_max_tokens": 100}, {"compile": True}):
        assert _rid(make_raw(tiny_bert, sib_dir, runtime=change)) == rid, change
    # EPAR's settings change EPAR runs only, never the plain fine-tuning run beside them
    epar = {"epar": {"push_norm": 0.5}}
    assert _rid(dict(base, method_settings=epar)) == rid
    with_epar = dict(base, methods=["epar"])
    assert _rid(dict(with_epar, method_settings=epar)) != _rid(with_epar)
    # the ids the runner plans are these, all distinct
    plan = Runner(parse_study(base), Store(str(tmp_path / "r.sqlite")), progress=False).plan()
    assert [p[1] for p in plan] == [_rid(base, 0), _rid(base, 1)]
    assert [p[2] for p in plan] == ["todo", "todo"]


def test_duplicate_grid_entries_train_once(tiny_bert, sib_dir, tmp_path, monkeypatch):
    try:
        study = make_study(tiny_bert, sib_dir, seeds=(1, 1))
    except ConfigError:
        return  # rejecting the duplicate up front is a fine fix too
    monkeypatch.setattr(runner_mod, "fine_tune", ft := CountingFineTune())
    Runner(study, Store(str(tmp_path / "r.sqlite")), progress=False).run()
    assert ft.calls == 1


def test_second_study_sharing_runs_sees_its_results(tiny_bert, sib_dir, tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    Runner(make_study(tiny_bert, sib_dir, seeds=(1,), name="first"), store, progress=False).run()
    Runner(make_study(tiny_bert, sib_dir, seeds=(1,), name="second"), store, progress=False).run()
    assert len(store.score_rows(study="second")) == len(LANGS)


# -- data problems ------------------------------------------------------------------------------
def test_test_label_outside_task_labels_names_the_file(tiny_bert, tmp_path):
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    bad = write_split(data / "fra_Latn" / "test.tsv", rows("fra_Latn", 5, start=2000) + [(9, "cooking", "Une recette.")])
    store = Store(str(tmp_path / "r.sqlite"))
    with pytest.raises(XltError) as err:
        Runner(make_study(tiny_bert, data, seeds=(1,)), store, progress=False).run()
    assert f"{bad}:7" in str(err.value) and "'cooking'" in str(err.value)
    assert store.runs() == [] and store.run_status() == {}  # found before anything was claimed or written


def test_label_missing_from_train_names_the_file(tiny_bert, tmp_path, monkeypatch):
    """For a task without a fixed label set, labels come from English train; others are errors."""
    spec = dataclasses.replace(Sib200.spec, name="sib200-open", labels=())
    monkeypatch.setitem(task_base._REGISTRY, "sib200-open", type("Sib200Open", (Sib200,), {"spec": spec}))
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    train = [r for r in rows(SOURCE, 14) if r[1] != "travel"]
    write_split(data / SOURCE / "train.tsv", train)
    write_split(data / SOURCE / "dev.tsv", [r for r in rows(SOURCE, 14, start=1000) if r[1] != "travel"])
    raw = make_raw(tiny_bert, data, seeds=(1,))
    raw["tasks"][0]["name"] = "sib200-open"
    with pytest.raises(XltError) as err:
        Runner(parse_study(raw), Store(str(tmp_path / "r.sqlite")), progress=False).run()
    msg = str(err.value)
    # first offending example: English test, line 3 (index 1 = "travel")
    assert msg.startswith(f"{data / SOURCE / 'test.tsv'}:3: label 'travel'")
    assert "does not occur in the English training data" in msg


def test_a_declared_label_missing_from_english_train_is_an_error_too(tiny_bert, tmp_path):
    """SIB-200 declares its 7 topics; a topic absent from English train must still stop the study
    (the head never learns it, so its test examples would silently all count as wrong)."""
    data = write_tiny_sib200(tmp_path / "sib", n=14)
    write_split(data / SOURCE / "train.tsv", [r for r in rows(SOURCE, 14) if r[1] != "travel"])
    write_split(data / SOURCE / "dev.tsv", [r for r in rows(SOURCE, 14, start=1000) if r[1] != "travel"])
    store = Store(str(tmp_path / "r.sqlite"))
    with pytest.raises(XltError, match="label 'travel' .* does not occur in the English training data"):
        Runner(make_study(tiny_bert, data, seeds=(1,)), store, progress=False).run()
    assert store.runs() == []


def test_task_languages_and_plan_validation(tiny_bert, sib_dir, tmp_path):
    def langs(languages):
        return TaskData(parse_study(make_raw(tiny_bert, sib_dir, languages=languages)).tasks[0]).languages

    assert langs("available") == LANGS
    assert langs(["rus_Cyrl"]) == [SOURCE, "rus_Cyrl"]  # the source is always evaluated
    assert len(langs("all")) == 205
    with pytest.raises(XltError, match="unknown language"):
        langs(["klingon"])
    store = Store(str(tmp_path / "r.sqlite"))
    raw = make_raw(tmp_path / "no-such-model", sib_dir)
    with pytest.raises(XltError, match="does not exist"):
        Runner(parse_study(raw), store, progress=False).plan()
    with pytest.raises(DataError, match="does not exist"):
        Runner(make_study(tiny_bert, tmp_path / "no-such-data"), store, progress=False).plan()
    assert store.run_status() == {}


def test_duplicate_language_in_list(tiny_bert, sib_dir, tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    try:
        Runner(make_study(tiny_bert, sib_dir, seeds=(1,), languages=["fra_Latn", "fra_Latn"]), store,
               progress=False).run()
    except XltError:
        return  # a one-line user error is a fine fix too
    assert set(store.run_status().values()) == {"done"}
    assert sorted(r["language"] for r in store.score_rows()) == [SOURCE, "fra_Latn"]


def test_all_languages_with_partial_data_dir_fails_with_missing_file(tiny_bert, sib_dir, tmp_path):
    store = Store(str(tmp_path / "r.sqlite"))
    with pytest.raises(DataError, match=r"no test file for \w+ \(expected .*test\.tsv\)"):
        Runner(make_study(tiny_bert, sib_dir, seeds=(1,), languages="all"), store, progress=False).run()


def test_an_edited_data_file_reruns_and_results_show_the_new_runs(tiny_bert, tmp_path, capsys):
    """Changed bytes are a new run; the old rows stay in the database but leave the study, and
    `xlt results` shows the current runs and says that older ones exist."""
    from xlt.cli.main import main

    data = write_tiny_sib200(tmp_path / "sib", n=14)
    store = Store(str(tmp_path / "r.sqlite"))
    first = Runner(make_study(tiny_bert, data, seeds=(1,)), store, progress=False).run()
    assert first["ran"] == 1
    write_split(data / "fra_Latn" / "test.tsv", rows("fra_Latn", 10, start=2000))  # fewer, other sentences
    again = Runner(make_study(tiny_bert, data, seeds=(1,)), store, progress=False).run()
    assert again == {"runs": 1, "skipped": 0, "ran": 1}  # not "already done"
    assert len(store.runs()) == 2 and len(store.runs(study="tiny")) == 1 and store.superseded("tiny") == 1
    old, new = sorted(store.runs(), key=lambda r: r["started_at"])
    assert old["config"]["run"]["data"] != new["config"]["run"]["data"]  # sha256 of the files read
    assert len(new["config"]["run"]["data"]) == 64 and new["config"]["data_sources"] == []  # local files only
    fra = [r for r in store.score_rows(study="tiny") if r["language"] == "fra_Latn"]
    assert [r["n"] for r in fra] == [10]  # the new test file's rows, not the old 14
    capsys.readouterr()
    assert main(["results", "--db", str(tmp_path / "r.sqlite"), "--study", "tiny"]) == 0
    assert "1 earlier run(s) of study 'tiny' are not shown" in capsys.readouterr().err
