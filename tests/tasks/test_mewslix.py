"""Mewsli-X: fixtures in the released JSONL formats, query/candidate text, layouts and errors (file:line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlt.errors import DataError, XltError
from xlt.tasks.base import get_task
from xlt.tasks.mewslix import MewsliX

ES = "26 de marzo de 2012\nUn fuerte sismo sacudió Chile. Según la escala de Richter, fue de 6,8 grados."
DE = "Die Stadt {Berlin} wächst. Angela Merkel sprach am Montag."


def _article(lang: str, text: str, mentions: list[tuple[str, str, str]], spans=None) -> dict:
    """One wikinews_mentions line: (example_id, entity_id, surface) mentions, located in `text`."""
    if spans is None:
        spans, start = [], 0
        for part in text.replace("\n", " ").split(". "):
            spans.append({"start": start, "end": start + len(part) + (0 if part.endswith(".") else 1)})
            start += len(part) + 2
    return {"context": {"document_id": f"{lang}-1", "document_url": "u", "document_title": "t", "language": lang,
                        "text": text, "sentence_spans": spans},
            "mentions": [{"example_id": ex, "entity_id": qid,
                          "mention_span": {"start": text.index(s), "end": text.index(s) + len(s), "text": s}}
                         for ex, qid, s in mentions]}


def _entity(qid: str, lang: str, description: str) -> dict:
    cut = description.index(". ") + 1 if ". " in description else len(description)
    spans = [{"start": 0, "end": cut}]
    if cut < len(description):
        spans.append({"start": cut + 1, "end": len(description)})
    return {"entity_id": qid, "title": qid, "description": description, "description_language": lang,
            "description_url": "u", "sentence_spans": spans}


def _jsonl(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def _dataset(root: Path) -> Path:
    _jsonl(root / "wikinews_mentions-test.jsonl", [
        _article("es", ES, [("es-m1", "Q298", "Chile"), ("es-m2", "Q38768", "escala de Richter")]),
        _article("de", DE, [("de-m1", "Q567", "Angela Merkel")])])
    _jsonl(root / "wikinews_mentions-dev.jsonl", [_article("de", DE, [("de-d1", "Q567", "Angela Merkel")])])
    _jsonl(root / "candidate_set_entities.jsonl", [
        _entity("Q298", "en", "Chile is a country in South America. Its capital is Santiago."),
        _entity("Q38768", "id", "Skala Richter atau SR didefinisikan sebagai logaritma."),
        _entity("Q567", "de", "Angela Dorothea Merkel ist eine deutsche Politikerin.")])
    pair = {"contextual_mention": {"context": _article("en", "Paris is big. It is in France.", [])["context"],
                                   "mention": {"example_id": "w1", "entity_id": "Q90",
                                               "mention_span": {"start": 0, "end": 5, "text": "Paris"}}},
            "entity": _entity("Q90", "en", "Paris is the capital of France. It is big.")}
    _jsonl(root / "wikipedia_pairs-train.jsonl", [pair, pair])
    return root


def test_spec():
    spec = get_task("mewslix").spec
    assert list(spec.languages) == ["ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk"]
    assert spec.metrics == ("map@20",) and spec.main_metric == "map@20"
    assert spec.category == "retrieval" and spec.version == "1.0" and spec.source_language == "en"


@pytest.mark.parametrize("nest", ["", "mewslix", "mewsli_x/output/dataset"])
def test_queries_candidates_and_gold(tmp_path, nest):
    _dataset(tmp_path / nest if nest else tmp_path)
    task = MewsliX(tmp_path)
    assert task.available_languages("test") == ["de", "es"] and task.available_languages("train") == ["en"]
    es = task.load("test", "es")
    assert [(q.id, q.gold) for q in es] == [("es-m1", ("Q298",)), ("es-m2", ("Q38768",))]
    # XTREME's baseline: the mention, then its sentence with the mention in braces
    assert es[0].query == "Chile: 26 de marzo de 2012 Un fuerte sismo sacudió { Chile } ."
    assert es[1].query == "escala de Richter: Según la { escala de Richter } , fue de 6,8 grados."
    assert es[0].origin.endswith("wikinews_mentions-test.jsonl:1")
    de = task.load("test", "de")[0]
    assert de.query == "Angela Merkel: { Angela Merkel } sprach am Montag."
    pool = task.load_candidates("es")
    assert [(c.id, c.language) for c in pool] == [("Q298", "en"), ("Q38768", "id"), ("Q567", "de")]
    assert pool[0].text == "Chile is a country in South America. Its capital is Santiago."
    assert pool == task.load_candidates("de")  # one pool for every language
    assert [q.id for q in task.load("dev", "de")] == ["de-d1"]


def test_braces_in_context_are_escaped(tmp_path):
    _jsonl(tmp_path / "wikinews_mentions-test.jsonl", [_article("de", DE, [("m", "Q64", "Stadt")])])
    assert MewsliX(tmp_path).load("test", "de")[0].query == "Stadt: Die { Stadt } (Berlin) wächst."


def test_english_training_pairs(tmp_path):
    task = MewsliX(_dataset(tmp_path))
    train = task.load("train", "en")
    assert len(train) == 2 and train[0].query == "Paris: { Paris } is big." and train[0].gold == ("Q90",)
    assert [c.id for c in task.load_candidates(split="train")] == ["Q90"]  # deduplicated
    with pytest.raises(DataError, match="exists only in English"):
        task.load("train", "de")


def test_released_files_without_text_are_refused(tmp_path):
    rec = _article("es", ES, [("es-m1", "Q298", "Chile")])
    rec["context"]["text"] = ""
    _jsonl(tmp_path / "wikinews_mentions-test.jsonl", [rec])
    with pytest.raises(DataError, match=r"wikinews_mentions-test\.jsonl:1: context\.text is empty.*get-mewsli-x\.sh"):
        MewsliX(tmp_path).load("test", "es")


@pytest.mark.parametrize("mutate,message", [
    (lambda r: r["mentions"][0]["mention_span"].update(start=1), r"mention 'es-m1': mention_span 'Chile' is not text"),
    (lambda r: r["mentions"][0].pop("entity_id"), r"mention 'es-m1' lacks field 'entity_id'"),
    (lambda r: r["context"].pop("language"), r"context lacks field 'language'"),
    (lambda r: r["context"]["sentence_spans"].append({"start": 5, "end": 999}), r"sentence_spans: a span lies outside"),
    (lambda r: r.pop("mentions"), r"record lacks field\(s\) \['mentions'\]"),
])
def test_bad_records_name_file_and_line(tmp_path, mutate, message):
    good = _article("de", DE, [("de-m1", "Q567", "Angela Merkel")])
    bad = _article("es", ES, [("es-m1", "Q298", "Chile")])
    mutate(bad)
    _jsonl(tmp_path / "wikinews_mentions-test.jsonl", [good, bad])
    with pytest.raises(DataError, match=r"wikinews_mentions-test\.jsonl:2: .*" + message):
        MewsliX(tmp_path).load("test", "de")


def test_bad_json_missing_files_and_unknown_language(tmp_path):
    (tmp_path / "wikinews_mentions-test.jsonl").write_text('{"context": \n', encoding="utf-8")
    with pytest.raises(DataError, match=r"wikinews_mentions-test\.jsonl:1: invalid JSON"):
        MewsliX(tmp_path).load("test", "de")
    with pytest.raises(DataError, match=r"no Mewsli-X candidate_set_entities\.jsonl file \(looked for "):
        MewsliX(tmp_path).load_candidates("de")
    with pytest.raises(XltError, match="unknown language for task mewslix 'fr'"):
        MewsliX(tmp_path).load("test", "fr")
    with pytest.raises(DataError, match="no data_dir given"):
        MewsliX().load("test", "de")
