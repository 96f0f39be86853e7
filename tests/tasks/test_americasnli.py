"""AmericasNLI: the real shared files (counts, first rows) and the error paths on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import xlt.tasks.americasnli  # noqa: F401  (registers the task)
import xlt.tasks.hub
from xlt.errors import DataError, XltError
from xlt.tasks import get_task

from tests.conftest import shared, shared_files

SHARED = shared("americasnli")
needs_shared = shared_files("americasnli/test/aym.tsv")
HEADER = "language\tpremise\thypothesis\tlabel\n"
TEST_COUNTS = dict(aym=750, bzd=750, cni=750, gn=750, hch=750, nah=738, oto=748, quy=750, shp=750, tar=750)
DEV_COUNTS = dict(aym=743, bzd=743, cni=658, gn=743, hch=743, nah=376, oto=222, quy=743, shp=743, tar=743)


def _dir(tmp_path: Path, split: str, lang: str, body: str) -> Path:
    (tmp_path / split).mkdir(parents=True, exist_ok=True)
    (tmp_path / split / f"{lang}.tsv").write_text(body, encoding="utf-8")
    return tmp_path


def test_spec():
    spec = get_task("americasnli").spec
    assert spec.languages == tuple("aym bzd cni gn hch nah oto quy shp tar".split())
    assert spec.category is None and spec.source_language == "en" and spec.main_metric == "accuracy"
    assert spec.labels == ("entailment", "neutral", "contradiction")


@needs_shared
@pytest.mark.parametrize("split,counts", [("test", TEST_COUNTS), ("dev", DEV_COUNTS)])
def test_shared_counts(split, counts):
    task = get_task("americasnli", SHARED)
    assert task.available_languages(split) == list(counts)
    assert {lang: len(task.load(split, lang)) for lang in counts} == counts


@needs_shared
def test_shared_first_rows():
    task = get_task("americasnli", SHARED)
    first = task.load("dev", "aym")[0]
    assert (first.text, first.text_pair, first.label) == (
        "Jupax sanwa: Mamita, utankastwa.", "Yatiñ utan awtux jaytawayki ukxpachaw mamaytapar jawsanxa.", "neutral")
    assert first.origin == f"{SHARED / 'dev' / 'aym.tsv'}:2"
    test = task.load("test", "aym")
    assert test[0].label == "contradiction" and test[0].text_pair == "Janiw mayamp jupampix parlxapxti."
    assert {e.label for e in test} == {"entailment", "neutral", "contradiction"}


def test_language_column_must_match_the_file(tmp_path):
    root = _dir(tmp_path, "test", "quy", HEADER + "quy\tP\tH\tneutral\ngn\tP\tH\tneutral\n")
    with pytest.raises(DataError, match=r"quy\.tsv:3: language column says 'gn', expected 'quy'"):
        get_task("americasnli", root).load("test", "quy")


def test_wrong_field_count_and_unknown_label(tmp_path):
    root = _dir(tmp_path, "test", "gn", HEADER + "gn\tP\tH\n")
    with pytest.raises(DataError, match=r"gn\.tsv:2: expected 4 tab-separated fields, found 3"):
        get_task("americasnli", root).load("test", "gn")
    _dir(tmp_path, "test", "gn", HEADER + "gn\tP\tH\tneutral\ngn\tP\tH\tunknown\n")
    with pytest.raises(DataError, match=r"gn\.tsv:3: label 'unknown'"):
        get_task("americasnli", root).load("test", "gn")


def test_targets_have_no_train_split_and_missing_files_are_named(tmp_path):
    root = _dir(tmp_path, "test", "gn", HEADER + "gn\tP\tH\tneutral\n")
    with pytest.raises(DataError, match="no train split for 'gn'"):
        get_task("americasnli", root).load("train", "gn")
    with pytest.raises(DataError) as err:
        get_task("americasnli", root).load("dev", "gn")
    assert str(root / "dev" / "gn.tsv") in str(err.value)


def test_english_is_read_by_the_xnli_loader_from_the_same_dir(tmp_path):
    root = _dir(tmp_path, "test", "gn", HEADER + "gn\tP\tH\tneutral\n")
    rows = [{"gold_label": "neutral", "sentence1": "An English premise.", "sentence2": "A hypothesis."}]
    (root / "multinli_1.0_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    [ex] = get_task("americasnli", root).load("train", "en")
    assert (ex.text, ex.label) == ("An English premise.", "neutral")
    with pytest.raises(DataError, match="no XNLI dev file for 'en'"):
        get_task("americasnli", root).load("dev", "en")


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("americasnli").load("test", "que")
    assert "aym, bzd, cni" in str(err.value)


def test_hub_english_comes_from_xnli(monkeypatch):
    seen = []

    def fake(source, split, language, split_name):
        seen.append((source.dataset, source.config.format(lang=language), split_name(split)))
        return [{"premise": "P", "hypothesis": "H", "label": 1}]

    monkeypatch.setattr(xlt.tasks.hub, "load_hub_split", fake)
    task = get_task("americasnli")
    assert task.load("dev", "en")[0].label == "neutral"
    assert task.load("test", "gn")[0].text_pair == "H"
    assert seen == [("facebook/xnli", "en", "validation"), ("nala-cub/americas_nli", "gn", "test")]
