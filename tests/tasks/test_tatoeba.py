"""Tatoeba: real LASER files (when present), gold alignment, ISO codes, line-count mismatch, hub path."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlt.errors import DataError, XltError
from xlt.tasks.base import get_task
from xlt.tasks.tatoeba import ISO3, Tatoeba

from tests.conftest import shared, shared_files

SHARED_ROOT = shared("tatoeba")
SHARED = SHARED_ROOT / "data" / "tatoeba" / "v1"
needs_shared = shared_files("tatoeba/data/tatoeba/v1/tatoeba.deu-eng.deu")
XTREME_R = ("ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru ja ka ko th sw zh kk tr et "
            "fi hu az lt pl uk ro").split()


def _pair(root: Path, code: str, src: str, eng: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"tatoeba.{code}-eng.{code}").write_text(src, encoding="utf-8")
    (root / f"tatoeba.{code}-eng.eng").write_text(eng, encoding="utf-8")
    return root


def test_spec():
    spec = get_task("tatoeba").spec
    assert list(spec.languages) == XTREME_R and len(spec.languages) == 41
    assert spec.splits == ("test",) and spec.train_source == "none: embeddings only"
    assert spec.metrics == ("retrieval_accuracy",) and spec.main_metric == "retrieval_accuracy"
    assert spec.category == "retrieval" and spec.version == "1.0" and spec.source_language == "en"
    assert len(set(ISO3.values())) == 41 and ISO3["fa"] == "pes" and ISO3["zh"] == "cmn" and ISO3["sw"] == "swh"


# -- the real files -------------------------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("data_dir", [SHARED, SHARED_ROOT], ids=["v1", "laser-root"])
def test_real_available_languages(data_dir):
    langs = Tatoeba(data_dir).available_languages()
    assert len(langs) == 44  # the XTREME Tatoeba set (az lt pl uk ro are not in the shared copy) + 8 others
    assert set(XTREME_R) - set(langs) == {"az", "lt", "pl", "uk", "ro"}
    assert langs[36:] == ["am", "hy", "kab", "km", "tt", "uz", "xh", "yue"]  # after XTREME-R's, by the task's codes


@needs_shared
@pytest.mark.parametrize("lang,n", [("de", 1000), ("fr", 1000), ("zh", 1000), ("fa", 1000), ("jv", 205), ("te", 234),
                                    ("ta", 307), ("sw", 390), ("th", 548), ("kk", 575), ("ml", 687), ("ka", 746)])
def test_real_line_counts(lang, n):
    task = Tatoeba(SHARED)
    assert len(task.load("test", lang)) == n and len(task.load_candidates(lang)) == n


@needs_shared
def test_real_first_line_and_gold_alignment():
    task = Tatoeba(SHARED)
    queries, pool = task.load("test", "de"), task.load_candidates("de")
    assert queries[0].query == "Maria sagte, sie wisse nicht, wo Tom sei."
    assert queries[0].origin == f"{SHARED / 'tatoeba.deu-eng.deu'}:1"
    by_id = {c.id: c for c in pool}
    assert by_id[queries[0].gold[0]].text == "Mary said she didn't know where Tom was."
    assert by_id[queries[1].gold[0]].text == "How long are Tom and I supposed to stay here?"
    assert all(len(q.gold) == 1 and q.gold[0] in by_id for q in queries)
    assert {c.language for c in pool} == {"en"}
    fr = task.load("test", "fr")
    assert fr[0].query == "Au commencement, Dieu créa le ciel et la terre."
    assert {c.id: c.text for c in task.load_candidates("fr")}[fr[0].gold[0]].startswith("In the beginning God created")


# -- fixtures -------------------------------------------------------------------------------
def test_gold_is_the_aligned_english_line(tmp_path):
    root = _pair(tmp_path, "pol", "Dzień dobry.\nDziękuję.\n", "Good morning.\nThank you.\n")
    task = Tatoeba(root)
    assert task.available_languages() == ["pl"]
    queries, pool = task.load("test", "pl"), task.load_candidates("pl")
    assert [(q.id, q.query, q.gold) for q in queries] == [("pl:1", "Dzień dobry.", ("en:pl:1",)),
                                                           ("pl:2", "Dziękuję.", ("en:pl:2",))]
    assert [(c.id, c.text) for c in pool] == [("en:pl:1", "Good morning."), ("en:pl:2", "Thank you.")]


def test_only_newline_ends_a_line(tmp_path):
    root = _pair(tmp_path, "ukr", "Один\u2028два\nТри\n", "One two\nThree")  # U+2028 inside a sentence
    assert [q.query for q in Tatoeba(root).load("test", "uk")] == ["Один\u2028два", "Три"]


def test_line_count_mismatch_names_both_files(tmp_path):
    root = _pair(tmp_path, "deu", "Eins\nZwei\nDrei\n", "One\nTwo\n")
    with pytest.raises(DataError, match=r"line counts differ: .*\.deu-eng\.deu has 3 lines, .*\.deu-eng\.eng has 2"):
        Tatoeba(root).load("test", "de")


def test_missing_file_unknown_language_and_english(tmp_path):
    root = _pair(tmp_path, "deu", "Eins\n", "One\n")
    (root / "tatoeba.deu-eng.eng").unlink()
    with pytest.raises(DataError, match=r"tatoeba\.deu-eng\.eng: file not found"):
        Tatoeba(root).load("test", "de")
    with pytest.raises(XltError, match="unknown language for task tatoeba 'xx'"):
        Tatoeba(root).load("test", "xx")
    with pytest.raises(XltError, match="unknown split for task tatoeba 'train'"):
        Tatoeba(root).load("train", "de")
    with pytest.raises(DataError, match="'en' has no Tatoeba pair file"):
        Tatoeba(root).load("test", "en")


def test_hub_path(monkeypatch):
    seen = []

    def fake(source, split, language, split_name):
        seen.append((source.dataset, source.revision, source.config.format(lang=language), split_name(split)))
        return [{"sentence1": "Guten Tag.", "sentence2": "Good day."}, {"sentence1": "Danke.", "sentence2": "Thanks."}]

    monkeypatch.setattr("xlt.tasks.tatoeba.load_hub_split", fake)
    task = Tatoeba()
    queries, pool = task.load("test", "de"), task.load_candidates("de")
    assert queries[1].query == "Danke." and {c.id: c.text for c in pool}[queries[1].gold[0]] == "Thanks."
    assert seen[0] == ("mteb/tatoeba-bitext-mining", "69e8f12da6e31d59addadda9a9c8a2e601a0e282", "deu-eng", "test")
