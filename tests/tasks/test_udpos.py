"""UD-POS: the real (truncated) shared treebanks, the treebank-concatenation rule and XTREME's tsv layout."""

from __future__ import annotations

from pathlib import Path

import pytest

import xlt.tasks.hub
import xlt.tasks.udpos  # noqa: F401  (registers the task)
from xlt.errors import DataError, XltError
from xlt.tasks import get_task
from xlt.tasks.conll import UPOS
from xlt.tasks.udpos import UdPos

from tests.conftest import shared, shared_files

SHARED = shared("ud")
needs_shared = shared_files("ud/UD_English-EWT/en_ewt-ud-dev.conllu")
# sentences / words (multiword-token lines and empty nodes skipped) of the truncated shared test files
TEST_COUNTS = dict(ar=(157, 3569), de=(369, 5638), en=(345, 5669), eu=(491, 5577), fi=(366, 4963),
                   hi=(117, 3128), id=(247, 5092), ja=(93, 1700), ko=(263, 3509), ta=(120, 1989),
                   tr=(528, 4782), yo=(183, 5179), zh=(178, 4225))


def _word(i: int, form: str, upos: str) -> str:
    return f"{i}\t{form}\t_\t{upos}\t_\t_\t0\tdep\t_\t_\n"


def _treebank(root: Path, folder: str, name: str, *sentences: list[tuple[str, str]]) -> Path:
    (root / folder).mkdir(parents=True, exist_ok=True)
    body = "".join("# text = x\n" + "".join(_word(i, f, u) for i, (f, u) in enumerate(s, 1)) + "\n"
                   for s in sentences)
    (root / folder / name).write_text(body, encoding="utf-8")
    return root


def test_spec():
    spec = get_task("udpos").spec
    assert len(spec.languages) == 38 and len(set(spec.languages)) == 38 and "en" in spec.languages
    assert spec.labels == UPOS and len(UPOS) == 17
    assert spec.category == "structured prediction" and spec.main_metric == "f1" and "accuracy" in spec.metrics
    assert spec.hub.dataset == "google/xtreme" and len(spec.hub.revision) == 40


@needs_shared
def test_shared_english_dev():
    task = get_task("udpos", SHARED)
    dev = task.load("dev", "en")
    assert (len(dev), sum(len(e.tokens) for e in dev)) == (2001, 25147)
    assert dev[0].tokens == ("From", "the", "AP", "comes", "this", "story", ":")
    assert dev[0].tags == ("ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT")
    assert dev[0].origin == f"{SHARED / 'UD_English-EWT' / 'en_ewt-ud-dev.conllu'}:5"
    assert {t for e in dev for t in e.tags} == set(UPOS)


@needs_shared
def test_shared_test_files():
    task = get_task("udpos", SHARED)
    assert task.available_languages("test") == sorted(TEST_COUNTS, key=UdPos.spec.languages.index)
    for lang, counts in TEST_COUNTS.items():
        examples = task.load("test", lang)
        assert (len(examples), sum(len(e.tokens) for e in examples)) == counts, lang
    # German "im" (multiword token 19-20 of the 2nd sentence) is read as its syntactic words "in dem"
    second = task.load("test", "de")[1]
    assert second.tokens[17:21] == ("noch", "in", "dem", "selben") and second.tags[18:20] == ("ADP", "DET")
    assert [p.name for p in task.files("test", "hi")] == ["hi_pud-ud-test.conllu"]


@needs_shared
def test_shared_empty_node_is_skipped():
    # en_ewt-ud-dev.conllu line 1602 is the empty node 8.1 "write"; the sentence keeps its 8 + N words
    sentence = next(e for e in get_task("udpos", SHARED).load("dev", "en") if e.origin.endswith(":1594"))
    assert sentence.tokens[6:9] == ("they", "like", "about")


@needs_shared
def test_train_missing_is_an_error_naming_the_expected_files():
    with pytest.raises(DataError) as err:
        get_task("udpos", SHARED).load("train", "en")
    assert "no UD-POS train file for 'en'" in str(err.value)
    assert str(SHARED / "UD_*" / "en_*-ud-train.conllu") in str(err.value)
    assert str(SHARED / "udpos" / "train-en.tsv") in str(err.value)


def test_all_treebanks_of_a_language_are_concatenated_in_file_name_order(tmp_path):
    root = _treebank(tmp_path, "UD_English-GUM", "en_gum-ud-train.conllu", [("Hi", "INTJ")])
    _treebank(root, "UD_English-EWT", "en_ewt-ud-train.conllu", [("A", "DET"), ("dog", "NOUN")], [("_", "X")])
    _treebank(root, "UD_Old_English-X", "ang_x-ud-train.conllu", [("Hwæt", "INTJ")])  # another language
    task = get_task("udpos", root)
    assert [p.name for p in task.files("train", "en")] == ["en_ewt-ud-train.conllu", "en_gum-ud-train.conllu"]
    # the all-"_" sentence (treebank without text) is dropped
    assert [e.tokens for e in task.load("train", "en")] == [("A", "dog"), ("Hi",)]
    assert [p.name for p in task.files("train", "ang")] == ["ang_x-ud-train.conllu"]
    assert task.available_languages("train") == ["en", "ang"]  # XTREME-R's languages first, then UD's others


def test_bad_conllu_names_file_and_line(tmp_path):
    root = _treebank(tmp_path, "UD_German-GSD", "de_gsd-ud-test.conllu", [("Das", "PRON"), ("Haus", "NOUNN")])
    with pytest.raises(DataError, match=r"de_gsd-ud-test\.conllu:3: unknown UPOS tag 'NOUNN'"):
        get_task("udpos", root).load("test", "de")
    path = root / "UD_German-GSD" / "de_gsd-ud-test.conllu"
    path.write_text("1\tDas\t_\tPRON\t_\t_\t0\troot\t_\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"conllu:1: expected 10 tab-separated CoNLL-U fields, found 9"):
        get_task("udpos", root).load("test", "de")


def test_xtreme_preprocessed_tsv(tmp_path):
    (tmp_path / "udpos").mkdir()
    (tmp_path / "udpos" / "train-en.tsv").write_text("The\tDET\ndog\tNOUN\n\nHi\tINTJ\n", encoding="utf-8")
    (tmp_path / "udpos" / "test-de.tsv").write_text("Das\nHaus\n", encoding="utf-8")
    task = get_task("udpos", tmp_path)
    assert [e.tags for e in task.load("train", "en")] == [("DET", "NOUN"), ("INTJ",)]
    with pytest.raises(DataError, match=r"udpos/test-de\.tsv:1: no gold label \(test/de\)"):
        task.load("test", "de")  # XTREME's label-stripped test file
    (tmp_path / "udpos" / "train-en.tsv").write_text("The\tDET\ndog\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train-en\.tsv:2: expected 2 fields as on line 1, found 1"):
        task.load("train", "en")


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("udpos").load("test", "qtd")  # a code-switching treebank (Turkish-German): no one family
    assert "unknown language for task udpos 'qtd'" in str(err.value) and "af, aii, ajp" in str(err.value)


def test_hub_config_names_and_languages_missing_from_xtreme_v1(monkeypatch):
    seen = []

    def fake(source, split, language, split_name):
        seen.append((source.dataset, source.revision, source.config.format(lang=language), split_name(split)))
        return [{"tokens": ["Das", "Haus"], "pos_tags": [10, 7]}]

    monkeypatch.setattr(xlt.tasks.hub, "load_hub_split", fake)
    [ex] = get_task("udpos").load("dev", "de")
    assert ex.tags == ("PRON", "NOUN")
    assert seen == [("google/xtreme", UdPos.spec.hub.revision, "udpos.German", "validation")]
    with pytest.raises(XltError, match="'lt' is not in google/xtreme"):
        get_task("udpos").load("test", "lt")
