"""Studies over QA and retrieval tasks with tiny models: every task type reaches the results DB."""

import json
from pathlib import Path

import pytest

from xlt.store.db import Store
from xlt.study.config import parse_study
from xlt.study.runner import Runner
from tests.conftest import SHARED_DATA, shared_files
from tests.tasks.test_squad import squad_doc, write_json

CITIES = [("Paris", "France"), ("Berlin", "Germany"), ("Rome", "Italy"), ("Madrid", "Spain"),
          ("Lisbon", "Portugal"), ("Vienna", "Austria"), ("Oslo", "Norway"), ("Athens", "Greece")]


def _qa_file(path, lang_word: str, n: int):
    paragraphs = []
    for i, (city, country) in enumerate(CITIES[:n]):
        ctx = f"{city} is the capital of {country}. It is a large city {lang_word}."
        paragraphs.append((ctx, [(f"q{i}", f"What is the capital of {country}?", city, 0)]))
    write_json(path, squad_doc(*paragraphs))


def _run(study_raw: dict, tmp_path) -> Store:
    store = Store(str(tmp_path / "r.sqlite"))
    study_raw = {**study_raw, "runtime": {"threads": 1, "progress": False}}
    Runner(parse_study(study_raw), store, progress=False).run()
    return store


def test_qa_study_scores_em_and_f1_per_language(tiny_model, tmp_path):
    data = tmp_path / "xquad"
    _qa_file(data / "train-v1.1.json", "indeed", 8)
    _qa_file(data / "dev-v1.1.json", "indeed", 4)
    _qa_file(data / "xquad.en.json", "indeed", 6)
    _qa_file(data / "xquad.de.json", "wirklich", 6)
    store = _run({"name": "qa", "models": [str(tiny_model)], "seeds": [1],
                  "tasks": [{"name": "xquad", "data_dir": str(data), "languages": ["de"]}],
                  "train": {"max_steps": 6, "batch_size": 4, "lr": 1e-3, "max_length": 48}}, tmp_path)
    rows = store.score_rows(study="qa")
    assert {(r["language"], r["metric"]) for r in rows} == {
        (l, m) for l in ("en", "de") for m in ("squad_f1", "squad_em")}
    assert all(0.0 <= r["value"] <= 1.0 and r["n"] == 6 for r in rows)
    f1 = {r["language"]: r["value"] for r in rows if r["metric"] == "squad_f1"}
    em = {r["language"]: r["value"] for r in rows if r["metric"] == "squad_em"}
    assert all(f1[l] >= em[l] for l in f1)  # token F1 is never below exact match
    # leaderboard export: {question id: answer} per language
    from xlt.report.export import export

    written = export(store, "qa", str(tiny_model), tmp_path / "sub")
    assert sorted(Path(p).name for p in written["xquad"]) == ["test-de.json", "test-en.json"]
    answers = json.loads((tmp_path / "sub" / "xquad" / "test-de.json").read_text(encoding="utf-8"))
    assert sorted(answers) == [f"q{i}" for i in range(6)] and all(isinstance(a, str) for a in answers.values())


@shared_files("tatoeba/data/tatoeba/v1/tatoeba.jav-eng.jav", "tatoeba/data/tatoeba/v1/tatoeba.tel-eng.tel")
def test_retrieval_study_needs_no_training(tiny_model, tmp_path):
    store = _run({"name": "tat", "models": [str(tiny_model)], "seeds": [1],
                  "tasks": [{"name": "tatoeba", "data_dir": str(SHARED_DATA / "tatoeba"), "languages": ["jv", "te"]}],
                  "train": {"max_length": 64}}, tmp_path)
    rows = {r["language"]: r for r in store.score_rows(study="tat")}
    assert set(rows) == {"jv", "te"}  # English is the pivot, not an evaluation language
    assert rows["jv"]["n"] == 205 and rows["te"]["n"] == 234
    assert all(r["metric"] == "retrieval_accuracy" and 0.0 <= r["value"] <= 1.0 for r in rows.values())
    [run] = store.runs(study="tat")
    assert run["train_seconds"] == 0.0 and run["status"] == "done"
    # export: one retrieved index per English sentence; correct where it is the aligned line
    from xlt.report.export import export

    written = export(store, "tat", str(tiny_model), tmp_path / "sub")
    assert sorted(Path(p).name for p in written["tatoeba"]) == ["test-jv.tsv", "test-te.tsv"]
    for lang in ("jv", "te"):
        lines = (tmp_path / "sub" / "tatoeba" / f"test-{lang}.tsv").read_text().splitlines()
        assert len(lines) == rows[lang]["n"]
        accuracy = sum(int(v) == j for j, v in enumerate(lines)) / len(lines)
        assert accuracy == pytest.approx(rows[lang]["value"])


def test_lareqa_study_exports_rankings_that_reproduce_map(tiny_model, tmp_path):
    from tests.tasks.test_lareqa import _xquad_r
    from xlt.metrics.retrieval import average_precision_at_k
    from xlt.report.export import export
    from xlt.tasks import get_task

    data = _xquad_r(tmp_path / "lareqa", ["en", "de", "ar"])
    store = _run({"name": "lq", "models": [str(tiny_model)], "seeds": [1],
                  "tasks": [{"name": "lareqa", "data_dir": str(data), "languages": "available"}],
                  "train": {"max_length": 48}}, tmp_path)
    export(store, "lq", str(tiny_model), tmp_path / "sub")
    task = get_task("lareqa", str(data))
    for row in store.score_rows(study="lq"):
        ranked = json.loads((tmp_path / "sub" / "lareqa" / f"test-{row['language']}.json").read_text())
        queries = task.load("test", row["language"])
        assert sorted(ranked) == sorted(q.id for q in queries)
        assert all(len(r) == 6 for r in ranked.values())  # a pool of 6 sentences: fewer than 20
        ap = [average_precision_at_k(ranked[q.id], q.gold, 20) for q in queries]
        assert sum(ap) / len(ap) == pytest.approx(row["value"])


def _link(dest, src):
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.symlink_to(src)


@shared_files("ud/UD_English-EWT/en_ewt-ud-dev.conllu", "ud/UD_English-EWT/en_ewt-ud-test.conllu",
              "ud/UD_German-GSD/de_gsd-ud-test.conllu", "masakhaner/data/yor/test.txt")
def test_tagging_studies_score_seqeval_f1(tiny_model, tmp_path):
    ud = tmp_path / "ud"  # EWT dev as the English training set, EWT test as dev (EWT train is not shared)
    shared_ud = SHARED_DATA / "ud"
    _link(ud / "en_ewt-ud-train.conllu", shared_ud / "UD_English-EWT" / "en_ewt-ud-dev.conllu")
    _link(ud / "en_ewt-ud-dev.conllu", shared_ud / "UD_English-EWT" / "en_ewt-ud-test.conllu")
    _link(ud / "en_ewt-ud-test.conllu", shared_ud / "UD_English-EWT" / "en_ewt-ud-test.conllu")
    _link(ud / "de_gsd-ud-test.conllu", shared_ud / "UD_German-GSD" / "de_gsd-ud-test.conllu")
    train = {"max_steps": 4, "batch_size": 8, "lr": 1e-3, "max_length": 64, "max_train_examples": 64}
    store = _run({"name": "tag", "models": [str(tiny_model)], "seeds": [1], "train": train, "tasks": [
        {"name": "udpos", "data_dir": str(ud), "languages": ["de"]},
        {"name": "masakhaner", "data_dir": str(SHARED_DATA / "masakhaner"), "languages": ["yor"]}]}, tmp_path)
    rows = store.score_rows(study="tag")
    got = {(r["task"], r["language"], r["metric"]) for r in rows}
    assert {("udpos", "de", "f1"), ("udpos", "en", "f1"), ("masakhaner", "yor", "f1")} <= got
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    # per-sentence sufficient statistics are stored so F1 can be bootstrapped over sentences
    from sqlalchemy import select

    from xlt.store.db import example_scores
    with store.engine.connect() as c:
        stats = c.execute(select(example_scores.c["values"]).where(example_scores.c.metric == "f1")).scalars().first()
    assert all(len(s) == 3 and s[0] <= min(s[1], s[2]) for s in stats)
    from xlt.report.export import export

    export(store, "tag", str(tiny_model), tmp_path / "sub")
    blocks = (tmp_path / "sub" / "masakhaner" / "test-yor.tsv").read_text(encoding="utf-8").split("\n\n")
    from xlt.tasks import get_task

    gold = get_task("masakhaner", SHARED_DATA / "masakhaner").load("test", "yor")
    assert len([b for b in blocks if b.strip()]) == len(gold)
    assert len(blocks[0].splitlines()) == len(gold[0].tokens)  # one tag per token


@shared_files("xcopa/data/et/test.et.jsonl")
def test_multiple_choice_study(tiny_model, tmp_path):
    import json

    data = tmp_path / "xcopa"
    _link(data / "data" / "et" / "test.et.jsonl", SHARED_DATA / "xcopa" / "data" / "et" / "test.et.jsonl")
    items = [{"premise": f"The man number {i} fell.", "choice1": "He slipped.", "choice2": "He sang.",
              "question": "cause", "label": 0, "idx": i} for i in range(12)]
    for split in ("train", "val", "test"):
        (data / "en").mkdir(parents=True, exist_ok=True)
        (data / "en" / f"{split}.en.jsonl").write_text("\n".join(map(json.dumps, items)), encoding="utf-8")
    store = _run({"name": "mc", "models": [str(tiny_model)], "seeds": [1],
                  "tasks": [{"name": "xcopa", "data_dir": str(data), "languages": ["et"]}],
                  "train": {"max_steps": 4, "batch_size": 4, "lr": 1e-3}}, tmp_path)
    rows = {r["language"]: r for r in store.score_rows(study="mc")}
    assert rows["et"]["n"] == 500 and rows["et"]["metric"] == "accuracy"
    assert 0.0 <= rows["et"]["value"] <= 1.0
