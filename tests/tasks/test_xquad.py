"""XQuAD: the real shared files (when present), both local layouts, English-only train/dev, hub paths."""

from __future__ import annotations

import json

import pytest

import xlt.tasks.xquad as xquad_module
from xlt.errors import DataError, XltError
from xlt.tasks.base import Answer, get_task
from xlt.tasks.xquad import XQuAD

from tests.conftest import shared, shared_files
from tests.tasks.test_squad import CONTEXT, basic_doc, squad_doc, write_json

SHARED = shared("xquad")
needs_shared = shared_files("xquad/xquad.en.json")
LANGS = ["en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi", "ro"]


def test_spec():
    spec = get_task("xquad").spec
    assert list(spec.languages) == LANGS and spec.source_language == "en"
    assert spec.category == "question answering" and spec.version == "1.0"
    assert spec.metrics == ("squad_f1", "squad_em") and spec.main_metric == "squad_f1"
    assert spec.hub.dataset == "google/xquad" and len(spec.hub.revision) == 40


# -- the real files -------------------------------------------------------------------------
@needs_shared
def test_real_counts_and_first_question():
    task = XQuAD(SHARED)
    assert task.available_languages("test") == LANGS
    assert task.available_languages("train") == []  # SQuAD is not in the shared copy
    en = task.load("test", "en")
    assert len(en) == 1190
    first = en[0]
    assert first.id == "56beb4343aeaaa14008c925b"
    assert first.question == "How many points did the Panthers defense surrender?"
    assert first.answers == (Answer("308", 34),)
    assert first.context.startswith("The Panthers defense gave up just 308 points")
    assert len({ex.context for ex in en}) == 240  # 240 paragraphs
    raw = json.loads((SHARED / "xquad.en.json").read_text(encoding="utf-8"))
    assert len(raw["data"]) == 48  # 48 articles


@needs_shared
def test_real_files_are_parallel():
    task = XQuAD(SHARED)
    en = task.load("test", "en")
    for lang in ("de", "zh", "th", "ro"):
        other = task.load("test", lang)
        assert [ex.id for ex in other] == [ex.id for ex in en]
        assert all(ex.context[a.start:a.start + len(a.text)] == a.text for ex in other for a in ex.answers)
    de = task.load("test", "de")[0]
    assert de.question == "Wie viele Punkte gab die Verteidigung der Panthers ab?"
    assert de.answers == (Answer("308", 38),)


@needs_shared
def test_non_english_train_is_an_error():
    with pytest.raises(DataError, match=r"split 'train' exists only in English \(SQuAD v1\.1\), not 'de'"):
        XQuAD(SHARED).load("train", "de")
    with pytest.raises(DataError, match=r"no SQuAD v1\.1 train file"):
        XQuAD(SHARED).load("train", "en")


# -- fixtures ---------------------------------------------------------------------------------
def test_flat_layout_with_squad(tmp_path):
    write_json(tmp_path / "xquad.de.json", squad_doc((CONTEXT, [("q1", "Hauptstadt?", "Paris", 0)])))
    write_json(tmp_path / "train-v1.1.json", basic_doc())
    write_json(tmp_path / "dev-v1.1.json", basic_doc())
    task = XQuAD(tmp_path)
    assert task.available_languages("test") == ["de"] and task.available_languages("dev") == ["en"]
    assert [ex.id for ex in task.load("train", "en")] == ["q1", "q2"]
    assert task.load("dev", "en")[0].origin == f"{tmp_path / 'dev-v1.1.json'}#q1"
    assert task.load("test", "de")[0].question == "Hauptstadt?"


def test_xtreme_download_layout(tmp_path):
    write_json(tmp_path / "xquad" / "xquad.es.json", squad_doc((CONTEXT, [("q1", "¿Capital?", "Paris", 0)])))
    write_json(tmp_path / "squad" / "train-v1.1.json", basic_doc())
    task = XQuAD(tmp_path)
    assert task.available_languages("test") == ["es"] and task.available_languages("train") == ["en"]
    assert len(task.load("train", "en")) == 2 and len(task.load("test", "es")) == 1


def test_xtreme_blanked_test_answers_are_refused(tmp_path):
    write_json(tmp_path / "xquad" / "xquad.es.json", squad_doc((CONTEXT, [("q1", "¿Capital?", "", 0)])))
    with pytest.raises(DataError, match=r"xquad\.es\.json: question 'q1' .*empty answer text"):
        XQuAD(tmp_path).load("test", "es")


def test_missing_language_file_and_unknown_language(tmp_path):
    write_json(tmp_path / "xquad.de.json", basic_doc())
    with pytest.raises(DataError, match=r"no XQuAD hi file \(looked for xquad\.hi\.json, xquad/xquad\.hi\.json\)"):
        XQuAD(tmp_path).load("test", "hi")
    with pytest.raises(XltError, match="unknown language for task xquad 'fr'"):
        XQuAD(tmp_path).load("test", "fr")


# -- hub path (no network: the hub reader is replaced) ------------------------------------------
def test_hub_paths(monkeypatch):
    calls = []

    def fake(source, split, language, split_name):
        calls.append((source.dataset, source.revision, source.config and source.config.format(lang=language),
                      split_name(split)))
        return [{"id": "x", "context": CONTEXT, "question": "Q?", "answers": {"text": ["Paris"], "answer_start": [0]}}]

    monkeypatch.setattr("xlt.tasks.hub.load_hub_split", fake)
    monkeypatch.setattr(xquad_module, "load_hub_split", fake)
    task = XQuAD()
    assert task.load("test", "th")[0].origin == "google/xquad[test/th]#0"
    assert task.load("dev", "en")[0].origin == "rajpurkar/squad[dev]#0"
    assert calls == [("google/xquad", "51adfef1c1287aab1d2d91b5bead9bcfb9c68583", "xquad.th", "validation"),
                     ("rajpurkar/squad", "7b6d24c440a36b6815f21b70d25016731768db1f", "plain_text", "validation")]
    with pytest.raises(DataError, match="exists only in English"):
        task.load("train", "th")
