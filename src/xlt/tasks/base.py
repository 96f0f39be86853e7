"""Task base class and registry.

A task is one small module: a `TaskSpec` plus how to read its local files and its hub records.
`load()` validates what every task needs (known language, non-empty split, labels known to the
task), so individual loaders only parse.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xlt.errors import DataError, XltError, unknown
from xlt.tasks.fingerprint import data_fingerprint
from xlt.tasks.formats import note_source, recording
from xlt.tasks.spec import HubSource, TaskSpec, TaskType

_REGISTRY: dict[str, type["Task"]] = {}


@dataclass(frozen=True)
class Example:
    """One sentence(-pair) classification example; `origin` is "file:line" for error messages."""

    text: str
    label: str | None
    text_pair: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class ChoiceExample:
    """Multiple choice (XCOPA): a premise, an optional question ("cause"/"effect"), 2+ choices."""

    premise: str
    choices: tuple[str, ...]
    label: int | None  # index into `choices`
    question: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class TaggingExample:
    """Token-level tagging (POS, NER): pre-tokenised words and one tag per word (IOB2 for NER)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...] | None
    origin: str = ""


@dataclass(frozen=True)
class Answer:
    text: str
    start: int  # character offset into the context; -1 when the dataset gives none


@dataclass(frozen=True)
class QAExample:
    """Extractive QA (SQuAD v1.1 layout): answers are spans of `context`."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]
    origin: str = ""


@dataclass(frozen=True)
class RetrievalExample:
    """A query and the id of its gold candidate(s) in the task's candidate pool for that language.

    Tatoeba: query = a sentence in language X, gold = the id of its English translation.
    LAReQA / Mewsli-X: query = question / mention in context, gold = answer sentences / entity ids.
    """

    id: str
    query: str
    gold: tuple[str, ...]
    origin: str = ""


@dataclass(frozen=True)
class Candidate:
    id: str
    text: str
    language: str = ""


class Task(ABC):
    spec: ClassVar[TaskSpec]

    def __init__(self, data_dir: str | Path | None = None):
        self.data_dir = Path(data_dir).expanduser() if data_dir else None
        if self.data_dir is not None and not self.data_dir.is_dir():
            raise DataError("data_dir is not a directory" if self.data_dir.exists() else
                            "data directory does not exist", self.data_dir)
        # what load() / _memo() returned, with the sources read and their (size, mtime_ns) then
        self._loaded: dict[tuple, tuple[object, frozenset[str], dict]] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    # -- loading ---------------------------------------------------------------------------
    def load(self, split: str, language: str) -> list:
        """Examples of one split in one language, from `data_dir` if given, else the default source.

        Every split of a task that is not unlabelled by design (retrieval) must carry gold labels;
        the result is kept (and reused while its files are unchanged), so `fingerprint` then `load`
        parses once.
        """
        if split not in self.spec.splits:
            raise unknown(f"split for task {self.name}", split, self.spec.splits)
        if language not in self.spec.accepted_languages and language != self.spec.source_language:
            raise unknown_language(self.spec, language)

        def read():
            with recording() as found:
                if self.data_dir is not None or self.hub_source() is None:
                    examples = self.load_local(split, language)
                else:
                    examples = self.load_hub(split, language)
            self._check_examples(examples, split, language, found)
            return tuple(examples)

        return list(self._memo(("load", split, language), read))

    def _memo(self, key: tuple, build):
        """`build()` once per key while the files it read are unchanged; its sources are recorded again on
        every hit, so a `recording()` around a cached call still sees what the value was read from."""
        loaded = self.__dict__.setdefault("_loaded", {})  # also for a subclass whose __init__ skips ours
        hit = loaded.get(key)
        if hit is not None and _stats(hit[1]) == hit[2]:
            for source in hit[1]:
                note_source(source)
            return hit[0]
        with recording() as found:
            value = build()
            if not found:  # nothing read from disk or the hub: data built from an installed package
                note_source(self.embedded_source())
        loaded[key] = (value, frozenset(found), _stats(found))
        return value

    def embedded_source(self) -> str:
        """Identity of data built in code (no files, no hub): tasks built from a package add its version."""
        return f"embedded:{self.name}@{self.spec.version}"

    def _check_examples(self, examples: list, split: str, language: str, sources: set[str]) -> None:
        if not examples:
            files = sorted(s.removeprefix("file:") for s in sources if s.startswith("file:"))
            where = f" (read {', '.join(files)})" if files else ""
            raise DataError(f"task {self.name}: split {split!r} for language {language!r} is empty{where}")
        if self.spec.type is not TaskType.RETRIEVAL:
            for ex in examples:
                if not has_gold(ex):
                    raise DataError(f"no gold label ({split}/{language}): a task's {split} data must be "
                                    "labelled (XTREME's download strips test labels: use the original release)",
                                    ex.origin or None)
        self._check_labels(examples, split, language)

    def _check_labels(self, examples: list, split: str, language: str) -> None:
        if not self.spec.labels:
            return
        known = set(self.spec.labels)
        for ex in examples:
            bad = [l for l in labels_of(ex) if l is not None and (not isinstance(l, str) or l not in known)]
            if bad:
                raise DataError(
                    f"label {bad[0]!r} ({split}/{language}) is not one of the task's labels {sorted(known)}",
                    ex.origin or None,
                )

    # -- content identity ------------------------------------------------------------------
    def sources_read(self, split: str, language: str) -> frozenset[str]:
        """What `load(split, language)` reads - "file:<path>", "hub:..." or "embedded:..." - plus, for the
        test split of a retrieval task, what its candidate pool is read from. Loads if not loaded yet."""
        with recording() as found:
            self.load(split, language)
            if self.spec.type is TaskType.RETRIEVAL and split == "test":
                self.load_candidates(language)
        return frozenset(found)

    def sources(self, pairs: Iterable[tuple[str, str]]) -> frozenset[str]:
        """`sources_read` of every (split, language) pair, together."""
        return frozenset().union(*(self.sources_read(split, language) for split, language in pairs))

    def fingerprint(self, pairs: Iterable[tuple[str, str]]) -> str:
        """sha256 hex of the data read for these (split, language) pairs: the bytes of exactly the files
        read (cached per path + size + mtime, see xlt.tasks.fingerprint), the pinned hub source, or the
        embedded task's version. Loads what is not loaded yet (and keeps it for `load`)."""
        return data_fingerprint(self.sources(pairs), self.data_dir)

    def available_languages(self, split: str = "test") -> list[str]:
        """Languages whose `split` exists below `data_dir`, the task's own set first, then the further
        released ones (`spec.released_languages`); without a data_dir, the task's own set."""
        if self.data_dir is None:
            return list(self.spec.languages)
        return [lang for lang in self.spec.accepted_languages if self.has_local(split, lang)]

    def has_local(self, split: str, language: str) -> bool:
        """Whether `data_dir` holds `split` for `language` (tasks with local files override this)."""
        return True

    @abstractmethod
    def load_local(self, split: str, language: str) -> list:
        """Read the benchmark's released file layout below `self.data_dir`."""

    def load_candidates(self, language: str) -> list[Candidate]:
        """Retrieval tasks: the candidate pool that queries in `language` are ranked against."""
        raise XltError(f"task {self.name} is not a retrieval task")

    def hub_source(self) -> HubSource | None:
        return self.spec.hub

    def load_hub(self, split: str, language: str) -> list:
        from xlt.tasks.hub import load_hub_split

        return [
            self.from_hub_record(rec, f"{self.spec.hub.dataset}[{split}/{language}]#{i}")
            for i, rec in enumerate(load_hub_split(self.spec.hub, split, language, self.hub_split_name))
        ]

    def hub_split_name(self, split: str) -> str:
        return {"dev": "validation"}.get(split, split)

    def from_hub_record(self, record: dict, origin: str):
        raise XltError(f"task {self.name} has no hub loader; pass a local data_dir")


def unknown_language(spec: TaskSpec, bad: str | list[str]) -> XltError:
    """One line for language codes `spec` does not read (one code as `load` meets it, or a study's list):
    a known other name of one of its languages (a release's file code, e.g. Tatoeba's "cat" for "ca")
    says which code to write."""
    codes = [bad] if isinstance(bad, str) else list(bad)
    hints = [f"{b!r} is written {spec.aliases[b]!r} here" for b in codes if b in spec.aliases]
    if hints:
        return XltError(f"task {spec.name}: unknown language(s) {codes}: {'; '.join(hints)}")
    valid = set(spec.accepted_languages) | {spec.source_language}
    if isinstance(bad, str):
        return unknown(f"language for task {spec.name}", bad, valid)
    return XltError(f"task {spec.name}: unknown language(s) {codes} (valid: {', '.join(sorted(valid))})")


def has_gold(ex) -> bool:
    """Whether an example carries its gold answer (label, tags, choice index, answer spans)."""
    if isinstance(ex, (Example, ChoiceExample)):
        return ex.label is not None
    if isinstance(ex, TaggingExample):
        return ex.tags is not None
    if isinstance(ex, QAExample):
        return bool(ex.answers)
    return True


def _stats(sources) -> dict[str, tuple[int, int] | None]:
    """(size, mtime_ns) of every file source: a cached load is reused only while these are unchanged."""
    out = {}
    for source in sources:
        if source.startswith("file:"):
            try:
                st = os.stat(source[5:])
                out[source] = (st.st_size, st.st_mtime_ns)
            except OSError:
                out[source] = None
    return out


def labels_of(ex) -> tuple:
    """The label names an example carries (None entries: unlabelled)."""
    if isinstance(ex, Example):
        return (ex.label,)
    if isinstance(ex, TaggingExample):
        return ex.tags or ()
    return ()


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make the task visible to `get_task`, `xlt ls tasks` and study files."""
    _REGISTRY[cls.spec.name] = cls
    return cls


def get_task(name: str, data_dir: str | Path | None = None) -> Task:
    if name not in _REGISTRY:
        raise unknown("task", name, _REGISTRY)
    return _REGISTRY[name](data_dir)


def find_spec(name: str) -> TaskSpec | None:
    """The spec of a registered task; None for a name this registry does not know (stored results of
    another xlt version), where `get_task` raises."""
    cls = _REGISTRY.get(name)
    return cls.spec if cls else None


def all_specs() -> list[TaskSpec]:
    return [cls.spec for _, cls in sorted(_REGISTRY.items())]
