"""Task base class and registry.

A task is one small module: a `TaskSpec` plus how to read its local files and its hub records.
`load()` validates what every task needs (known language, non-empty split, labels known to the
task), so individual loaders only parse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from xlt.errors import DataError, XltError, unknown
from xlt.tasks.spec import HubSource, TaskSpec

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
            raise DataError("data directory does not exist", self.data_dir)

    @property
    def name(self) -> str:
        return self.spec.name

    # -- loading ---------------------------------------------------------------------------
    def load(self, split: str, language: str) -> list:
        """Examples of one split in one language, from `data_dir` if given, else the default source."""
        if split not in self.spec.splits:
            raise unknown(f"split for task {self.name}", split, self.spec.splits)
        valid = set(self.spec.languages) | {self.spec.source_language}
        if language not in valid:
            raise unknown(f"language for task {self.name}", language, valid)
        if self.data_dir is not None or self.hub_source() is None:
            examples = self.load_local(split, language)
        else:
            examples = self.load_hub(split, language)
        if not examples:
            raise DataError(f"task {self.name}: split {split!r} for language {language!r} is empty")
        self._check_labels(examples, split, language)
        return examples

    def _check_labels(self, examples: list, split: str, language: str) -> None:
        if not self.spec.labels:
            return
        known = set(self.spec.labels)
        for ex in examples:
            bad = [l for l in labels_of(ex) if l is not None and l not in known]
            if bad:
                raise DataError(
                    f"label {bad[0]!r} ({split}/{language}) is not one of the task's labels {sorted(known)}",
                    ex.origin or None,
                )

    def available_languages(self, split: str = "test") -> list[str]:
        """Languages whose `split` exists below `data_dir` (every language for the hub/embedded data)."""
        if self.data_dir is None:
            return list(self.spec.languages)
        return [lang for lang in self.spec.languages if self.has_local(split, lang)]

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
