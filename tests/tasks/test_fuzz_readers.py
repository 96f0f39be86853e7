"""Property-based fuzzing of every local reader (hypothesis).

Each target is a small valid data folder in a benchmark's released format and one of its files. The
file's bytes go through random byte-level mutations (flips, insertions of bytes that matter to the
format, deletions, truncation, re-encoding as UTF-16/32, Latin-1, GB18030, ..., CRLF, BOM), then the
task loads it the way a study does. Whatever the bytes, loading must either succeed or raise xlt's
`DataError` naming the mutated file - never another exception type - within the example deadline.

Budget: FUZZ_EXAMPLES per target (derandomized, so CI sees the same cases every run); set
XLT_FUZZ_EXAMPLES=N to run N random examples per target instead.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlt.errors import DataError
from xlt.tasks import get_task

FUZZ_EXAMPLES = int(os.environ.get("XLT_FUZZ_EXAMPLES", "0")) or 60
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=3000, derandomize="XLT_FUZZ_EXAMPLES" not in os.environ,
                database=None, suppress_health_check=[HealthCheck.too_slow])

SQUAD = {"data": [{"title": "t", "paragraphs": [{
    "context": "Berlin ist groß. Es regnet oft.", "sentence_breaks": [[0, 16], [17, 31]],
    "qas": [{"id": "q1", "question": "Was ist groß?", "answers": [{"text": "Berlin", "answer_start": 0}]},
            {"id": "q2", "question": "Was tut es?", "answers": [{"text": "regnet", "answer_start": 20}]}]}]}]}
CONLLU = ("# sent_id = 1\n# text = Das Haus\n1\tDas\tder\tDET\t_\t_\t2\tdet\t_\t_\n"
          "2\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n\n1-2\tzum\t_\t_\t_\t_\t_\t_\t_\t_\n"
          "1\tzu\tzu\tADP\t_\t_\t2\tcase\t_\t_\n2\tdem\tder\tDET\t_\t_\t0\troot\t_\t_\n")
CONTEXT = {"language": "de", "text": "Angela Merkel sprach. Es regnet.",
           "sentence_spans": [{"start": 0, "end": 21}, {"start": 22, "end": 32}]}
MENTION = {"example_id": "m1", "entity_id": "Q567", "mention_span": {"start": 0, "end": 13, "text": "Angela Merkel"}}
ENTITY = {"entity_id": "Q567", "title": "Merkel", "description": "Eine Politikerin. Sie lebt in Berlin.",
          "description_language": "de", "sentence_spans": [{"start": 0, "end": 17}, {"start": 18, "end": 37}]}


def _lines(*records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


ARTICLE = _lines({"context": CONTEXT, "mentions": [MENTION]})


def _copa(label: int) -> dict:
    return {"premise": "Der Mann fiel.", "choice1": "Er rutschte aus.", "choice2": "Er lachte.",
            "question": "cause", "label": label, "idx": 1}


# name -> (task, {relative path: text}, the file to mutate, (split, language) to load)
TARGETS = {
    "sib200-tsv": ("sib200", {"deu_Latn/test.tsv": "index_id\tcategory\ttext\n1\tsports\tEin \"Tor\".\n"
                                                   "2\ttravel\tNach Rom.\n"}, "deu_Latn/test.tsv",
                   ("test", "deu_Latn")),
    "xnli-release-tsv": ("xnli", {"XNLI-1.0/xnli.test.tsv": "language\tgold_label\tsentence1\tsentence2\n"
                                                            "de\tneutral\tEr ging.\tEr lief.\n"
                                                            "de\tcontradiction\tJa.\tNein.\n"},
                         "XNLI-1.0/xnli.test.tsv", ("test", "de")),
    "xnli-multinli-jsonl": ("xnli", {"multinli_1.0/multinli_1.0_train.jsonl": _lines(
        {"gold_label": "entailment", "sentence1": "A man walks.", "sentence2": "A person moves."},
        {"gold_label": "-", "sentence1": "x", "sentence2": "y"},
        {"gold_label": "neutral", "sentence1": "It rains.", "sentence2": "It is cold."})},
        "multinli_1.0/multinli_1.0_train.jsonl", ("train", "en")),
    "xnli-xtreme-quoted-tsv": ("xnli", {"xnli/dev-de.tsv": '"Er sagte ""hallo""."\tEr sprach.\tentailment\n'
                                                          "Ja.\tNein.\tcontradiction\n"},
                               "xnli/dev-de.tsv", ("dev", "de")),
    "americasnli-tsv": ("americasnli", {"test/aym.tsv": "language\tpremise\thypothesis\tlabel\n"
                                                        "aym\tJupax sarawayi.\tJupax jaltawayi.\tneutral\n"},
                        "test/aym.tsv", ("test", "aym")),
    "xcopa-jsonl": ("xcopa", {"data/et/test.et.jsonl": _lines(_copa(0), _copa(1))}, "data/et/test.et.jsonl",
                    ("test", "et")),
    "snli-ve-jsonl": ("snli-ve-text", {"snli_ve_test.jsonl": _lines(
        {"Flickr30K_ID": "12.jpg", "sentence1": "A dog runs.", "sentence2": "An animal moves.",
         "gold_label": "entailment"})}, "snli_ve_test.jsonl", ("test", "en")),
    "masakhaner-conll": ("masakhaner", {"data/hau/test.txt": "-DOCSTART- O\n\nAbuja B-LOC\nna O\n\nMusa B-PER\n"},
                         "data/hau/test.txt", ("test", "hau")),
    "panx-raw": ("panx", {"panx_dataset/de-test": "de:Berlin\tB-LOC\nde:ist\tO\n\nde:Merkel\tB-PER\n"},
                 "panx_dataset/de-test", ("test", "de")),
    "udpos-conllu": ("udpos", {"UD_German-GSD/de_gsd-ud-test.conllu": CONLLU}, "UD_German-GSD/de_gsd-ud-test.conllu",
                     ("test", "de")),
    "udpos-tsv": ("udpos", {"udpos/dev-de.tsv": "Das\tDET\nHaus\tNOUN\n\nJa\tINTJ\n"}, "udpos/dev-de.tsv",
                  ("dev", "de")),
    "xquad-json": ("xquad", {"xquad.de.json": json.dumps(SQUAD, ensure_ascii=False)}, "xquad.de.json",
                   ("test", "de")),
    "mlqa-json": ("mlqa", {"MLQA_V1/test/test-context-de-question-de.json": json.dumps(SQUAD)},
                  "MLQA_V1/test/test-context-de-question-de.json", ("test", "de")),
    "tydiqa-json": ("tydiqa", {"tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-finnish.json": json.dumps(SQUAD)},
                    "tydiqa-goldp-v1.1-dev/tydiqa-goldp-dev-finnish.json", ("test", "fi")),
    "lareqa-json": ("lareqa", {"xquad-r/de.json": json.dumps(SQUAD, ensure_ascii=False)}, "xquad-r/de.json",
                    ("test", "de")),
    "tatoeba-query-side": ("tatoeba", {"tatoeba.deu-eng.deu": "Hallo Welt.\nDanke.\n",
                                       "tatoeba.deu-eng.eng": "Hello world.\nThanks.\n"}, "tatoeba.deu-eng.deu",
                           ("test", "de")),
    "tatoeba-english-side": ("tatoeba", {"tatoeba.deu-eng.deu": "Hallo Welt.\nDanke.\n",
                                         "tatoeba.deu-eng.eng": "Hello world.\nThanks.\n"}, "tatoeba.deu-eng.eng",
                             ("test", "de")),
    "mewslix-mentions": ("mewslix", {"wikinews_mentions-test.jsonl": ARTICLE,
                                     "candidate_set_entities.jsonl": _lines(ENTITY)},
                         "wikinews_mentions-test.jsonl", ("test", "de")),
    "mewslix-entities": ("mewslix", {"wikinews_mentions-test.jsonl": ARTICLE,
                                     "candidate_set_entities.jsonl": _lines(ENTITY, dict(ENTITY, entity_id="Q1"))},
                         "candidate_set_entities.jsonl", ("test", "de")),
    "mewslix-train-pairs": ("mewslix", {"wikipedia_pairs-train.jsonl": _lines(
        {"contextual_mention": {"context": CONTEXT, "mention": MENTION}, "entity": ENTITY})},
        "wikipedia_pairs-train.jsonl", ("train", "en")),
}

# Byte strings that mean something to one of the formats: separators, quotes, JSON syntax, a BOM,
# invalid or truncated UTF-8 sequences, NUL, a lone CR, Unicode line separators.
TOKENS = [b"\t", b"\n", b"\r", b"\r\n", b'"', b"{", b"}", b"[", b"]", b",", b":", b"-1", b"1e999", b"null",
          b"\x00", b"\xff", b"\xc3", b"\xe2\x80", b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\xc2\x85", b"-DOCSTART-",
          b"#", b"1-2", b"_", b"B-", b"I-XYZ", b"9" * 5000, b"[" * 3000]
ENCODINGS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "gb18030", "shift_jis", "utf-8-sig"]
POS = st.integers(min_value=0, max_value=1 << 16)
MUTATION = st.one_of(
    st.tuples(st.just("flip"), POS, st.integers(0, 255)),
    st.tuples(st.just("insert"), POS, st.one_of(st.sampled_from(TOKENS), st.binary(min_size=1, max_size=6))),
    st.tuples(st.just("delete"), POS, st.integers(1, 24)),
    st.tuples(st.just("truncate"), POS, st.just(0)),
    st.tuples(st.just("encode"), st.just(0), st.sampled_from(ENCODINGS)),
    st.tuples(st.just("crlf"), st.just(0), st.just(0)),
)


def mutate(data: bytes, mutations) -> bytes:
    for kind, pos, arg in mutations:
        at = pos % (len(data) + 1)
        if kind == "flip" and data:
            at = pos % len(data)
            data = data[:at] + bytes([arg]) + data[at + 1:]
        elif kind == "insert":
            data = data[:at] + arg + data[at:]
        elif kind == "delete":
            data = data[:at] + data[at + arg:]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "encode":
            data = data.decode("utf-8", errors="replace").encode(arg, errors="replace")
        elif kind == "crlf":
            data = data.replace(b"\n", b"\r\n")
    return data


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _load(name: str, root: Path, split: str, language: str) -> None:
    task = get_task(name, root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LAReQA's partial pool, SQuAD's moved answers
        task.load(split, language)
        if task.spec.type.value == "retrieval" and split == "test":
            task.load_candidates(language)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_valid_fixture_loads(target, tmp_path):
    """The unmutated fixture is valid: what the fuzzing starts from is a file the reader accepts."""
    name, files, _, (split, language) = TARGETS[target]
    _write(tmp_path, files)
    _load(name, tmp_path, split, language)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_mutated_files_load_or_raise_data_error_naming_the_file(target):
    name, files, victim, (split, language) = TARGETS[target]
    original = files[victim].encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, files)
        path = root / victim

        @FUZZ
        @given(st.lists(MUTATION, min_size=1, max_size=4))
        def check(mutations):
            path.write_bytes(mutate(original, mutations))
            try:
                _load(name, root, split, language)
            except DataError as exc:
                assert str(path) in str(exc), f"DataError does not name {path}: {exc}"

        check()
