"""Records (a row of a TSV/CSV/JSONL/parquet file, or a hub record) -> typed examples, by a field mapping.

Used by tasks declared in a study file (`xlt.tasks.generic`); `BUILD[task type](record, fields, origin,
fallback id)` gives one example, and any malformed value is a DataError naming the origin ("file:line").
"""

from __future__ import annotations

from xlt.errors import DataError
from xlt.tasks.base import Answer, ChoiceExample, Example, QAExample, TaggingExample
from xlt.tasks.spec import TaskType


def fail(message: str, origin: str) -> DataError:
    path, _, line = origin.rpartition(":")
    if path and line.isdigit():
        return DataError(message, path, int(line))
    return DataError(f"{origin}: {message}")


def cell(record: dict, column: str, origin: str):
    if column not in record:
        raise fail(f"no column {column!r} (the file's columns: {', '.join(map(str, record))})", origin)
    return record[column]


def _text(record: dict, column: str, origin: str, field: str, optional: bool = False) -> str | None:
    value = cell(record, column, origin) if not optional or column in record else None
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(f"{field} ({column!r}): expected text, found {type(value).__name__}", origin)
    return str(value)


def _label(value, origin: str) -> str | None:
    """A label as its name; empty / missing is None (Task.load then reports the missing gold label)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(f"label: expected a name or a number, found {type(value).__name__}", origin)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _sequence(record: dict, column: str, origin: str, field: str) -> tuple[str, ...]:
    value = cell(record, column, origin)
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        return tuple(str(v) for v in value)
    raise fail(f"{field} ({column!r}): expected a list of strings or a space-separated string, "
                f"found {type(value).__name__}", origin)


def _classification(record: dict, fields: dict, origin: str, _id: str) -> Example:
    pair = _text(record, fields["text_pair"], origin, "text_pair") if "text_pair" in fields else None
    return Example(_text(record, fields["text"], origin, "text"),
                   _label(cell(record, fields["label"], origin), origin), pair, origin)


def _tagging(record: dict, fields: dict, origin: str, _id: str) -> TaggingExample:
    tokens = _sequence(record, fields["tokens"], origin, "tokens")
    tags = _sequence(record, fields["tags"], origin, "tags")
    if not tokens:
        raise fail("no tokens", origin)
    if len(tags) != len(tokens):
        raise fail(f"{len(tokens)} tokens but {len(tags)} tags", origin)
    return TaggingExample(tokens, tags, origin)


def _choice(record: dict, fields: dict, origin: str, _id: str) -> ChoiceExample:
    spec = fields["choices"]
    if isinstance(spec, list):
        choices = tuple(_text(record, c, origin, "choices") for c in spec)
    else:
        choices = _sequence(record, spec, origin, "choices") if isinstance(cell(record, spec, origin), list) else ()
        if len(choices) < 2:
            raise fail(f"choices ({spec!r}): expected a list of 2+ choices", origin)
    raw = cell(record, fields["label"], origin)
    label, text = None, _label(raw, origin)
    if text is not None:
        if text in choices and not text.lstrip("-").isdigit():
            label = choices.index(text)
        elif text.lstrip("-").isdigit() and 0 <= int(text) < len(choices):
            label = int(text)
        else:
            raise fail(f"label {raw!r} is neither a choice index 0-{len(choices) - 1} nor one of the choices", origin)
    question = _text(record, fields["question"], origin, "question") if "question" in fields else None
    return ChoiceExample(_text(record, fields["premise"], origin, "premise"), choices, label, question or None, origin)


def _qa(record: dict, fields: dict, origin: str, fallback_id: str) -> QAExample:
    context = _text(record, fields["context"], origin, "context")
    raw = cell(record, fields["answers"], origin)
    starts = cell(record, fields["answer_start"], origin) if "answer_start" in fields else None
    if isinstance(raw, dict):  # SQuAD / HF layout {text: [...], answer_start: [...]}
        raw, starts = raw.get("text"), raw.get("answer_start", starts)
    if isinstance(raw, str):
        raw = [raw] if raw.strip() else []
    if not isinstance(raw, list):
        raise fail(f"answers ({fields['answers']!r}): expected a string, a list or SQuAD's {{text, answer_start}}",
                    origin)
    if starts is not None and not isinstance(starts, list):
        starts = [starts]
    answers = []
    for i, a in enumerate(raw):
        text, start = (a.get("text"), a.get("answer_start")) if isinstance(a, dict) else (a, None)
        if start is None and starts is not None and i < len(starts):
            start = starts[i]
        if not isinstance(text, str) or not text.strip():
            raise fail(f"answer {i}: expected non-empty text, found {text!r}", origin)
        if start in (None, ""):
            start = context.find(text)
        elif isinstance(start, bool) or not (isinstance(start, int) or (isinstance(start, str) and start.isdigit())):
            raise fail(f"answer {i}: answer_start must be a character offset, found {start!r}", origin)
        start = int(start)
        if context[start : start + len(text)] != text:
            near = context.find(text)
            if near < 0:
                raise fail(f"answer {text!r} does not occur in the context", origin)
            start = near
        answers.append(Answer(text, start))
    qid = _text(record, fields["id"], origin, "id") if "id" in fields else fallback_id
    return QAExample(qid, _text(record, fields["question"], origin, "question"), context, tuple(answers), origin)


BUILD = {TaskType.CLASSIFICATION: _classification, TaskType.TAGGING: _tagging,
          TaskType.MULTIPLE_CHOICE: _choice, TaskType.QA: _qa}
