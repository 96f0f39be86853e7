"""LAReQA on XQuAD-R: language-agnostic answer-sentence retrieval from a pool in 11 languages.

XQuAD-R (github.com/google-research-datasets/lareqa, `xquad-r/<lang>.json`) is XQuAD in SQuAD v1.1
layout with each paragraph's sentence spans added (`sentence_breaks`: [[start, end), ...]). For the
test split, the pool (`load_candidates`) is every sentence of every paragraph in all 11 languages, and
a question in language L has as gold the sentence holding its answer in *each* language (the question
ids are parallel), as in XTREME's utils_lareqa.py. Candidate ids are `<lang>:<paragraph>:<sentence>`;
`candidate_context(id)` gives the paragraph (XTREME encodes sentence + paragraph).
English train/dev (XTREME-R: SQuAD v1.1 turned into question -> answer-sentence pairs) come from
`{train,dev}-v1.1.json`; their pool is the sentences of the same file.

Sentences: the files' `sentence_breaks` when present. Only when a paragraph lacks them (SQuAD, or a
plain XQuAD folder used as XQuAD-R without breaks) does `split_sentences` cut after . ! ? ؟ । ॥
(plus closing quotes/brackets) followed by whitespace and a character that is not lower case, and
after 。！？ - a rough rule: it splits at abbreviations ("U.S. Army") and hardly splits Thai, so its
pools differ from XQuAD-R's. A question whose answer starts outside every sentence is dropped
(warning), as XTREME does.
Local layouts: `<dir>/xquad-r/<lang>.json` (the lareqa repo), `<dir>/lareqa/xquad-r/<lang>.json` (XTREME's
`download/`), `<dir>/<lang>.json` or `<dir>/xquad.<lang>.json`; SQuAD as `<dir>/{train,dev}-v1.1.json` or
`<dir>/squad/...`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Candidate, RetrievalExample, Task, register
from xlt.tasks.spec import TaskSpec, TaskType
from xlt.tasks.squad import Paragraph, find_file, read_paragraphs, require_english, squad_file

_LANGS = ("ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh")
_END = re.compile(  # sentence-final punctuation, closing quotes/brackets, then whitespace (optional after CJK)
    r"[.!?\u061f\u0964\u0965]+[\"'\u201d\u2019\u00bb)\]]*\s+"
    r"|[\u3002\uff01\uff1f]+[\"'\u201d\u2019\u300d\u300f\uff09)\]]*\s*"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Fallback sentence spans [start, end) over `text`, whitespace trimmed (see the module docstring)."""
    spans, start = [], 0
    cuts = [m.end() for m in _END.finditer(text) if not text[m.end():m.end() + 1].islower()]
    for cut in cuts + [len(text)]:
        s, e = start, cut
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            spans.append((s, e))
        start = cut
    return spans


def _test_names(lang: str) -> tuple[str, ...]:
    return f"xquad-r/{lang}.json", f"lareqa/xquad-r/{lang}.json", f"{lang}.json", f"xquad.{lang}.json"


@dataclass
class _Split:
    queries: dict[str, list[RetrievalExample]] = field(default_factory=dict)
    candidates: list[Candidate] = field(default_factory=list)
    contexts: dict[str, str] = field(default_factory=dict)


@register
class LAReQA(Task):
    spec = TaskSpec(
        name="lareqa",
        type=TaskType.RETRIEVAL,
        description="Retrieve the answer sentence of a question from a pool of sentences in 11 languages",
        languages=_LANGS,
        source_language="en",
        metrics=("map@20",),
        main_metric="map@20",
        version="1.0",
        category="retrieval",
        train_source="SQuAD v1.1 train as question -> answer-sentence pairs; dev = SQuAD v1.1 dev",
        hub=None,  # no parquet copy of XQuAD-R with its sentence breaks is known
        local_format="<dir>/xquad-r/<lang>.json (+ <dir>/{train,dev}-v1.1.json or <dir>/squad/)",
        license="CC BY-SA 4.0 (XQuAD-R, SQuAD)",
        citation="Roy et al. 2020, LAReQA: Language-agnostic answer retrieval from a multilingual pool, EMNLP",
    )

    def available_languages(self, split: str = "test") -> list[str]:
        if self.data_dir is None:
            return []
        if split != "test":
            names = (f"{split}-v1.1.json", f"squad/{split}-v1.1.json")
            return ["en"] if any((self.data_dir / n).is_file() for n in names) else []
        return [l for l in _LANGS if any((self.data_dir / n).is_file() for n in _test_names(l))]

    def load_local(self, split: str, language: str) -> list[RetrievalExample]:
        if split != "test":
            require_english(self.name, split, language, "SQuAD v1.1")
        queries = self._split(split).queries
        if language not in queries:
            find_file(self.data_dir, _test_names(language), f"XQuAD-R {language}")  # raises: not found
        return list(queries[language])

    def load_candidates(self, language: str = "en", split: str = "test") -> list[Candidate]:
        """The pool for `split`: for test every XQuAD-R sentence in every language (whatever `language`)."""
        return list(self._split(split).candidates)

    def candidate_context(self, candidate_id: str, split: str = "test") -> str:
        return self._split(split).contexts[candidate_id]

    # -- building a split --------------------------------------------------------------------
    def _split(self, split: str) -> _Split:
        """Queries and pool of `split`, built once (every test language file feeds every test query's pool)."""
        return self._memo(("split", split), lambda: self._build_split(split))

    def _build_split(self, split: str) -> _Split:
        if self.data_dir is None:
            raise DataError(f"task {self.name} has no hub source; pass the XQuAD-R folder as data_dir")
        if split == "test":
            langs = self.available_languages("test")
            if not langs:
                find_file(self.data_dir, _test_names("en"), "XQuAD-R")  # raises, naming the layout
            if len(langs) < len(_LANGS):
                warnings.warn(f"{self.data_dir}: the LAReQA pool holds only {len(langs)} of {len(_LANGS)} "
                              "languages; scores are not comparable with the full XQuAD-R pool", stacklevel=5)
            files = {l: find_file(self.data_dir, _test_names(l), f"XQuAD-R {l}") for l in langs}
        else:
            files = {"en": squad_file(self.data_dir, split)}
        return _build(files)


def _build(files: dict[str, Path]) -> _Split:
    out = _Split()
    answer_sentences: dict[str, dict[str, tuple[str, ...]]] = {}  # lang -> question id -> sentence ids
    questions = {}
    for lang, path in files.items():
        answer_sentences[lang], questions[lang] = {}, []
        for n, para in enumerate(read_paragraphs(path)):
            spans = _spans(para, path)
            ids = [f"{lang}:{n}:{k}" for k in range(len(spans))]
            for cid, (s, e) in zip(ids, spans):
                out.candidates.append(Candidate(id=cid, text=para.context[s:e], language=lang))
                out.contexts[cid] = para.context
            for q in para.questions:
                found = [cid for a in q.answers for cid, (s, e) in zip(ids, spans) if s <= a.start < e]
                answer_sentences[lang][q.id] = tuple(dict.fromkeys(found))
                questions[lang].append(q)
    dropped = 0
    for lang, qs in questions.items():
        out.queries[lang] = []
        for q in qs:
            if not answer_sentences[lang][q.id]:
                dropped += 1
                continue
            gold = tuple(cid for other in files for cid in answer_sentences[other].get(q.id, ()))
            out.queries[lang].append(RetrievalExample(id=f"{lang}:{q.id}", query=q.question, gold=gold,
                                                      origin=q.origin))
    if dropped:
        warnings.warn(f"LAReQA: dropped {dropped} question(s) whose answer starts outside every sentence", stacklevel=4)
    return out


def _spans(para: Paragraph, path: Path) -> list[tuple[int, int]]:
    breaks = para.raw.get("sentence_breaks")
    if breaks is None:
        return split_sentences(para.context)
    ok = isinstance(breaks, list) and all(
        isinstance(b, list) and len(b) == 2 and all(type(x) is int for x in b) and 0 <= b[0] < b[1] <= len(para.context)
        for b in breaks
    )
    if not ok:
        raise DataError(f"{para.where}.sentence_breaks: expected [[start, end], ...] within the context", path)
    return [(s, e) for s, e in breaks]
