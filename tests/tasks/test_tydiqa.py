"""TyDiQA-GoldP: release and XTREME layouts (fixtures in the official format), language filter, hub."""

from __future__ import annotations

import pytest

from xlt.errors import DataError, XltError
from xlt.tasks.base import Answer, get_task
from xlt.tasks.tydiqa import TyDiQA

from tests.tasks.test_squad import squad_doc, write_json

EN = "The Nile is a major north-flowing river in northeastern Africa."
FI = "Helsinki on Suomen pääkaupunki ja suurin kaupunki."


def _release(root):
    """The release files: one train file for all languages, one dev (= XTREME test) file per language."""
    write_json(root / "tydiqa-goldp-v1.1-train.json", squad_doc(
        (EN, [("english--2564184389215346924-0", "Where is the Nile?", "northeastern Africa", 43)]),
        (FI, [("finnish-1245787287223094779-1", "Mikä on Suomen pääkaupunki?", "Helsinki", 0),
              ("finnish-1245787287223094779-2", "Mikä on suurin kaupunki?", "Helsinki", 0)])))
    write_json(root / "tydiqa-goldp-v1.1-dev" / "tydiqa-goldp-dev-finnish.json",
               squad_doc((FI, [("finnish--88-0", "Mikä on pääkaupunki?", "Helsinki", 0)])))
    return root


def test_spec():
    spec = get_task("tydiqa").spec
    assert set(spec.languages) == {"en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"} and len(spec.languages) == 9
    assert spec.metrics == ("squad_f1", "squad_em") and spec.main_metric == "squad_f1"
    assert spec.category == "question answering" and spec.version == "1.0"
    assert spec.splits == ("train", "dev", "test")


@pytest.mark.parametrize("nest", ["", "tydiqa"])
def test_release_layout_filters_the_combined_train_file_by_language(tmp_path, nest):
    task = TyDiQA(_release(tmp_path / nest if nest else tmp_path))
    en = task.load("train", "en")
    assert [ex.id for ex in en] == ["english--2564184389215346924-0"]
    assert en[0].answers == (Answer("northeastern Africa", 43),)
    assert len(task.load("train", "fi")) == 2
    assert task.load("test", "fi")[0].question == "Mikä on pääkaupunki?"
    assert task.load("dev", "fi") == task.load("test", "fi")  # no held-out dev: XTREME selects on GoldP dev
    assert task.available_languages("test") == ["fi"]
    assert task.available_languages("train") == list(task.spec.languages)  # the combined file serves all


@pytest.mark.parametrize("train_name", ["tydiqa.goldp.en.train.json", "tydiqa.en.train.json"],
                         ids=["utils_preprocess", "train_qa.sh"])  # XTREME writes one name and reads the other
def test_xtreme_layout_allows_repeated_train_ids(tmp_path, train_name):
    base = tmp_path / "tydiqa"
    write_json(base / "tydiqa-goldp-v1.1-train" / train_name,
               squad_doc((EN, [("0", "Where is the Nile?", "northeastern Africa", 43),
                               ("0", "Which river?", "Nile", 4)])))
    write_json(base / "tydiqa-goldp-v1.1-dev" / "tydiqa.goldp.sw.dev.json",
               squad_doc(("Nairobi ni mji mkuu wa Kenya.", [("swahili-1-0", "Mji mkuu wa Kenya?", "Nairobi", 0)])))
    task = TyDiQA(tmp_path)
    assert [ex.id for ex in task.load("train", "en")] == ["0", "0"]
    assert task.load("test", "sw")[0].answers == (Answer("Nairobi", 0),)


def test_xtreme_blanked_dev_answers_are_refused(tmp_path):
    write_json(tmp_path / "tydiqa-goldp-v1.1-dev" / "tydiqa.goldp.fi.dev.json",
               squad_doc((FI, [("fi-1", "Mikä?", "", 0)])))
    with pytest.raises(DataError, match=r"tydiqa\.goldp\.fi\.dev\.json: question 'fi-1' .*empty answer text"):
        TyDiQA(tmp_path).load("test", "fi")


def test_errors(tmp_path):
    task = TyDiQA(_release(tmp_path))
    with pytest.raises(DataError, match=r"no TyDiQA-GoldP test file for ko \(looked for .*dev-korean\.json"):
        task.load("test", "ko")
    with pytest.raises(XltError, match="unknown split for task tydiqa 'validation'"):
        task.load("validation", "en")
    with pytest.raises(DataError, match="split 'train' for language 'ru' is empty"):
        task.load("train", "ru")  # the combined train file holds no Russian question


def test_hub_filters_languages_by_id_prefix(monkeypatch):
    rows = [{"id": f"{name}-1-0", "context": EN, "question": "Q?", "answers": {"text": ["Nile"], "answer_start": [4]}}
            for name in ("english", "finnish", "english")]
    seen = []

    def fake(source, split, language, split_name):
        seen.append((source.dataset, source.config, split_name(split)))
        return rows

    monkeypatch.setattr("xlt.tasks.hub.load_hub_split", fake)
    assert len(TyDiQA().load("test", "en")) == 2 and len(TyDiQA().load("train", "fi")) == 1
    assert seen == [("google-research-datasets/tydiqa", "secondary_task", "validation"),
                    ("google-research-datasets/tydiqa", "secondary_task", "train")]
