"""Typological and resource columns of the registry: basic word order and adposition order (URIEL via
lang2vec, with the source that decided), the Joshi et al. 2020 resource class (shipped table), and
grouping by any registry column."""

from __future__ import annotations

import pytest

from xlt.errors import XltError
from xlt.languages import GROUPINGS, LANGUAGES_TSV, _read_tsv, _table, group_column, groups_of, lookup

JOSHI_TSV = LANGUAGES_TSV.parent / "joshi2020_classes.tsv"

# Classes as lang2tax.txt gives them (checked against the table's copy named in the data file's header); the
# examples of Joshi et al.'s Figure/Table of classes are among them (English, Russian, Indonesian, Zulu, Cherokee).
JOSHI = {"en": 5, "es": 5, "de": 5, "ja": 5, "fr": 5, "ar": 5, "zh": 5, "ru": 4, "hi": 4, "ko": 4, "nl": 4, "hu": 4,
         "vi": 4, "id": 3, "uk": 3, "he": 3, "af": 3, "ceb": 3, "sw": 2, "zu": 2, "yo": 2, "ga": 2, "lo": 2, "mt": 2,
         "kok": 2, "ht": 2, "chr": 1, "fj": 1, "bho": 1, "cy": 1, "te": 1, "qu": 1, "fon": 0, "mni": 0, "pcm": 0}


@pytest.mark.parametrize("code,cls", sorted(JOSHI.items()))
def test_joshi_classes(code, cls):
    assert lookup(code).resource == cls


def test_languages_the_table_does_not_name_have_no_class():
    # Dholuo and Kabuverdianu are not in lang2tax.txt: unknown, never silently class 0
    assert lookup("luo").resource is None and lookup("kea").resource is None
    assert groups_of(["luo"], "resource") == {"luo": ""}


def test_joshi_table_integrity():
    rows = _read_tsv(JOSHI_TSV)
    codes = [r["iso639_3"] for r in rows]
    assert len(codes) == len(set(codes)) > 200
    assert set(codes) <= set(_table().rows), "every row maps to a registry language"
    assert {r["joshi_class"] for r in rows} == set("012345")
    assert all(r["lang2tax_name"] == r["lang2tax_name"].lower().strip() for r in rows)
    header = JOSHI_TSV.read_text(encoding="utf-8").split("\niso639_3\t")[0]
    assert "lang2tax.txt" in header and "2020.acl-main.560" in header and "Licence" in header


@pytest.mark.parametrize("code,order,adp", [
    ("en", "SVO", "prepositions"), ("fr", "SVO", "prepositions"), ("ja", "SOV", "postpositions"),
    ("hi", "SOV", "postpositions"), ("tr", "SOV", "postpositions"), ("ko", "SOV", "postpositions"),
    ("ar", "VSO", "prepositions"), ("ga", "VSO", "prepositions"), ("cy", "VSO", "prepositions"),
    ("sw", "SVO", "prepositions"), ("eu", "SOV", "postpositions")])
def test_word_order_and_adposition(code, order, adp):
    lang = lookup(code)
    assert (lang.word_order, lang.adposition) == (order, adp)


def test_word_order_source_is_recorded():
    rows = _table().rows.values()
    assert {r["word_order_source"] for r in rows} <= {"wals", "sswl", "ethnologue", "knn", ""}
    assert {r["adposition_source"] for r in rows} <= {"wals", "sswl", "ethnologue", "knn", ""}
    assert _table().rows["eng"]["word_order_source"] == "wals"
    assert any(r["word_order_source"] == "knn" for r in rows), "some languages need the kNN fallback"
    # no value without a source, no source without a value
    assert all(bool(r["word_order"]) == bool(r["word_order_source"]) for r in rows)
    # languages URIEL lacks have neither
    assert (lookup("nah").word_order, _table().rows["nah"]["word_order_source"]) == ("", "")


@pytest.mark.parametrize("by", sorted(GROUPINGS))
def test_group_by_each_named_grouping(by):
    got = groups_of(["en", "ja", "sw", "zh_Hant"], by)
    expected = {"family": "Indo-European", "genus": "Germanic", "word-order": "SVO", "adposition": "prepositions",
                "script": "Latn", "resource": "5"}[by]
    assert got["en"] == expected
    assert set(got) == {"en", "ja", "sw", "zh_Hant"}
    assert len(set(got.values())) > 1, f"{by} separates these languages"


def test_group_by_any_registry_column():
    assert groups_of(["en", "de"], "word_order_source") == {"en": "wals",
                                                              "de": groups_of(["de"], "word-order-source")["de"]}
    assert groups_of(["zh_Hant", "zh"], "script") == {"zh_Hant": "Hant", "zh": "Hans"}
    assert group_column("word-order") == "word_order"


def test_unknown_grouping_lists_the_valid_ones():
    with pytest.raises(XltError) as e:
        groups_of(["en"], "continent")
    msg = str(e.value)
    assert "continent" in msg and "word-order" in msg and "resource" in msg and "\n" not in msg
