"""The CoNLL-U / CoNLL NER readers: what they keep, what they skip, and where they say a file is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlt.errors import DataError
from xlt.tasks.conll import Sentence, first_file, read_conll_ner, read_conllu, to_iob2

CONLLU = """\
# sent_id = 1
# text = Zum Haus.
1-2\tZum\t_\t_\t_\t_\t_\t_\t_\t_
1\tZu\tzu\tADP\tAPPR\t_\t3\tcase\t_\t_
2\tdem\tder\tDET\tART\t_\t3\tdet\t_\t_
3\tHaus\tHaus\tNOUN\tNN\t_\t0\troot\t_\tSpaceAfter=No
3.1\tist\tsein\tAUX\t_\t_\t_\t_\t0:root\t_
4\t.\t.\tPUNCT\t$.\t_\t3\tpunct\t_\t_

# sent_id = 2
1\tJa\tja\tINTJ\tITJ\t_\t0\troot\t_\t_
"""


def _write(tmp_path: Path, text: str, name: str = "f.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_conllu_skips_comments_multiword_ranges_and_empty_nodes(tmp_path):
    path = _write(tmp_path, CONLLU, "x.conllu")
    assert read_conllu(path) == [
        Sentence(("Zu", "dem", "Haus", "."), ("ADP", "DET", "NOUN", "PUNCT"), 4),
        Sentence(("Ja",), ("INTJ",), 11),
    ]


@pytest.mark.parametrize("bad_line,message", [
    ("2\tdem\tder\tDET\tART\t_\t3\tdet\t_", "expected 10 tab-separated CoNLL-U fields, found 9"),
    ("2\tdem\tder\tDETERMINER\tART\t_\t3\tdet\t_\t_", "unknown UPOS tag 'DETERMINER'"),
    ("5\tdem\tder\tDET\tART\t_\t3\tdet\t_\t_", "word id '5' out of sequence (expected 2)"),
])
def test_conllu_errors_name_file_and_line(tmp_path, bad_line, message):
    lines = CONLLU.splitlines()
    lines[4] = bad_line  # the `2 dem` line, physical line 5
    path = _write(tmp_path, "\n".join(lines) + "\n", "x.conllu")
    with pytest.raises(DataError) as err:
        read_conllu(path)
    assert str(err.value).startswith(f"{path}:5: ") and message in str(err.value)
    assert err.value.line == 5


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "x.conllu"
    path.write_bytes(CONLLU.encode() + b"2\t\xff\t_\tX\t_\t_\t1\tdep\t_\t_\n")
    with pytest.raises(DataError, match=r"x\.conllu:12: not UTF-8 \(byte 0xff at column 3\)$"):
        read_conllu(path)


def test_ner_reader_four_columns_docstart_and_bom(tmp_path):
    text = "\ufeff-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    path = _write(tmp_path, text)
    assert read_conll_ner(path, {"O", "B-ORG", "B-PER"}) == [
        Sentence(("EU", "rejects"), ("B-ORG", "O"), 3), Sentence(("Peter",), ("B-PER",), 6)]


def test_ner_reader_field_count_must_match_the_first_line(tmp_path):
    path = _write(tmp_path, "EU B-ORG\nrejects\n")
    with pytest.raises(DataError, match=r"f\.txt:2: expected 2 fields as on line 1, found 1"):
        read_conll_ner(path)
    path = _write(tmp_path, "\n-DOCSTART- O\n\nEU\nrejects O\n")
    with pytest.raises(DataError, match=r"f\.txt:4: expected a token and a tag, found 1 field"):
        read_conll_ner(path)
    path = _write(tmp_path, "EU B-ORG\n\nrejects VBZ O\n")
    with pytest.raises(DataError, match=r"f\.txt:3: expected 2 fields as on line 1, found 3"):
        read_conll_ner(path)


def test_ner_reader_unknown_tag(tmp_path):
    path = _write(tmp_path, "EU B-ORG\nrejects O\n\nLagos B-GPE\n")
    with pytest.raises(DataError) as err:
        read_conll_ner(path, {"O", "B-ORG"})
    assert f"{path}:4: unknown tag 'B-GPE'" in str(err.value)


def test_ner_reader_token_only_and_tab_separation(tmp_path):
    path = _write(tmp_path, "New York\nis\n\nbig\n")
    assert read_conll_ner(path, tagged=None, sep="\t") == [
        Sentence(("New York", "is"), None, 1), Sentence(("big",), None, 4)]
    path = _write(tmp_path, "New York\tB-LOC\nis\n")
    with pytest.raises(DataError, match=r":2: expected 2 fields as on line 1, found 1"):
        read_conll_ner(path, tagged=None, sep="\t")
    with pytest.raises(DataError, match=r":1: expected 1 field \(token only\), found 2"):
        read_conll_ner(path, tagged=False, sep="\t")


def test_ner_reader_language_prefix(tmp_path):
    path = _write(tmp_path, "en:Lady\tB-PER\nen:a:b\tO\n")
    assert read_conll_ner(path, sep="\t", lang_prefix=True)[0].tokens == ("Lady", "a:b")
    path = _write(tmp_path, "Lady\tB-PER\n")
    with pytest.raises(DataError, match=r":1: expected '<lang>:<token>', found 'Lady'"):
        read_conll_ner(path, sep="\t", lang_prefix=True)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_conll_ner(tmp_path / "nope.txt")


@pytest.mark.parametrize("tags,expected", [
    (["I-PER", "I-PER", "O", "I-LOC"], ("B-PER", "I-PER", "O", "B-LOC")),
    (["B-PER", "I-PER", "I-ORG", "B-ORG", "I-ORG"], ("B-PER", "I-PER", "B-ORG", "B-ORG", "I-ORG")),
    (["O", "B-LOC", "I-LOC"], ("O", "B-LOC", "I-LOC")),
])
def test_to_iob2(tags, expected):
    assert to_iob2(tags) == expected


def test_first_file_lists_the_candidates(tmp_path):
    (tmp_path / "b").write_text("x")
    assert first_file([tmp_path / "a", tmp_path / "b"], "thing", tmp_path) == tmp_path / "b"
    with pytest.raises(DataError) as err:
        first_file([tmp_path / "a", tmp_path / "c"], "thing", tmp_path)
    assert f"no thing; expected one of: {tmp_path / 'a'}, {tmp_path / 'c'}" in str(err.value)
