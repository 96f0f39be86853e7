"""Shared reader for SQuAD v1.1-format JSON (SQuAD, XQuAD, MLQA, TyDiQA-GoldP, XQuAD-R).

Layout: `{"data": [{"title"?, "paragraphs": [{"context", "qas": [{"id", "question", "answers":
[{"text", "answer_start"}]}]}]}]}`. JSON has no useful line numbers, so errors name the file and the
question id (or the JSON path, e.g. `data[3].paragraphs[0].qas[2]`, before an id is known), and every
`QAExample.origin` is `<file>#<question id>`.

Checks: valid UTF-8 JSON; every field above present with the right type; unique question ids (unless
the caller allows duplicates); at least one answer per question with non-empty text (XTREME's download
script blanks the test answers to `{"text": "", "answer_start": 0}`; such files cannot be scored).

Misaligned answers - decision: an answer whose text is not at `answer_start` but occurs elsewhere in
the context is kept and moved to the occurrence nearest to the given offset (a few released files
have off-by-some offsets); the file's count of such answers is reported in one `UserWarning`. An answer
whose text does not occur in the context at all is an error (file + question id).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Answer, QAExample
from xlt.tasks.formats import read_json
from xlt.tasks.spec import HubSource

SQUAD_FILES = {"train": "train-v1.1.json", "dev": "dev-v1.1.json"}
# rajpurkar/squad is parquet-backed ("plain_text" config); this commit is pinned by a public study
# script that loads it together with google/xquad@51adfef (found with the code search index).
SQUAD_HUB = HubSource("rajpurkar/squad", revision="7b6d24c440a36b6815f21b70d25016731768db1f", config="plain_text")


@dataclass(frozen=True)
class Paragraph:
    context: str
    questions: tuple[QAExample, ...]
    where: str  # JSON path, e.g. "data[0].paragraphs[3]"
    raw: dict  # the paragraph object as read (extra fields such as XQuAD-R's `sentence_breaks`)


def read_paragraphs(path: Path, unique_ids: bool = True) -> list[Paragraph]:
    """Every paragraph of a SQuAD v1.1 file, validated (see the module docstring)."""
    doc = read_json(path)
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise DataError('expected a JSON object with a "data" list (SQuAD v1.1 layout)', path)
    out: list[Paragraph] = []
    seen: set[str] = set()
    moved: list[str] = []
    for a, article in enumerate(data):
        for p, para in enumerate(_field(article, "paragraphs", list, path, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            context = _field(para, "context", str, path, where)
            qas = _field(para, "qas", list, path, where)
            questions = tuple(
                _question(qa, context, path, f"{where}.qas[{q}]", seen if unique_ids else None, moved)
                for q, qa in enumerate(qas)
            )
            out.append(Paragraph(context, questions, where, para))
    if moved:
        warnings.warn(
            f"{path}: {len(moved)} answer(s) not at their answer_start were moved to the nearest "
            f"occurrence of their text (first: question {moved[0]!r})",
            stacklevel=2,
        )
    return out


def read_squad(path: Path, unique_ids: bool = True) -> list[QAExample]:
    """All questions of a SQuAD v1.1 file, in file order."""
    return [q for para in read_paragraphs(path, unique_ids) for q in para.questions]


def qa_from_hub(record: dict, origin: str) -> QAExample:
    """A hub row in the `datasets` SQuAD schema: answers = {"text": [...], "answer_start": [...]}."""
    answers = record["answers"]
    return QAExample(
        id=str(record["id"]),
        question=record["question"],
        context=record["context"],
        answers=tuple(Answer(t, int(s)) for t, s in zip(answers["text"], answers["answer_start"])),
        origin=origin,
    )


def find_file(root: Path | None, names: Iterable[str], what: str) -> Path:
    """The first of `root/<name>` that exists, else an error listing what was looked for."""
    if root is None:
        raise DataError(f"{what}: no data_dir given and this split has no hub source")
    names = list(names)
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DataError(f"no {what} file (looked for {', '.join(names)})", root)


def squad_file(root: Path | None, split: str) -> Path:
    """SQuAD v1.1 train/dev: `<root>/<file>` or XTREME's download layout `<root>/squad/<file>`."""
    name = SQUAD_FILES[split]
    return find_file(root, (name, f"squad/{name}"), f"SQuAD v1.1 {split}")


def require_english(task: str, split: str, language: str, source: str) -> None:
    if language != "en":
        raise DataError(f"task {task}: split {split!r} exists only in English ({source}), not {language!r}")


# -- validation helpers ---------------------------------------------------------------------
def _field(obj, key: str, kind: type | tuple, path: Path, where: str):
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object, found {type(obj).__name__}", path)
    if key not in obj:
        raise DataError(f"{where}: missing field {key!r}", path)
    value = obj[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise DataError(f"{where}.{key}: expected {names}, found {type(value).__name__}", path)
    return value


def _question(qa, context: str, path: Path, where: str, seen: set | None, moved: list) -> QAExample:
    raw_id = _field(qa, "id", (str, int), path, where)
    qid = str(raw_id)
    where = f"question {qid!r} ({where})"
    if seen is not None:
        if qid in seen:
            raise DataError(f"{where}: duplicate question id", path)
        seen.add(qid)
    question = _field(qa, "question", str, path, where)
    answers = _field(qa, "answers", list, path, where)
    if not answers:
        raise DataError(f"{where}: no answers", path)
    out = []
    for i, ans in enumerate(answers):
        text = _field(ans, "text", str, path, f"{where}.answers[{i}]")
        start = _field(ans, "answer_start", int, path, f"{where}.answers[{i}]")
        if not text:
            raise DataError(
                f"{where}: empty answer text (test answers stripped, e.g. by XTREME's download script? "
                "use the original release files)",
                path,
            )
        if context[start : start + len(text)] != text:
            start = _nearest(context, text, start)
            if start < 0:
                raise DataError(f"{where}: answer {text!r} does not occur in the context", path)
            moved.append(qid)
        out.append(Answer(text, start))
    return QAExample(id=qid, question=question, context=context, answers=tuple(out), origin=f"{path}#{qid}")


def _nearest(context: str, text: str, start: int) -> int:
    """Offset of the occurrence of `text` nearest to `start`, -1 if none."""
    best, pos = -1, context.find(text)
    while pos >= 0:
        if best < 0 or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1)
    return best
