"""SIB-200 loading (real shared files when present) and the error paths of the file readers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlt.errors import DataError, XltError
from xlt.tasks import get_task
from xlt.tasks.formats import read_jsonl, read_tsv
from xlt.tasks.sib200 import Sib200

from tests.conftest import SHARED_DATA

SHARED_ROOT = (SHARED_DATA or Path("/nonexistent")) / "sib-200"
SHARED = SHARED_ROOT / "data" / "annotated"
needs_shared = pytest.mark.skipif(
    not (SHARED / "eng_Latn" / "train.tsv").is_file(),
    reason=f"real SIB-200 files not found under {SHARED}",
)

LABELS = {"science/technology", "travel", "politics", "sports", "health", "entertainment", "geography"}
HEADER = "index_id\tcategory\ttext\n"


def _sib_dir(tmp_path: Path, lang: str, split: str, body: str) -> Path:
    """A SIB-200 layout with one file `<tmp>/sib/<lang>/<split>.tsv` holding `body` verbatim."""
    path = tmp_path / "sib" / lang / f"{split}.tsv"
    path.parent.mkdir(parents=True)
    path.write_text(body, encoding="utf-8")
    return tmp_path / "sib"


# -- spec -------------------------------------------------------------------------------------
def test_spec_languages_and_labels():
    spec = get_task("sib200").spec
    assert len(spec.languages) == 205
    assert len(set(spec.languages)) == 205
    assert spec.source_language == "eng_Latn" and "eng_Latn" in spec.languages
    assert set(spec.labels) == LABELS and len(spec.labels) == 7
    assert spec.main_metric == "accuracy"


def test_available_languages_without_data_dir_is_the_full_list():
    assert Sib200().available_languages("test") == list(Sib200.spec.languages)


# -- the real files ---------------------------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("split,n", [("train", 701), ("dev", 99), ("test", 204)])
def test_local_counts_eng(split, n):
    examples = get_task("sib200", SHARED).load(split, "eng_Latn")
    assert len(examples) == n
    assert {ex.label for ex in examples} <= LABELS
    assert all(ex.text and ex.text_pair is None for ex in examples)


@needs_shared
def test_first_train_row_and_origin():
    first = get_task("sib200", SHARED).load("train", "eng_Latn")[0]
    assert first.label == "geography"
    assert first.text.startswith("Turkey is encircled by seas on three sides")
    # origin names the file and the (1-based, header = line 1) line
    assert first.origin == f"{SHARED / 'eng_Latn' / 'train.tsv'}:2"


@needs_shared
@pytest.mark.parametrize("data_dir", [SHARED, SHARED_ROOT], ids=["annotated", "repo-root"])
def test_available_languages_on_shared_dir(data_dir):
    langs = get_task("sib200", data_dir).available_languages("test")
    assert len(langs) == 84
    assert "eng_Latn" in langs
    assert set(langs) <= set(Sib200.spec.languages)
    # the shared copy ships train/dev for every language it has (translate-train / few-shot material)
    assert "eng_Latn" in get_task("sib200", data_dir).available_languages("train")


@needs_shared
def test_every_shared_test_file_loads_and_is_parallel():
    task = get_task("sib200", SHARED)
    langs = task.available_languages("test")
    labels_eng = [ex.label for ex in task.load("test", "eng_Latn")]
    assert len(labels_eng) == 204
    for lang in langs:
        exs = task.load("test", lang)
        assert len(exs) == 204, lang
        assert [ex.label for ex in exs] == labels_eng, f"{lang} test set is not parallel to eng_Latn"


# -- malformed files --------------------------------------------------------------------------
def test_wrong_field_count_names_file_and_line(tmp_path):
    body = HEADER + "1\ttravel\tA fine trip.\n2\tsports\n3\thealth\tThe doctor.\n"
    root = _sib_dir(tmp_path, "eng_Latn", "train", body)
    with pytest.raises(DataError) as err:
        get_task("sib200", root).load("train", "eng_Latn")
    path = root / "eng_Latn" / "train.tsv"
    assert f"{path}:3:" in str(err.value)
    assert "expected 3 tab-separated fields, found 2" in str(err.value)
    assert err.value.line == 3 and Path(err.value.path) == path


def test_extra_field_and_blank_lines_keep_physical_line_numbers(tmp_path):
    body = HEADER + "1\ttravel\tA trip.\n\n\n2\tsports\tA match.\textra\n"
    root = _sib_dir(tmp_path, "eng_Latn", "dev", body)
    with pytest.raises(DataError, match=r"dev\.tsv:5: expected 3 tab-separated fields, found 4"):
        get_task("sib200", root).load("dev", "eng_Latn")


def test_missing_header_column(tmp_path):
    root = _sib_dir(tmp_path, "eng_Latn", "test", "index_id\tlabel\ttext\n1\ttravel\tA trip.\n")
    with pytest.raises(DataError) as err:
        get_task("sib200", root).load("test", "eng_Latn")
    assert f"{root / 'eng_Latn' / 'test.tsv'}:1:" in str(err.value)
    assert "category" in str(err.value)


def test_empty_file(tmp_path):
    root = _sib_dir(tmp_path, "eng_Latn", "test", "")
    with pytest.raises(DataError, match=r"test\.tsv:1: empty file"):
        get_task("sib200", root).load("test", "eng_Latn")


def test_header_only_file_is_an_empty_split(tmp_path):
    root = _sib_dir(tmp_path, "eng_Latn", "test", HEADER)
    with pytest.raises(DataError, match="empty"):
        get_task("sib200", root).load("test", "eng_Latn")


def test_unknown_label_names_file_and_line(tmp_path):
    body = HEADER + "1\ttravel\tA trip.\n2\tcooking\tA recipe.\n"
    root = _sib_dir(tmp_path, "fra_Latn", "test", body)
    with pytest.raises(DataError) as err:
        get_task("sib200", root).load("test", "fra_Latn")
    msg = str(err.value)
    assert f"{root / 'fra_Latn' / 'test.tsv'}:3" in msg
    assert "'cooking'" in msg


def test_missing_split_file_names_the_expected_path(tmp_path):
    root = _sib_dir(tmp_path, "eng_Latn", "test", HEADER + "1\ttravel\tA trip.\n")
    with pytest.raises(DataError) as err:
        get_task("sib200", root).load("train", "eng_Latn")
    assert str(root / "eng_Latn" / "train.tsv") in str(err.value)


def test_local_file_with_quotes_is_read_verbatim(tmp_path):
    body = HEADER + '1\tentertainment\tHe said "hello\tworld" twice.\n'
    root = _sib_dir(tmp_path, "eng_Latn", "test", body)
    # QUOTE_NONE: a quote does not protect a tab, so this row has 4 fields
    with pytest.raises(DataError, match=r":2: expected 3"):
        get_task("sib200", root).load("test", "eng_Latn")
    path = root / "eng_Latn" / "test.tsv"
    path.write_text(HEADER + '1\tentertainment\tHe said "hello" twice.\n', encoding="utf-8")
    [ex] = get_task("sib200", root).load("test", "eng_Latn")
    assert ex.text == 'He said "hello" twice.'


# -- names --------------------------------------------------------------------------------------
def test_unknown_language_suggests_close_match():
    with pytest.raises(XltError) as err:
        get_task("sib200").load("test", "eng_latn")
    assert "did you mean 'eng_Latn'" in str(err.value)


def test_unknown_split():
    with pytest.raises(XltError, match="did you mean 'test'"):
        get_task("sib200").load("tset", "eng_Latn")


def test_unknown_task_suggests_close_match():
    with pytest.raises(XltError, match="did you mean 'sib200'"):
        get_task("sib-200")


def test_missing_data_dir(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as err:
        get_task("sib200", missing)
    assert str(missing) in str(err.value)
    assert "does not exist" in str(err.value)


# -- format readers ---------------------------------------------------------------------------
def test_read_tsv_without_header_uses_given_columns(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n\nc\td\n", encoding="utf-8")
    assert list(read_tsv(path, ("x", "y"), header=False)) == [(1, {"x": "a", "y": "b"}), (3, {"x": "c", "y": "d"})]


def test_read_jsonl_ok(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"text": "a", "label": "b"}) + "\n\n" + json.dumps({"text": "c", "label": "d"}) + "\n")
    assert [(n, r["text"]) for n, r in read_jsonl(path, ("text", "label"))] == [(1, "a"), (3, "c")]


def test_read_jsonl_bad_json_names_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(read_jsonl(path))
    assert err.value.line == 3
    assert str(err.value).startswith(f"{path}:3: invalid JSON")


def test_read_jsonl_missing_field_names_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError) as err:
        list(read_jsonl(path, ("text", "label")))
    assert f"{path}:2:" in str(err.value) and "['label']" in str(err.value)


def test_read_jsonl_non_object_and_missing_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"text": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=r":2: expected a JSON object"):
        list(read_jsonl(path))
    with pytest.raises(DataError, match="file not found"):
        list(read_jsonl(tmp_path / "missing.jsonl"))
