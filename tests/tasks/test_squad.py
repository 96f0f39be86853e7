"""The shared SQuAD v1.1 reader: fields, ids, answer alignment, and errors that name file and question.

`squad_doc` / `write_json` build SQuAD-format fixtures; the other QA and LAReQA tests import them.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from xlt.errors import DataError
from xlt.tasks.base import Answer
from xlt.tasks.squad import find_file, qa_from_hub, read_paragraphs, read_squad, squad_file

CONTEXT = "Paris is the capital of France. It lies on the Seine. Paris has 2 million people."


def squad_doc(*paragraphs: tuple[str, list[tuple[str, str, str, int]]], title: str = "T", **extra) -> dict:
    """{"data": [one article]} from (context, [(id, question, answer text, answer_start)]) pairs."""
    return {"version": "1.1", "data": [{"title": title, "paragraphs": [
        {"context": ctx, **extra, "qas": [
            {"id": qid, "question": q, "answers": [{"text": a, "answer_start": s}]} for qid, q, a, s in qas]}
        for ctx, qas in paragraphs]}]}


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def basic_doc() -> dict:
    return squad_doc((CONTEXT, [("q1", "What is the capital of France?", "Paris", 0),
                                ("q2", "Which river?", "the Seine", 43)]))


def test_reads_questions_in_order_with_origin(tmp_path):
    path = write_json(tmp_path / "f.json", basic_doc())
    examples = read_squad(path)
    assert [ex.id for ex in examples] == ["q1", "q2"]
    assert examples[1].answers == (Answer("the Seine", 43),)
    assert examples[1].context == CONTEXT and examples[1].question == "Which river?"
    assert examples[0].origin == f"{path}#q1"


def test_paragraphs_keep_extra_fields(tmp_path):
    path = write_json(tmp_path / "f.json", squad_doc((CONTEXT, [("q1", "?", "Paris", 0)]), sentence_breaks=[[0, 31]]))
    (para,) = read_paragraphs(path)
    assert para.where == "data[0].paragraphs[0]" and para.raw["sentence_breaks"] == [[0, 31]]


def test_integer_ids_become_strings(tmp_path):
    doc = basic_doc()
    doc["data"][0]["paragraphs"][0]["qas"][0]["id"] = 17
    assert read_squad(write_json(tmp_path / "f.json", doc))[0].id == "17"


def test_misaligned_answer_is_moved_to_nearest_occurrence_with_one_warning(tmp_path):
    doc = squad_doc((CONTEXT, [("q1", "?", "Paris", 60), ("q2", "?", "Paris", 3), ("q3", "?", "Seine", 47)]))
    path = write_json(tmp_path / "f.json", doc)
    with pytest.warns(UserWarning, match=r"2 answer\(s\) not at their answer_start.*first: question 'q1'") as rec:
        examples = read_squad(path)
    assert len(rec) == 1 and str(path) in str(rec[0].message)
    assert [ex.answers[0].start for ex in examples] == [54, 0, 47]  # 60 -> 54 (nearer than 0), 3 -> 0


def test_aligned_file_gives_no_warning(tmp_path):
    path = write_json(tmp_path / "f.json", basic_doc())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_squad(path)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda d: d.pop("data"), r'"data" list'),
        (lambda d: d["data"][0].pop("paragraphs"), r"data\[0\]: missing field 'paragraphs'"),
        (lambda d: d["data"][0]["paragraphs"][0].pop("context"),
         r"data\[0\]\.paragraphs\[0\]: missing field 'context'"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].pop("id"), r"qas\[1\]: missing field 'id'"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].pop("question"),
         r"question 'q2' .*missing field 'question'"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1]["answers"][0].pop("answer_start"),
         r"question 'q2' .*answers\[0\]: missing field 'answer_start'"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1]["answers"][0].update(answer_start="43"),
         r"answer_start: expected int, found str"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(answers=[]), r"question 'q2' .*no answers"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1].update(id="q1"), r"question 'q1' .*duplicate question id"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1]["answers"][0].update(text="Rhine"),
         r"question 'q2' .*answer 'Rhine' does not occur in the context"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][1]["answers"][0].update(text="", answer_start=0),
         r"question 'q2' .*empty answer text"),
    ],
    ids=["no-data", "no-paragraphs", "no-context", "no-id", "no-question", "no-start", "start-type", "no-answers",
         "duplicate-id", "answer-not-in-context", "stripped-answer"],
)
def test_bad_input_names_file_and_question(tmp_path, mutate, message):
    doc = basic_doc()
    mutate(doc)
    path = write_json(tmp_path / "bad.json", doc)
    with pytest.raises(DataError, match=message) as err:
        read_squad(path)
    assert str(path) in str(err.value)


def test_duplicate_ids_allowed_on_request(tmp_path):
    doc = basic_doc()
    doc["data"][0]["paragraphs"][0]["qas"][1]["id"] = "q1"
    assert [ex.id for ex in read_squad(write_json(tmp_path / "f.json", doc), unique_ids=False)] == ["q1", "q1"]


def test_bad_json_names_file_and_line(tmp_path):
    path = write_json(tmp_path / "bad.json", '{"data": [\n  {"paragraphs": [}\n]}')
    with pytest.raises(DataError, match=r"bad\.json:2: invalid JSON"):
        read_squad(path)


def test_not_utf8_and_missing_file(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": [], "x": "é"}'.encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_squad(path)
    with pytest.raises(DataError, match="file not found"):
        read_squad(tmp_path / "missing.json")


def test_find_file_and_squad_layouts(tmp_path):
    write_json(tmp_path / "squad" / "dev-v1.1.json", basic_doc())
    assert squad_file(tmp_path, "dev") == tmp_path / "squad" / "dev-v1.1.json"
    with pytest.raises(DataError, match=r"no SQuAD v1\.1 train file \(looked for train-v1\.1\.json, squad/train"):
        squad_file(tmp_path, "train")
    with pytest.raises(DataError, match="no data_dir given"):
        find_file(None, ["x.json"], "X")


def test_hub_record():
    rec = {"id": "a1", "title": "T", "context": CONTEXT, "question": "Q?",
           "answers": {"text": ["Paris", "Paris"], "answer_start": [0, 54]}}
    ex = qa_from_hub(rec, "google/xquad[test/de]#0")
    assert ex.answers == (Answer("Paris", 0), Answer("Paris", 54)) and ex.origin == "google/xquad[test/de]#0"
