"""The shared readers: valid-but-unusual files (BOM, CRLF, quotes) work; bad bytes and malformed input are
one-line DataErrors naming file and line; unlabelled splits and odd data_dirs are reported as such."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlt.errors import DataError
from xlt.tasks import get_task
from xlt.tasks.conll import read_conll_ner, read_conllu
from xlt.tasks.formats import read_json, read_jsonl, read_tsv, tsv_rows
from xlt.tasks.squad import read_squad
from xlt.tasks.tatoeba import _read_lines

BOM = b"\xef\xbb\xbf"
SQUAD = {"data": [{"paragraphs": [{"context": "Er sagte \"ja\".", "qas": [
    {"id": "q1", "question": "Was?", "answers": [{"text": "\"ja\"", "answer_start": 9}]}]}]}]}


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# -- valid but unusual -------------------------------------------------------------------------------
def test_tsv_with_bom_crlf_and_literal_quotes(tmp_path):
    path = _write(tmp_path / "deu_Latn" / "test.tsv",
                  BOM + b'index_id\tcategory\ttext\r\n1\tsports\tEr sagte "Tor!"\r\n\r\n2\ttravel\t"Rom\r\n')
    rows = list(read_tsv(path, ("index_id", "category", "text")))
    assert rows == [(2, {"index_id": "1", "category": "sports", "text": 'Er sagte "Tor!"'}),
                    (4, {"index_id": "2", "category": "travel", "text": '"Rom'})]
    # the same file through the task (the issue: SIB-200 rejected the BOM the CoNLL reader accepted)
    examples = get_task("sib200", tmp_path).load("test", "deu_Latn")
    assert [e.text for e in examples] == ['Er sagte "Tor!"', '"Rom'] and examples[1].origin == f"{path}:4"


def test_quoted_tsv_with_crlf_and_a_field_spanning_lines(tmp_path):
    path = _write(tmp_path / "x.tsv", BOM + b'"a\tb"\t"two\r\nlines"\tneutral\r\nc\td\te\r\n')
    assert list(tsv_rows(path, quoted=True)) == [(2, ["a\tb", "two\r\nlines", "neutral"]), (3, ["c", "d", "e"])]


def test_jsonl_with_bom_crlf_and_blank_lines(tmp_path):
    path = _write(tmp_path / "x.jsonl", BOM + b'{"a": "x\\u2028y"}\r\n\r\n{"a": "\xe2\x80\xa8"}\r\n')
    assert list(read_jsonl(path, ("a",))) == [(1, {"a": "x\u2028y"}), (3, {"a": "\u2028"})]


def test_json_with_bom_and_crlf(tmp_path):
    path = _write(tmp_path / "xquad.de.json", BOM + json.dumps(SQUAD, indent=1).replace("\n", "\r\n").encode())
    [q] = read_squad(path)
    assert q.answers[0].text == '"ja"' and q.answers[0].start == 9


def test_conll_with_bom_crlf_and_line_separator_inside_a_token(tmp_path):
    path = _write(tmp_path / "x.txt", BOM + "Abuja\tB-LOC\r\nna\u2028x\tO\r\n\r\nMusa\tB-PER\r\n".encode())
    sentences = read_conll_ner(path, ("O", "B-LOC", "B-PER"), sep="\t")
    assert [s.tokens for s in sentences] == [("Abuja", "na\u2028x"), ("Musa",)] and sentences[1].line == 4
    conllu = _write(tmp_path / "x.conllu", BOM + b"# c\r\n1\tJa\t_\tINTJ\t_\t_\t0\troot\t_\t_\r\n")
    assert read_conllu(conllu)[0].tags == ("INTJ",)


def test_line_aligned_files_with_bom_and_crlf(tmp_path):
    path = _write(tmp_path / "tatoeba.deu-eng.deu", BOM + b"Hallo.\r\nDanke \"sehr\".\r\n")
    assert _read_lines(path) == ["Hallo.", 'Danke "sehr".']


# -- bad bytes: one message shape for every reader --------------------------------------------------
READERS = {
    "tsv": lambda p: list(read_tsv(p, ("a",), header=False)),
    "quoted-tsv": lambda p: list(tsv_rows(p, quoted=True)),
    "jsonl": lambda p: list(read_jsonl(p)),
    "json": read_json,
    "conllu": read_conllu,
    "conll-ner": lambda p: read_conll_ner(p, tagged=None),
    "lines": _read_lines,
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_non_utf8_names_file_line_byte_and_column(tmp_path, reader):
    # line 2 holds "größe" (5 characters, 7 bytes) and then a Latin-1 "é": column 6 in characters
    path = _write(tmp_path / "f", BOM + b"{}\ngr\xc3\xb6\xc3\x9fe\xe9\n")
    with pytest.raises(DataError) as err:
        READERS[reader](path)
    assert str(err.value) == f"{path}:2: not UTF-8 (byte 0xe9 at column 6)"


def test_non_utf8_on_the_first_line_after_a_bom(tmp_path):
    path = _write(tmp_path / "f", BOM + b"ab\xff")
    with pytest.raises(DataError, match=r":1: not UTF-8 \(byte 0xff at column 3\)$"):
        list(read_jsonl(path))


def test_utf16_file_is_reported_as_not_utf8(tmp_path):
    path = _write(tmp_path / "deu_Latn" / "test.tsv", "index_id\tcategory\ttext\n".encode("utf-16"))
    with pytest.raises(DataError, match=r"test\.tsv:1: not UTF-8 \(byte 0xff at column 1\)"):
        get_task("sib200", tmp_path).load("test", "deu_Latn")


@pytest.mark.parametrize("text,message", [
    ("[" * 100_000, "invalid JSON (RecursionError"),
    ('{"a": ' + "9" * 5000 + "}", "invalid JSON (ValueError: Exceeds the limit"),
    ('{"a": 1', "invalid JSON (Expecting ',' delimiter"),
])
def test_json_failures_are_data_errors(tmp_path, text, message):
    path = _write(tmp_path / "x.jsonl", b'{"ok": 1}\n' + text.encode())
    with pytest.raises(DataError) as err:
        list(read_jsonl(path))
    assert str(err.value).startswith(f"{path}:2: {message}")


def test_oversized_tsv_field_is_a_data_error(tmp_path):
    path = _write(tmp_path / "x.tsv", b"a\tb\n1\t" + b"x" * 200_000 + b"\n")
    with pytest.raises(DataError, match=r"x\.tsv:2: malformed TSV \(field larger than field limit"):
        list(read_tsv(path, ("a", "b")))


def test_non_string_json_fields_are_data_errors(tmp_path):
    _write(tmp_path / "multinli_1.0_train.jsonl",
           b'{"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}\n'
           b'{"gold_label": ["neutral"], "sentence1": "a", "sentence2": "b"}\n')
    with pytest.raises(DataError, match=r"multinli_1\.0_train\.jsonl:2: field 'gold_label': expected a string, "
                                        r"found list"):
        get_task("xnli", tmp_path).load("train", "en")


# -- data_dir and split checks --------------------------------------------------------------------
def test_data_dir_that_is_a_file_is_not_a_directory(tmp_path):
    path = _write(tmp_path / "sib.tsv", b"x")
    with pytest.raises(DataError, match=r"sib\.tsv: data_dir is not a directory$"):
        get_task("sib200", path)
    with pytest.raises(DataError, match=r"nothing: data directory does not exist$"):
        get_task("sib200", tmp_path / "nothing")


def _copa(**fields) -> str:
    rec = {"premise": "P", "choice1": "A", "choice2": "B", "question": "cause", "idx": 1, **fields}
    return json.dumps(rec) + "\n"


def test_unlabelled_evaluation_file_names_the_first_unlabelled_record(tmp_path):
    path = _write(tmp_path / "data" / "et" / "test.et.jsonl", (_copa(label=0) + _copa() + _copa()).encode())
    with pytest.raises(DataError) as err:
        get_task("xcopa", tmp_path).load("test", "et")
    assert str(err.value).startswith(f"{path}:2: no gold label (test/et)")


def test_unlabelled_training_file_is_a_data_error(tmp_path):
    path = _write(tmp_path / "train.en.jsonl", (_copa(label=-1) + _copa(label=1)).encode())
    with pytest.raises(DataError, match=rf"^{path}:1: no gold label \(train/en\)"):
        get_task("xcopa", tmp_path).load("train", "en")


def test_retrieval_tasks_are_unlabelled_by_design(tmp_path):
    _write(tmp_path / "tatoeba.deu-eng.deu", b"Hallo.\n")
    _write(tmp_path / "tatoeba.deu-eng.eng", b"Hello.\n")
    [query] = get_task("tatoeba", tmp_path).load("test", "de")
    assert query.gold == ("en:de:1",)


def test_empty_split_names_the_file_read(tmp_path):
    path = _write(tmp_path / "deu_Latn" / "test.tsv", b"index_id\tcategory\ttext\n\n")
    with pytest.raises(DataError, match=rf"split 'test' for language 'deu_Latn' is empty \(read {path}\)$"):
        get_task("sib200", tmp_path).load("test", "deu_Latn")
