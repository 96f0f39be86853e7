"""Mewsli-X: entity linking as retrieval - find the WikiData entity a WikiNews mention refers to.

Release format (google-research `dense_representations_for_entity_retrieval/mel`, get-mewsli-x.sh):
- `wikinews_mentions-{dev,test}.jsonl`: one article per line, `{"context": {"language", "text",
  "sentence_spans": [{start, end}], ...}, "mentions": [{"example_id", "entity_id", "mention_span":
  {"start", "end", "text"}}]}` (all 11 languages in one file; the `_no_text` files lack the text);
- `candidate_set_entities.jsonl`: ~1M entities `{"entity_id", "title", "description",
  "description_language", "sentence_spans", ...}`, the pool for every language (`load_candidates`);
- `wikipedia_pairs-train.jsonl` (English training): `{"contextual_mention": {"context", "mention"},
  "entity": {...}}`; its pool is the entities of that file.
Query = XTREME's baseline text: the mention, a colon, then its sentence with the mention marked,
`"Smith: The verdict came back for { Smith }, who ..."` (braces already in the text become ( ));
candidate text = the entity description's sentences; gold = the entity id. dev = the WikiNews dev
mentions (XTREME's own script selects checkpoints on `wikipedia_pairs-dev.jsonl` instead).
Local layout: those files in `<data_dir>`, `<data_dir>/mewslix/` (XTREME's download) or
`<data_dir>/mewsli_x/output/dataset/` (get-mewsli-x.sh output). Errors name the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from xlt.errors import DataError
from xlt.tasks.base import Candidate, RetrievalExample, Task, register
from xlt.tasks.formats import read_jsonl
from xlt.tasks.spec import TaskSpec, TaskType
from xlt.tasks.squad import find_file, require_english

_LANGS = ("ar", "de", "en", "es", "fa", "ja", "pl", "ro", "ta", "tr", "uk")
_FILES = {"train": "wikipedia_pairs-train.jsonl", "dev": "wikinews_mentions-dev.jsonl",
          "test": "wikinews_mentions-test.jsonl", "entities": "candidate_set_entities.jsonl"}
_ROOTS = ("", "mewslix/", "mewsli_x/output/dataset/")
_BRACES = re.compile(r"\{(.*?)\}")


@register
class MewsliX(Task):
    spec = TaskSpec(
        name="mewslix",
        type=TaskType.RETRIEVAL,
        description="Link WikiNews entity mentions in 11 languages to ~1M WikiData entities by their descriptions",
        languages=_LANGS,
        source_language="en",
        metrics=("map@20",),
        main_metric="map@20",
        version="1.0",
        category="retrieval",
        train_source="English Wikipedia mention-entity pairs (wikipedia_pairs-train.jsonl, 167,719)",
        hub=None,  # the WikiNews text must be rebuilt from dumps (get-mewsli-x.sh); no hub copy
        local_format="<dir>/{wikinews_mentions-{dev,test},candidate_set_entities,wikipedia_pairs-train}.jsonl",
        license="see the Mewsli-X README; WikiNews text CC BY 2.5, Wikipedia text CC BY-SA",
        citation="Ruder et al. 2021, XTREME-R, EMNLP (Mewsli-X is introduced there; Mewsli-9: Botha et al. 2020)",
    )

    def _path(self, key: str) -> Path:
        return find_file(self.data_dir, [root + _FILES[key] for root in _ROOTS], f"Mewsli-X {_FILES[key]}")

    def available_languages(self, split: str = "test") -> list[str]:
        if self.data_dir is None:
            return []
        if split == "train":
            return ["en"] if any((self.data_dir / (r + _FILES["train"])).is_file() for r in _ROOTS) else []
        present = any((self.data_dir / (r + _FILES[split])).is_file() for r in _ROOTS)
        return sorted(self._mentions(split)) if present else []

    def load_local(self, split: str, language: str) -> list[RetrievalExample]:
        if split == "train":
            require_english(self.name, split, language, _FILES["train"])
            return [query for query, _ in self._train_pairs()]
        return list(self._mentions(split).get(language, []))

    def load_candidates(self, language: str = "en", split: str = "test") -> list[Candidate]:
        """The pool for `split`: the ~1M candidate entities (any `language`), or the train file's entities."""
        if split == "train":
            return list({c.id: c for _, c in self._train_pairs()}.values())
        return list(self._memo(("entities",), self._read_entities))

    def _read_entities(self) -> list[Candidate]:
        path = self._path("entities")
        return [_entity(rec, path, line) for line, rec in read_jsonl(path)]

    def _mentions(self, split: str) -> dict[str, list[RetrievalExample]]:
        """Queries per language of one WikiNews file (all languages share it: read once)."""
        return self._memo(("mentions", split), lambda: self._read_mentions(split))

    def _read_mentions(self, split: str) -> dict[str, list[RetrievalExample]]:
        path, out = self._path(split), {}
        for line, rec in read_jsonl(path, ("context", "mentions")):
            ctx = rec["context"]
            lang = _get(ctx, "language", str, path, line, "context")
            for i, m in enumerate(_get(rec, "mentions", list, path, line, "record")):
                out.setdefault(lang, []).append(_query(ctx, m, path, line, f"mentions[{i}]"))
        return out

    def _train_pairs(self) -> list[tuple[RetrievalExample, Candidate]]:
        return self._memo(("train pairs",), self._read_train_pairs)

    def _read_train_pairs(self) -> list[tuple[RetrievalExample, Candidate]]:
        path, pairs = self._path("train"), []
        for line, rec in read_jsonl(path, ("contextual_mention", "entity")):
            cm = _get(rec, "contextual_mention", dict, path, line, "record")
            ctx, mention = (_get(cm, k, dict, path, line, "contextual_mention") for k in ("context", "mention"))
            pairs.append((_query(ctx, mention, path, line, "mention"), _entity(rec["entity"], path, line)))
        return pairs


def _get(obj, key: str, kind: type, path: Path, line: int, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{where} lacks field {key!r}", path, line)
    if not isinstance(obj[key], kind):
        raise DataError(f"{where}.{key}: expected {kind.__name__}, found {type(obj[key]).__name__}", path, line)
    return obj[key]


def _spans(obj: dict, text: str, path: Path, line: int, where: str) -> list[tuple[int, int]]:
    spans = [(_get(s, "start", int, path, line, where), _get(s, "end", int, path, line, where))
             for s in _get(obj, "sentence_spans", list, path, line, where)]
    if any(not 0 <= s < e <= len(text) for s, e in spans):
        raise DataError(f"{where}.sentence_spans: a span lies outside the text", path, line)
    return spans


def _query(ctx: dict, mention: dict, path: Path, line: int, where: str) -> RetrievalExample:
    example_id = _get(mention, "example_id", str, path, line, where)
    where = f"mention {example_id!r}"
    text = _get(ctx, "text", str, path, line, "context")
    if not text:
        raise DataError("context.text is empty: the released wikinews_mentions_no_text files need their "
                        "article text restored (run get-mewsli-x.sh)", path, line)
    span = _get(mention, "mention_span", dict, path, line, where)
    start, end = _get(span, "start", int, path, line, where), _get(span, "end", int, path, line, where)
    surface = _get(span, "text", str, path, line, where)
    if text[start:end] != surface or start >= end:
        raise DataError(f"{where}: mention_span {surface!r} is not text[{start}:{end}]", path, line)
    spans = _spans(ctx, text, path, line, "context")
    # the sentence(s) holding the mention; the whole text if the spans do not cover it
    left = next((s for s, e in spans if s <= start < e), 0)
    right = next((e for s, e in spans if s < end <= e), len(text))
    before, after = _BRACES.sub(r"(\1)", text[left:start]), _BRACES.sub(r"(\1)", text[end:right])
    query = " ".join(f"{surface}: {before} {{ {surface} }} {after}".split())
    entity = _get(mention, "entity_id", str, path, line, where)
    return RetrievalExample(id=example_id, query=query, gold=(entity,), origin=f"{path}:{line}")


def _entity(rec: dict, path: Path, line: int) -> Candidate:
    entity_id = _get(rec, "entity_id", str, path, line, "entity")
    description = _get(rec, "description", str, path, line, f"entity {entity_id!r}")
    spans = _spans(rec, description, path, line, f"entity {entity_id!r}")
    text = " ".join(description[s:e] for s, e in spans) if spans else description
    language = _get(rec, "description_language", str, path, line, f"entity {entity_id!r}")
    return Candidate(id=entity_id, text=" ".join(text.split()), language=language)
