"""XNLI: the original-release and XTREME layouts (fixtures; no real XNLI files are available offline)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import xlt.tasks.xnli  # noqa: F401  (registers the task)
from xlt.errors import DataError, XltError
from xlt.tasks import get_task
from xlt.tasks.xnli import LABELS, Xnli

XNLI_HEADER = ("language gold_label sentence1_binary_parse sentence2_binary_parse sentence1_parse "
               "sentence2_parse sentence1 sentence2 promptID pairID genre label1 label2 label3 label4 label5 "
               "sentence1_tokenized sentence2_tokenized match").split()


def _xnli_row(lang: str, label: str, s1: str, s2: str) -> str:
    row = dict.fromkeys(XNLI_HEADER, "_") | {"language": lang, "gold_label": label, "sentence1": s1, "sentence2": s2}
    return "\t".join(row[c] for c in XNLI_HEADER) + "\n"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """XNLI-1.0/ + multinli_1.0/ + XNLI-MT-1.0/ as the original zips unpack."""
    (tmp_path / "XNLI-1.0").mkdir()
    dev = "\t".join(XNLI_HEADER) + "\n" + _xnli_row("en", "neutral", "A man \"sleeps\".", "He rests.") \
        + _xnli_row("de", "contradiction", "Ein Mann schläft.", "Er rennt.") \
        + _xnli_row("en", "entailment", "Two dogs.", "Animals.")
    (tmp_path / "XNLI-1.0" / "xnli.dev.tsv").write_text(dev, encoding="utf-8")
    (tmp_path / "multinli_1.0").mkdir()
    rows = [{"gold_label": "entailment", "sentence1": "P1", "sentence2": "H1"},
            {"gold_label": "-", "sentence1": "P2", "sentence2": "H2"},
            {"gold_label": "contradiction", "sentence1": "P3", "sentence2": "H3"}]
    (tmp_path / "multinli_1.0" / "multinli_1.0_train.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    mt = tmp_path / "XNLI-MT-1.0" / "multinli"
    mt.mkdir(parents=True)
    (mt / "multinli.train.de.tsv").write_text("premise\thypo\tlabel\nP\tH\tcontradictory\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def xtreme(tmp_path: Path) -> Path:
    """download/xnli/ as XTREME's utils_preprocess.py writes it (csv.writer, so quotes get quoted)."""
    root = tmp_path / "download" / "xnli"
    root.mkdir(parents=True)
    for name, rows in {"train-en": [['He said "hi".', "He spoke.", "entailment"]],
                       "dev-de": [["Ein Satz.", "Noch einer.", "neutral"]],
                       "test-de": [["Ein Test.", "Ohne Label."]]}.items():
        with (root / f"{name}.tsv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter="\t").writerows(rows)
    return tmp_path / "download"


def test_spec():
    spec = get_task("xnli").spec
    assert len(spec.languages) == 15 and "en" in spec.languages and spec.source_language == "en"
    assert spec.labels == ("entailment", "neutral", "contradiction")
    assert spec.category == "classification" and spec.main_metric == "accuracy" and spec.version == "1.0"
    assert spec.hub.dataset == "facebook/xnli" and spec.hub.revision


def test_release_dev_filters_by_language(release):
    task = get_task("xnli", release)
    en = task.load("dev", "en")
    assert [(e.text, e.text_pair, e.label) for e in en] == [
        ('A man "sleeps".', "He rests.", "neutral"), ("Two dogs.", "Animals.", "entailment")]
    assert en[0].origin == f"{release / 'XNLI-1.0' / 'xnli.dev.tsv'}:2"
    assert [e.label for e in task.load("dev", "de")] == ["contradiction"]


def test_multinli_train_skips_pairs_without_gold_label(release):
    train = get_task("xnli", release).load("train", "en")
    assert [(e.text, e.label) for e in train] == [("P1", "entailment"), ("P3", "contradiction")]
    assert train[1].origin.endswith("multinli_1.0_train.jsonl:3")


def test_xnli_mt_translate_train_maps_contradictory(release):
    [ex] = get_task("xnli", release).load("train", "de")
    assert (ex.text, ex.text_pair, ex.label) == ("P", "H", "contradiction")


def test_xtreme_layout_with_csv_quoting_and_unlabelled_test(xtreme):
    for data_dir in (xtreme, xtreme / "xnli"):
        task = get_task("xnli", data_dir)
        [train] = task.load("train", "en")
        assert (train.text, train.label) == ('He said "hi".', "entailment")
        assert task.load("dev", "de")[0].label == "neutral"
        with pytest.raises(DataError, match=r"xnli/test-de\.tsv:1: no gold label \(test/de\)"):
            task.load("test", "de")  # XTREME strips the test labels: nothing to score against
    assert get_task("xnli", xtreme).available_languages("dev") == ["de"]


def test_release_files_take_precedence_over_xtreme_files(release):
    (release / "dev-en.tsv").write_text("x\ty\tneutral\n", encoding="utf-8")
    assert len(get_task("xnli", release).load("dev", "en")) == 2


def test_wrong_field_count(release, xtreme):
    with (release / "XNLI-1.0" / "xnli.dev.tsv").open("a", encoding="utf-8") as fh:
        fh.write("en\tneutral\tonly three\n")
    with pytest.raises(DataError, match=r"xnli\.dev\.tsv:5: expected 19 tab-separated fields, found 3"):
        get_task("xnli", release).load("dev", "en")
    (xtreme / "xnli" / "dev-de.tsv").write_text("a\tb\tneutral\nc\td\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"dev-de\.tsv:2: expected 3 tab-separated fields, found 2"):
        get_task("xnli", xtreme).load("dev", "de")


def test_bad_json_line(release):
    with (release / "multinli_1.0" / "multinli_1.0_train.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"gold_label": "neutral", \n')
    with pytest.raises(DataError, match=r"multinli_1\.0_train\.jsonl:4: invalid JSON"):
        get_task("xnli", release).load("train", "en")


def test_unknown_label_names_file_and_line(xtreme):
    (xtreme / "xnli" / "dev-de.tsv").write_text("a\tb\tneutral\nc\td\tmaybe\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        get_task("xnli", xtreme).load("dev", "de")
    assert f"{xtreme / 'xnli' / 'dev-de.tsv'}:2" in str(err.value) and "'maybe'" in str(err.value)


def test_missing_file_lists_the_expected_places(xtreme):
    with pytest.raises(DataError) as err:
        get_task("xnli", xtreme).load("dev", "fr")
    msg = str(err.value)
    assert "no XNLI dev file for 'fr'" in msg
    assert str(xtreme / "XNLI-1.0" / "xnli.dev.tsv") in msg and str(xtreme / "xnli" / "dev-fr.tsv") in msg


def test_unknown_language_lists_valid_ones():
    with pytest.raises(XltError) as err:
        get_task("xnli").load("test", "xx")
    assert "unknown language for task xnli 'xx'" in str(err.value) and "ar, bg, de" in str(err.value)


def test_hub_record():
    rec = {"premise": "P", "hypothesis": "H", "label": 2}
    assert Xnli().from_hub_record(rec, "hub#0").label == "contradiction" == LABELS[2]
    assert Xnli().from_hub_record(rec | {"label": -1}, "hub#1").label is None
