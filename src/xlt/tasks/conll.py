"""Readers for token-per-line files: CoNLL-U (UD treebanks) and CoNLL NER columns.

Both yield `Sentence`s and raise `DataError(msg, file, line)` on anything malformed: wrong field count,
unknown tag, non-sequential word id, bytes that are not UTF-8. Line numbers are 1-based physical lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.formats import iter_lines

# The 17 universal POS tags, alphabetical: also the ClassLabel order of the google/xtreme udpos configs.
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
        "SCONJ", "SYM", "VERB", "X")


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None
    line: int  # line of the sentence's first token


def _blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    """Blank-line separated blocks of (line number, line without its newline); a leading BOM is dropped."""
    block: list[tuple[int, str]] = []
    for n, line in iter_lines(path):
        if line.strip():
            block.append((n, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def read_conllu(path: Path) -> list[Sentence]:
    """Words and UPOS tags (column 4) of a CoNLL-U file.

    Comment lines, multiword-token ranges (`3-4`) and empty nodes (`5.1`) are skipped: the tags live on
    the syntactic words. Every other line must have the 10 tab-separated fields, ids must run 1, 2, ...
    """
    sentences = []
    known = set(UPOS)
    for block in _blocks(path):
        tokens: list[str] = []
        tags: list[str] = []
        first = 0
        for n, line in block:
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 10:
                raise DataError(f"expected 10 tab-separated CoNLL-U fields, found {len(cols)}", path, n)
            if "-" in cols[0] or "." in cols[0]:
                continue
            if cols[0] != str(len(tokens) + 1):
                raise DataError(f"word id {cols[0]!r} out of sequence (expected {len(tokens) + 1})", path, n)
            if cols[3] not in known:
                raise DataError(f"unknown UPOS tag {cols[3]!r} (known: {', '.join(UPOS)})", path, n)
            first = first or n
            tokens.append(cols[1])
            tags.append(cols[3])
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags), first))
    return sentences


def read_conll_ner(path: Path, known_tags: Iterable[str] | None = None, *, tagged: bool | None = True,
                   sep: str | None = None, lang_prefix: bool = False) -> list[Sentence]:
    """`token ... TAG` lines, a blank line between sentences; `-DOCSTART-` lines are skipped.

    The token is the first field and the tag the last; every line of a file must have as many fields as
    its first token line (CoNLL-03 has 4, MasakhaNER 2). `sep=None` splits on whitespace, `sep="\\t"` on
    tabs only. `tagged=False` reads token-only lines (XTREME's label-stripped test files; tags None);
    `tagged=None` decides from the file's first token line (one field: token only).
    `lang_prefix`: tokens are written `<lang>:<token>` (raw WikiANN) and the prefix is removed.
    """
    known = set(known_tags) if known_tags is not None else None
    sentences = []
    width = width_line = 0
    for block in _blocks(path):
        tokens: list[str] = []
        tags: list[str] = []
        first = 0
        for n, line in block:
            fields = line.split(sep)
            if fields[0] == "-DOCSTART-":
                continue
            if len(fields) != width:  # the first token line fixes the width; any other width is an error
                if width:
                    raise DataError(f"expected {width} fields as on line {width_line}, found {len(fields)}", path, n)
                width, width_line = len(fields), n
                tagged = width > 1 if tagged is None else tagged
                if tagged and width < 2:
                    raise DataError("expected a token and a tag, found 1 field", path, n)
                if not tagged and width != 1:
                    raise DataError(f"expected 1 field (token only), found {width}", path, n)
            token = fields[0]
            if lang_prefix:
                _, colon, token = token.partition(":")
                if not colon:
                    raise DataError(f"expected '<lang>:<token>', found {fields[0]!r}", path, n)
            if tagged:
                if known is not None and fields[-1] not in known:
                    raise DataError(f"unknown tag {fields[-1]!r} (known: {', '.join(sorted(known))})", path, n)
                tags.append(fields[-1])
            if not tokens:
                first = n
            tokens.append(token)
        if tokens:
            sentences.append(Sentence(tuple(tokens), tuple(tags) if tagged else None, first))
    return sentences


def to_iob2(tags: Iterable[str]) -> tuple[str, ...]:
    """IOB1 (or sloppy IOB2) -> IOB2: an `I-X` that does not continue an `X` entity becomes `B-X`.

    Entity spans are unchanged under seqeval's default (conlleval) reading, which already starts an entity
    at such an `I-X`; the output is valid IOB2 for strict scorers and for label-to-id models.
    """
    out: list[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return tuple(out)


def first_file(candidates: Iterable[Path], what: str, where: Path | None) -> Path:
    """The first existing file among `candidates` (a layout's possible places), else a DataError listing them."""
    candidates = list(candidates)
    for path in candidates:
        if path.is_file():
            return path
    raise DataError(f"no {what}; expected one of: {', '.join(map(str, candidates))}", where)
