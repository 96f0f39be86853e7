"""Studies over QA and retrieval tasks with tiny models: every task type reaches the results DB."""

import pytest

from xlt.store.db import Store
from xlt.study.config import parse_study
from xlt.study.runner import Runner
from tests.conftest import SHARED_DATA
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
                  "train": {"max_steps": 6, "batch_size": 4, "lr": 1e-3, "max_length": 48, "threads": 1,
                            "progress": False}}, tmp_path)
    rows = store.score_rows(study="qa")
    assert {(r["language"], r["metric"]) for r in rows} == {
        (l, m) for l in ("en", "de") for m in ("squad_f1", "squad_em")}
    assert all(0.0 <= r["value"] <= 1.0 and r["n"] == 6 for r in rows)
    f1 = {r["language"]: r["value"] for r in rows if r["metric"] == "squad_f1"}
    em = {r["language"]: r["value"] for r in rows if r["metric"] == "squad_em"}
    assert all(f1[l] >= em[l] for l in f1)  # token F1 is never below exact match


@pytest.mark.skipif(SHARED_DATA is None, reason="shared Tatoeba files not found")
def test_retrieval_study_needs_no_training(tiny_model, tmp_path):
    store = _run({"name": "tat", "models": [str(tiny_model)], "seeds": [1],
                  "tasks": [{"name": "tatoeba", "data_dir": str(SHARED_DATA / "tatoeba"), "languages": ["jv", "te"]}],
                  "train": {"max_length": 64, "threads": 1, "progress": False}}, tmp_path)
    rows = {r["language"]: r for r in store.score_rows(study="tat")}
    assert set(rows) == {"jv", "te"}  # English is the pivot, not an evaluation language
    assert rows["jv"]["n"] == 205 and rows["te"]["n"] == 234
    assert all(r["metric"] == "retrieval_accuracy" and 0.0 <= r["value"] <= 1.0 for r in rows.values())
    [run] = store.runs(study="tat")
    assert run["train_seconds"] == 0.0 and run["status"] == "done"
