"""PAN-X / WikiANN: XTREME's raw and preprocessed layouts (fixtures only: no real WikiANN files offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

import xlt.tasks.hub
import xlt.tasks.panx  # noqa: F401  (registers the task)
from xlt.errors import DataError, XltError
from xlt.tasks import get_task
from xlt.tasks.panx import LABELS, PanX

RAW = "en:Lady\tB-PER\nen:Gaga\tI-PER\nen:sang\tO\n\nen:In\tO\nen:New\tB-LOC\nen:York\tI-LOC\n"


def _file(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def test_spec():
    spec = get_task("panx").spec
    assert len(spec.languages) == 48 and len(set(spec.languages)) == 48 and "en" in spec.languages
    assert {"qu", "pl", "uk", "az", "lt", "pa", "gu", "ro"} <= set(spec.languages)  # XTREME-R additions
    assert spec.labels == ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")
    assert spec.category == "structured prediction" and spec.main_metric == "f1"
    assert spec.hub.dataset == "unimelb-nlp/wikiann"


@pytest.mark.parametrize("relative", ["panx_dataset/en-train", "en-train", "en/train"])
def test_raw_layouts_strip_the_language_prefix(tmp_path, relative):
    path = _file(tmp_path / relative, RAW)
    examples = get_task("panx", tmp_path).load("train", "en")
    assert [e.tokens for e in examples] == [("Lady", "Gaga", "sang"), ("In", "New", "York")]
    assert examples[1].tags == ("O", "B-LOC", "I-LOC") and examples[1].origin == f"{path}:5"


def test_xtreme_preprocessed_layout_and_unlabelled_test(tmp_path):
    _file(tmp_path / "panx" / "dev-de.tsv", "Angela\tB-PER\nMerkel\tI-PER\n")
    _file(tmp_path / "panx" / "test-de.tsv", "Berlin\nist\n\ngroß\n")
    task = get_task("panx", tmp_path)
    assert task.load("dev", "de")[0].tags == ("B-PER", "I-PER")
    assert task.available_languages("test") == ["de"]
    # XTREME strips the test tags: such a file is read, but an evaluation split without gold is refused
    with pytest.raises(DataError, match=r"panx/test-de\.tsv:1: no gold label \(test/de\)"):
        task.load("test", "de")


def test_raw_files_take_precedence(tmp_path):
    _file(tmp_path / "panx_dataset" / "de-dev", "de:Bonn\tB-LOC\n")
    _file(tmp_path / "panx" / "dev-de.tsv", "Köln\tB-LOC\n")
    assert get_task("panx", tmp_path).load("dev", "de")[0].tokens == ("Bonn",)


def test_unknown_tag_missing_prefix_and_wrong_columns(tmp_path):
    path = _file(tmp_path / "sw-test", "sw:Nairobi\tB-LOC\n\nsw:Juma\tB-MISC\n")
    with pytest.raises(DataError, match=r"sw-test:3: unknown tag 'B-MISC'"):
        get_task("panx", tmp_path).load("test", "sw")
    path.write_text("sw:Nairobi\tB-LOC\nJuma\tB-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sw-test:2: expected '<lang>:<token>', found 'Juma'"):
        get_task("panx", tmp_path).load("test", "sw")
    path.write_text("sw:Nairobi\tB-LOC\nsw:Juma\tB-PER\tO\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sw-test:2: expected 2 fields as on line 1, found 3"):
        get_task("panx", tmp_path).load("test", "sw")
    path.write_text("sw:Nairobi\n", encoding="utf-8")  # raw files always carry tags, test included
    with pytest.raises(DataError, match=r"sw-test:1: expected a token and a tag"):
        get_task("panx", tmp_path).load("test", "sw")


def test_missing_file_lists_the_expected_places(tmp_path):
    with pytest.raises(DataError) as err:
        get_task("panx", tmp_path).load("train", "en")
    msg = str(err.value)
    assert "no PAN-X train file for 'en'" in msg
    assert str(tmp_path / "panx_dataset" / "en-train") in msg and str(tmp_path / "panx" / "train-en.tsv") in msg


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("panx").load("test", "xx")
    assert "unknown language for task panx 'xx'" in str(err.value) and "af, am, an, ang, ar" in str(err.value)


def test_hub_records(monkeypatch):
    record = {"tokens": ["Jakarta"], "ner_tags": [5], "langs": ["id"]}
    monkeypatch.setattr(xlt.tasks.hub, "load_hub_split", lambda source, split, language, name: [record])
    [ex] = get_task("panx").load("test", "id")
    assert ex.tags == ("B-LOC",) and ex.origin == "unimelb-nlp/wikiann[test/id]#0"
    assert PanX().from_hub_record({"tokens": ["a"], "ner_tags": ["I-ORG"]}, "o").tags == ("I-ORG",)
    assert LABELS.index("B-LOC") == 5
