"""MLQA: release and XTREME layouts (fixtures in the official format), SQuAD train, errors, hub paths."""

from __future__ import annotations

import pytest

import xlt.tasks.mlqa as mlqa_module
from xlt.errors import DataError, XltError
from xlt.tasks.base import Answer, get_task
from xlt.tasks.mlqa import MLQA

from tests.tasks.test_squad import basic_doc, squad_doc, write_json

DE = "Berlin ist die Hauptstadt von Deutschland. Die Stadt hat 3,6 Millionen Einwohner."
ZH = "北京是中国的首都。它有两千万人口。"


def _mlqa(root, split="test"):
    """An MLQA_V1 folder below `root` with de and zh files of `split` (same-language pairs only)."""
    qid = "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"
    write_json(root / split / f"{split}-context-de-question-de.json",
               squad_doc((DE, [(qid, "Was ist die Hauptstadt?", "Berlin", 0),
                               ("a" * 40, "Wie viele Einwohner?", "3,6 Millionen", 57)]), title="Berlin"))
    write_json(root / split / f"{split}-context-zh-question-zh.json",
               squad_doc((ZH, [(qid, "首都是哪里？", "北京", 0)])))
    write_json(root / split / f"{split}-context-de-question-zh.json",  # cross-language pair: not used
               squad_doc((DE, [(qid, "首都？", "Berlin", 0)])))
    return root


def test_spec():
    spec = get_task("mlqa").spec
    assert set(spec.languages) == {"en", "es", "de", "ar", "hi", "vi", "zh"} and len(spec.languages) == 7
    assert spec.metrics == ("mlqa_f1", "mlqa_em") and spec.main_metric == "mlqa_f1"
    assert spec.category == "question answering" and spec.version == "1.0" and spec.source_language == "en"
    assert spec.extra["evaluator_language"] == "context"


@pytest.mark.parametrize("nest", ["MLQA_V1", "mlqa/MLQA_V1", ""], ids=["release", "xtreme", "MLQA_V1-itself"])
def test_layouts(tmp_path, nest):
    _mlqa(tmp_path / nest if nest else tmp_path)
    task = MLQA(tmp_path)
    assert task.available_languages("test") == ["de", "zh"]
    de = task.load("test", "de")
    assert [ex.question for ex in de] == ["Was ist die Hauptstadt?", "Wie viele Einwohner?"]
    assert de[1].answers == (Answer("3,6 Millionen", 57),)
    assert task.load("test", "zh")[0].answers == (Answer("北京", 0),)


def test_dev_and_squad_train(tmp_path):
    _mlqa(tmp_path / "MLQA_V1", "dev")
    write_json(tmp_path / "squad" / "train-v1.1.json", basic_doc())
    task = MLQA(tmp_path)
    assert task.available_languages("dev") == ["de", "zh"] and task.available_languages("test") == []
    assert task.available_languages("train") == ["en"]
    assert len(task.load("dev", "de")) == 2 and len(task.load("train", "en")) == 2
    with pytest.raises(DataError, match=r"split 'train' exists only in English"):
        task.load("train", "de")


def test_missing_files_name_what_was_expected(tmp_path):
    _mlqa(tmp_path / "MLQA_V1")
    with pytest.raises(DataError, match=r"no MLQA test file for hi \(expected test-context-hi-question-hi\.json\)"):
        MLQA(tmp_path).load("test", "hi")
    with pytest.raises(DataError, match=r"no MLQA_V1 folder with dev/ or test/"):
        MLQA(tmp_path / "MLQA_V1" / "test").load("test", "de")
    with pytest.raises(XltError, match="unknown language for task mlqa 'fr'"):
        MLQA(tmp_path).load("test", "fr")


def test_answer_not_in_context_names_file_and_question(tmp_path):
    write_json(tmp_path / "MLQA_V1" / "test" / "test-context-de-question-de.json",
               squad_doc((DE, [("b" * 40, "Hauptstadt?", "München", 0)])))
    with pytest.raises(DataError, match=r"context-de-question-de\.json: question 'bbbb.*'München' does not occur"):
        MLQA(tmp_path).load("test", "de")


def test_hub_paths(monkeypatch):
    calls = []

    def fake(source, split, language, split_name):
        calls.append((source.dataset, source.config and source.config.format(lang=language), split_name(split)))
        return [{"id": "x", "context": DE, "question": "Q?", "answers": {"text": ["Berlin"], "answer_start": [0]}}]

    monkeypatch.setattr("xlt.tasks.hub.load_hub_split", fake)
    monkeypatch.setattr(mlqa_module, "load_hub_split", fake)
    task = MLQA()
    task.load("test", "vi"), task.load("dev", "en"), task.load("train", "en")
    assert calls == [("facebook/mlqa", "mlqa.vi.vi", "test"), ("facebook/mlqa", "mlqa.en.en", "validation"),
                     ("rajpurkar/squad", "plain_text", "train")]
