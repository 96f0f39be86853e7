"""MasakhaNER: the real shared test sets and CoNLL-03 English, the DATE/MISC -> O and IOB2 mapping, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import xlt.tasks.masakhaner  # noqa: F401  (registers the task)
from xlt.errors import DataError, XltError
from xlt.tasks import get_task
from xlt.tasks.masakhaner import LABELS, map_tags

from tests.conftest import shared, shared_files

SHARED = shared("masakhaner")
needs_shared = shared_files("masakhaner/data/conll_2003_en/train.txt")
# sentences / tokens of the shared test sets (1.0: data/<l>/test.txt; 2.0: MasakhaNER2.0/data/<l>/test.txt)
TEST_COUNTS = dict(amh=(500, 7449), hau=(552, 16841), ibo=(638, 12645), kin=(605, 14196), lug=(407, 9841),
                   luo=(186, 5159), pcm=(600, 15731), swa=(604, 15409), wol=(539, 11682), yor=(645, 19896),
                   bam=(1274, 32024), ewe=(1001, 20442), fon=(1228, 36415), twi=(1211, 28996),
                   xho=(1633, 26326), zul=(1670, 26086))


def _file(root: Path, relative: str, body: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def test_spec():
    spec = get_task("masakhaner").spec
    assert spec.languages == tuple("amh hau ibo kin lug luo pcm swa wol yor bam ewe fon twi xho zul".split())
    assert spec.labels == LABELS and spec.category is None and spec.main_metric == "f1"
    assert spec.source_language == "en" and spec.hub is None


@needs_shared
def test_shared_test_counts():
    task = get_task("masakhaner", SHARED)
    assert task.available_languages("test") == list(TEST_COUNTS)
    assert task.available_languages("train") == []
    for lang, counts in TEST_COUNTS.items():
        examples = task.load("test", lang)
        assert (len(examples), sum(len(e.tokens) for e in examples)) == counts, lang
        assert {t for e in examples for t in e.tags} <= set(LABELS)


@needs_shared
def test_shared_first_example_and_date_mapped_to_o():
    examples = get_task("masakhaner", SHARED).load("test", "amh")
    assert examples[0].tokens[8:10] == ("ፍራንስዋ", "ዳዳ") and examples[0].tags[8:10] == ("B-PER", "I-PER")
    assert examples[0].origin == f"{SHARED / 'data' / 'amh' / 'test.txt'}:1"
    # B-DATE I-DATE in the file
    assert examples[2].tokens[4:6] == ("ባለፉት", "ዓመታት") and examples[2].tags[4:6] == ("O", "O")


@needs_shared
def test_shared_english_conll03():
    task = get_task("masakhaner", SHARED)
    loaded = {split: task.load(split, "en") for split in ("train", "dev", "test")}
    assert {split: len(examples) for split, examples in loaded.items()} == dict(train=14042, dev=3250, test=3453)
    first = loaded["train"][0]
    assert first.tokens == ("EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", ".")
    assert first.tags == ("B-ORG",) + ("O",) * 8


def test_original_conll03_iob1_with_misc_and_docstart(tmp_path):
    body = ("-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\nGerman JJ I-NP I-MISC\n"
            "call NN I-NP O\n\nPeter NNP I-NP I-PER\nBlackburn NNP I-NP I-PER\nParis NNP I-NP B-PER\n")
    _file(tmp_path, "data/conll_2003_en/train.txt", body)
    examples = get_task("masakhaner", tmp_path).load("train", "en")
    assert [e.tags for e in examples] == [("B-ORG", "O", "O", "O"), ("B-PER", "I-PER", "B-PER")]
    assert examples[1].origin.endswith("train.txt:8")


def test_map_tags():
    assert map_tags(("B-DATE", "I-LOC", "I-LOC", "O", "I-DATE", "B-ORG")) == ("O", "B-LOC", "I-LOC", "O", "O", "B-ORG")


def test_version_2_languages_are_read_from_the_2_0_folder(tmp_path):
    _file(tmp_path, "MasakhaNER2.0/data/zul/dev.txt", "UJohannesburg B-LOC\n")
    _file(tmp_path, "data/zul/dev.txt", "wrong O\n")  # not read: zul is a 2.0 language
    [ex] = get_task("masakhaner", tmp_path).load("dev", "zul")
    assert ex.tokens == ("UJohannesburg",) and ex.tags == ("B-LOC",)


def test_bad_lines_name_file_and_line(tmp_path):
    path = _file(tmp_path, "data/hau/test.txt", "Kano B-LOC\n\nBuhari B-PRODUCT\n")
    with pytest.raises(DataError, match=r"hau/test\.txt:3: unknown tag 'B-PRODUCT'"):
        get_task("masakhaner", tmp_path).load("test", "hau")
    path.write_text("Kano B-LOC\nBuhari\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"hau/test\.txt:2: expected 2 fields as on line 1, found 1"):
        get_task("masakhaner", tmp_path).load("test", "hau")
    path.write_text("Kano B-LOC\nBuhari NNP B-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"hau/test\.txt:2: expected 2 fields as on line 1, found 3"):
        get_task("masakhaner", tmp_path).load("test", "hau")


def test_missing_file_and_missing_data_dir(tmp_path):
    with pytest.raises(DataError) as err:
        get_task("masakhaner", tmp_path).load("train", "yor")
    assert str(tmp_path / "data" / "yor" / "train.txt") in str(err.value)
    with pytest.raises(XltError, match="no hub source"):
        get_task("masakhaner").load("test", "yor")


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("masakhaner").load("test", "ha")
    assert "unknown language for task masakhaner 'ha'" in str(err.value) and "amh, bam, en, ewe" in str(err.value)
