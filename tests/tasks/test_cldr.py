"""The embedded CLDR-names task: honest language list, concept-disjoint splits, determinism."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest

from xlt.errors import XltError
from xlt.tasks import cldr
from xlt.tasks.base import Example, get_task

SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def task():
    return get_task("cldr-names")


def test_spec_basics(task):
    from babel.core import get_cldr_version

    spec = task.spec
    assert spec.name == "cldr-names" and spec.source_language == "en"
    assert spec.version.endswith(f"-cldr{get_cldr_version()}")
    assert spec.labels == ("language", "territory", "currency", "unit", "time")
    assert task.hub_source() is None
    assert len(spec.languages) >= 50  # currently 100 (CLDR 47, babel 2.18)
    assert len(spec.languages) == len(set(spec.languages))
    assert {"en", "de", "ja", "zh", "ar", "hi", "ru", "sw", "am", "ko", "th"} <= set(spec.languages)


def test_language_list_matches_babel_data():
    """The hard-coded list is exactly what the selection rule gives on the installed CLDR data."""
    assert cldr.eligible_languages() == cldr._LANGUAGES


def test_splits_are_concept_disjoint():
    keys = cldr.split_keys()
    sets = {s: set(keys[s]) for s in SPLITS}
    assert all(len(sets[s]) == len(keys[s]) for s in SPLITS)
    assert not sets["train"] & sets["test"]
    assert not sets["train"] & sets["dev"]
    assert not sets["dev"] & sets["test"]
    for split in SPLITS:  # also at the level of the examples' origins
        for lang in ("en", "de", "ja"):
            origins = {e.origin.split(":", 2)[2] for e in cldr.build(split, lang)}
            others = {e.origin.split(":", 2)[2] for s in SPLITS if s != split for e in cldr.build(s, lang)}
            assert not origins & others


def test_english_sizes_and_labels(task):
    sizes = {s: len(task.load(s, "en")) for s in SPLITS}
    assert 850 <= sizes["train"] <= 3000
    assert 150 <= sizes["dev"] <= 400
    assert 300 <= sizes["test"] <= 600
    for split in SPLITS:
        counts = Counter(e.label for e in task.load(split, "en"))
        assert set(counts) == set(task.spec.labels), (split, counts)
    assert max(Counter(k[0] for k in cldr.split_keys()["test"]).values()) <= 100


def test_every_language_has_a_full_test_set(task):
    for lang in task.spec.languages:
        examples = task.load("test", lang)
        assert 250 <= len(examples) <= 600, (lang, len(examples))
        assert {e.label for e in examples} == set(task.spec.labels), lang
        assert all(isinstance(e, Example) and e.text.strip() and e.origin.startswith(f"cldr:{lang}:")
                   for e in examples)


def test_labels_unambiguous_within_a_language(task):
    for lang in ("en", "de", "th", "ms", "ja"):
        labels: dict[str, set[str]] = {}
        for split in SPLITS:
            for e in task.load(split, lang):
                labels.setdefault(e.text.casefold(), set()).add(e.label)
        assert all(len(v) == 1 for v in labels.values()), lang


def test_test_sets_are_near_parallel():
    english = {e.origin.split(":", 2)[2] for e in cldr.build("test", "en")}
    for lang in ("de", "ja", "ar", "ti"):
        keys = {e.origin.split(":", 2)[2] for e in cldr.build("test", lang)}
        assert len(keys & english) >= 0.8 * len(english), lang


def test_known_values(task):
    german_train = task.load("train", "de")
    assert Example("Deutschland", "territory", origin="cldr:de:territory:DE") in german_train
    german_test = task.load("test", "de")
    assert Example("Finnisch", "language", origin="cldr:de:language:fi") in german_test
    assert Example("US-Dollar", "currency", origin="cldr:de:currency:USD") in german_test
    assert Example("Kilometer", "unit", origin="cldr:de:unit:length-kilometer") in german_test
    assert Example("Februar", "time", origin="cldr:de:time:month:2") in german_test
    assert Example("イギリス", "territory", origin="cldr:ja:territory:GB") in task.load("test", "ja")
    assert Example("Euro", "currency", origin="cldr:en:currency:EUR") in task.load("dev", "en")


def test_deterministic_across_processes():
    """Same examples with a different hash seed in a fresh interpreter (no salted hash anywhere)."""
    code = (
        "import hashlib; from xlt.tasks import cldr; "
        "print(hashlib.sha1(repr([cldr.build(s, l) for s in ('train', 'dev', 'test') "
        "for l in ('en', 'de', 'zh')]).encode()).hexdigest())"
    )
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join(sys.path)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    here = [cldr.build(s, lang) for s in SPLITS for lang in ("en", "de", "zh")]
    import hashlib

    digests.add(hashlib.sha1(repr(here).encode()).hexdigest())
    assert len(digests) == 1


def test_data_dir_is_ignored(tmp_path):
    task = get_task("cldr-names", data_dir=tmp_path)
    assert task.load("test", "fr") == get_task("cldr-names").load("test", "fr")


def test_unknown_language_or_split_raises(task):
    with pytest.raises(XltError, match="unknown language"):
        task.load("test", "xx")
    with pytest.raises(XltError, match="unknown language"):
        task.load("test", "yo")  # a CLDR locale without enough own data
    with pytest.raises(XltError, match="unknown split"):
        task.load("validation", "en")
