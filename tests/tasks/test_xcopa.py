"""XCOPA: the real shared files (repo layout) and XTREME's flat layout with English COPA (fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import xlt.tasks.hub
import xlt.tasks.xcopa  # noqa: F401  (registers the task)
from xlt.errors import DataError, XltError
from xlt.tasks import ChoiceExample, get_task

from tests.conftest import shared, shared_files

SHARED = shared("xcopa")
needs_shared = shared_files("xcopa/data/et/test.et.jsonl")
LANGS = "et ht id it qu sw ta th tr vi zh".split()


def _rec(premise="P", c1="A", c2="B", question="cause", label=0, **extra) -> str:
    return json.dumps({"premise": premise, "choice1": c1, "choice2": c2, "question": question, "label": label,
                       "idx": 0} | extra) + "\n"


def _flat(tmp_path: Path, name: str, body: str) -> Path:
    (tmp_path / name).write_text(body, encoding="utf-8")
    return tmp_path


def test_spec():
    spec = get_task("xcopa").spec
    assert spec.languages == tuple(LANGS) and spec.source_language == "en"
    assert spec.category == "classification" and spec.type.value == "multiple-choice"
    assert spec.main_metric == "accuracy" and spec.version == "1.0"


@needs_shared
def test_shared_counts_every_language():
    task = get_task("xcopa", SHARED)
    assert task.available_languages("test") == LANGS == task.available_languages("dev")
    for lang in LANGS:
        dev, test = task.load("dev", lang), task.load("test", lang)
        assert (len(dev), len(test)) == (100, 500), lang
        assert sum(e.label for e in test) == 250
    # upstream: th (val+test) and tr (val) say "effect" for every item; kept as released (see the module)
    assert {e.question for e in task.load("test", "th")} == {"effect"} == {e.question for e in task.load("dev", "tr")}
    assert [e.question for e in task.load("test", "et")].count("cause") == 250
    assert get_task("xcopa", SHARED / "data").load("test", "qu")[0].origin.endswith("qu/test.qu.jsonl:1")


@needs_shared
def test_shared_first_example():
    first = get_task("xcopa", SHARED).load("test", "et")[0]
    assert first == ChoiceExample("Ese oli mullikilesse mässitud.", ("See oli õrn.", "See oli väike."), 0,
                                  "cause", f"{SHARED / 'data' / 'et' / 'test.et.jsonl'}:1")
    assert get_task("xcopa", SHARED).load("dev", "et")[0].origin.endswith("val.et.jsonl:1")


@needs_shared
def test_shared_copy_has_no_english_and_no_target_train():
    task = get_task("xcopa", SHARED)
    with pytest.raises(DataError) as err:
        task.load("train", "en")
    assert str(SHARED / "data" / "en" / "train.en.jsonl") in str(err.value)
    with pytest.raises(DataError, match="XCOPA has no train split"):
        task.load("train", "et")


def test_xtreme_flat_layout_with_english_copa(tmp_path):
    root = _flat(tmp_path, "train.en.jsonl", _rec("My body cast a shadow.", "The sun rose.", "Grass was cut.") * 3)
    _flat(root, "val.en.jsonl", _rec(label=1, question="effect"))
    _flat(root, "test.en.jsonl", json.dumps({"premise": "P", "choice1": "A", "choice2": "B",
                                             "question": "effect", "idx": 1}) + "\n")
    task = get_task("xcopa", root)
    train = task.load("train", "en")
    assert len(train) == 3 and train[0].choices == ("The sun rose.", "Grass was cut.") and train[0].label == 0
    assert task.load("dev", "en")[0].label == 1
    # COPA's test labels are not public: an unlabelled split cannot be scored, so it is refused
    with pytest.raises(DataError, match=r"test\.en\.jsonl:1: no gold label \(test/en\)"):
        task.load("test", "en")


def test_superglue_copa_folder_and_label_minus_one(tmp_path):
    (tmp_path / "COPA").mkdir()
    (tmp_path / "COPA" / "val.jsonl").write_text(_rec(label=1), encoding="utf-8")
    (tmp_path / "COPA" / "test.jsonl").write_text(_rec(label=0) + _rec(label=-1), encoding="utf-8")
    assert get_task("xcopa", tmp_path).load("dev", "en")[0].label == 1
    with pytest.raises(DataError, match=r"COPA/test\.jsonl:2: no gold label"):  # -1: unlabelled
        get_task("xcopa", tmp_path).load("test", "en")


@pytest.mark.parametrize("line,message", [
    ('{"premise": "P", "choice1": ', "invalid JSON"),
    (_rec(question="why"), "question must be 'cause' or 'effect', found 'why'"),
    (_rec(label=2), "label must be 0 or 1, found 2"),
    (_rec(label=True), "label must be 0 or 1, found True"),
    (_rec(c2=""), "premise, choice1 and choice2 must be non-empty strings"),
    (json.dumps({"premise": "P", "choice1": "A", "question": "cause"}), "record lacks field(s) ['choice2']"),
])
def test_bad_records_name_file_and_line(tmp_path, line, message):
    root = _flat(tmp_path, "test.tr.jsonl", _rec() + "\n" + line.rstrip("\n") + "\n")
    with pytest.raises(DataError) as err:
        get_task("xcopa", root).load("test", "tr")
    assert f"{root / 'test.tr.jsonl'}:3: " in str(err.value) and message in str(err.value)


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("xcopa").load("test", "de")
    assert "unknown language for task xcopa 'de'" in str(err.value) and "et, ht, id" in str(err.value)


def test_hub_targets_from_xcopa_english_from_superglue(monkeypatch):
    seen = []

    def fake(source, split, language, split_name):
        seen.append((source.dataset, source.config.format(lang=language), split_name(split)))
        return [{"premise": "P", "choice1": "A", "choice2": "B", "question": "effect", "label": 1, "idx": 0}]

    monkeypatch.setattr(xlt.tasks.hub, "load_hub_split", fake)
    task = get_task("xcopa")
    assert task.load("dev", "sw")[0].question == "effect"
    assert task.load("train", "en")[0].label == 1
    assert seen == [("cambridgeltl/xcopa", "sw", "validation"), ("aps/super_glue", "copa", "train")]
