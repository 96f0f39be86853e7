"""Every released language: Tatoeba (LASER's 112), WikiANN/PAN-X (176) and UD-POS (every UD language)
accept the languages their releases cover; XTREME-R's lists stay `languages: all`; every such language
has a registry row; a release's own file code gets a hint naming the task's code."""

from __future__ import annotations


import pytest

import xlt.tasks.hub
from xlt.errors import XltError
from xlt.languages import distances_to, lookup
from xlt.study.config import TaskEntry
from xlt.study.data import TaskData
from xlt.tasks import get_task
from xlt.tasks.panx import WIKI_CODES
from xlt.tasks.tatoeba import FILE_CODES

from tests.conftest import shared, shared_files
from tests.tasks.test_udpos import _treebank

TATOEBA = shared("tatoeba")
EXTRA = ["am", "hy", "kab", "km", "tt", "uz", "xh", "yue"]  # the shared copy's non-XTREME-R languages


def test_counts_and_defaults():
    tat, panx, ud = (get_task(n).spec for n in ("tatoeba", "panx", "udpos"))
    assert (len(tat.languages), len(tat.accepted_languages)) == (41, 112) and len(set(FILE_CODES.values())) == 112
    assert (len(panx.languages), len(panx.accepted_languages)) == (48, 176)
    assert (len(ud.languages), len(ud.accepted_languages)) == (38, 188)
    assert TaskData(TaskEntry("udpos"), progress=False).languages == list(ud.languages)  # `all` = XTREME-R's


@pytest.mark.parametrize("task", ["tatoeba", "panx", "udpos"])
def test_every_released_language_has_a_registry_row(task):
    for code in get_task(task).spec.accepted_languages:
        lang = lookup(code)
        assert lang.family and lang.name and lang.script, (task, code)
        assert set(distances_to(code)) == {"syntactic", "geographic", "phonological", "genetic", "inventory",
                                           "featural"}


def test_wikiann_editions_map_to_iso_codes():
    assert lookup("gsw").genus == "Germanic"  # WikiANN's "als" is Alemannic, ISO's als is Tosk Albanian
    assert lookup("als").genus != "Germanic"
    assert (lookup("en-basiceng").iso3, lookup("be-tarask").iso3, lookup("jv-x-bms").iso3) == ("eng", "bel", "jav")


@shared_files(*(f"tatoeba/data/tatoeba/v1/tatoeba.{FILE_CODES[c]}-eng.{FILE_CODES[c]}" for c in ("kab", "am", "yue")))
def test_tatoeba_reads_non_xtreme_languages_from_the_release():
    data = TaskData(TaskEntry("tatoeba", str(TATOEBA), ("kab", "am", "yue")), progress=False)
    data.validate()
    assert {lang: len(exs) for lang, exs in data.splits["test"].items()} == {"kab": 1000, "am": 168, "yue": 1000}
    query, pool = data.splits["test"]["am"][0], data.candidates("am")
    assert query.gold == ("en:am:1",) and pool[0].id == "en:am:1" and len(pool) == 168
    assert query.origin.endswith("tatoeba.amh-eng.amh:1")
    available = TaskData(TaskEntry("tatoeba", str(TATOEBA), "available"), progress=False).languages
    assert available[-len(EXTRA):] == EXTRA and len(available) == 44


def test_release_file_codes_get_a_hint():
    with pytest.raises(XltError, match=r"unknown language\(s\) \['cat', 'glg'\]: 'cat' is written 'ca' here; "
                                       r"'glg' is written 'gl' here"):
        _ = TaskData(TaskEntry("tatoeba", None, ("cat", "glg")), progress=False).languages
    with pytest.raises(XltError, match="'als' is written 'gsw' here"):
        get_task("panx").load("test", "als")


def test_tatoeba_new_language_layout(tmp_path):
    (tmp_path / "tatoeba.cat-eng.cat").write_text("Bon dia.\nGràcies.\n", encoding="utf-8")
    (tmp_path / "tatoeba.cat-eng.eng").write_text("Good morning.\nThanks.\n", encoding="utf-8")
    task = get_task("tatoeba", tmp_path)
    assert task.available_languages() == ["ca"]
    assert [c.text for c in task.load_candidates("ca")] == ["Good morning.", "Thanks."]


def test_wikiann_edition_files_and_hub_configs(tmp_path, monkeypatch):
    raw = "als:Züri\tB-LOC\nals:isch\tO\n"
    for split in ("train", "dev", "test"):
        (tmp_path / "panx_dataset").mkdir(exist_ok=True)
        (tmp_path / "panx_dataset" / f"als-{split}").write_text(raw, encoding="utf-8")
        (tmp_path / "panx_dataset" / f"simple-{split}").write_text("simple:Paris\tB-LOC\n", encoding="utf-8")
    task = get_task("panx", tmp_path)
    assert task.available_languages() == ["en-basiceng", "gsw"]  # RELEASED order (alphabetical)
    [ex] = task.load("test", "gsw")
    assert ex.tokens == ("Züri", "isch") and ex.origin == f"{tmp_path}/panx_dataset/als-test:1"
    asked = []
    monkeypatch.setattr(xlt.tasks.hub, "load_hub_split",
                        lambda source, split, language, name: asked.append(source.config) or [
                            {"tokens": ["x"], "ner_tags": [0]}])
    assert get_task("panx").load("test", "nan")[0].origin == "unimelb-nlp/wikiann[test/nan]#0"
    assert asked == [WIKI_CODES["nan"]] == ["zh-min-nan"]


def test_ud_reads_a_non_xtreme_treebank(tmp_path):
    _treebank(tmp_path, "UD_English-EWT", "en_ewt-ud-train.conllu", [("A", "DET"), ("dog", "NOUN")])
    for split in ("train", "dev", "test"):
        _treebank(tmp_path, "UD_Catalan-AnCora", f"ca_ancora-ud-{split}.conllu", [("El", "DET"), ("gos", "NOUN")])
        _treebank(tmp_path, "UD_Turkish_German-SAGT", f"qtd_sagt-ud-{split}.conllu", [("ja", "INTJ")])
    task = get_task("udpos", tmp_path)
    assert task.available_languages() == ["ca"]  # code-switching (qtd) is not a language of the task
    assert task.load("test", "ca")[0].tags == ("DET", "NOUN")
    assert lookup("ca").family == "Indo-European"


@shared_files("ud/UD_English-EWT/en_ewt-ud-dev.conllu")
def test_ud_shared_release_keeps_xtreme_languages_first():
    langs = get_task("udpos", shared("ud")).available_languages()
    assert langs == [l for l in get_task("udpos").spec.languages if l in langs] and len(langs) == 13
