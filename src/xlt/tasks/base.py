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
    def load(self, split: str, language: str) -> list[Example]:
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

    def _check_labels(self, examples: list[Example], split: str, language: str) -> None:
        if not self.spec.labels:
            return
        known = set(self.spec.labels)
        for ex in examples:
            if ex.label is not None and ex.label not in known:
                raise DataError(
                    f"label {ex.label!r} ({split}/{language}) is not one of the task's labels "
                    f"{sorted(known)}",
                    ex.origin or None,
                )

    def available_languages(self, split: str = "test") -> list[str]:
        """Languages whose `split` exists in the configured source (all of them unless overridden)."""
        return list(self.spec.languages)

    @abstractmethod
    def load_local(self, split: str, language: str) -> list[Example]:
        """Read the benchmark's released file layout below `self.data_dir`."""

    def hub_source(self) -> HubSource | None:
        return self.spec.hub

    def load_hub(self, split: str, language: str) -> list[Example]:
        from xlt.tasks.hub import load_hub_split

        return [
            self.from_hub_record(rec, f"{self.spec.hub.dataset}[{split}/{language}]#{i}")
            for i, rec in enumerate(load_hub_split(self.spec.hub, split, language, self.hub_split_name))
        ]

    def hub_split_name(self, split: str) -> str:
        return {"dev": "validation"}.get(split, split)

    def from_hub_record(self, record: dict, origin: str) -> Example:
        raise XltError(f"task {self.name} has no hub loader; pass a local data_dir")


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: make the task visible to `get_task`, `xlt ls tasks` and study files."""
    _REGISTRY[cls.spec.name] = cls
    return cls


def get_task(name: str, data_dir: str | Path | None = None) -> Task:
    if name not in _REGISTRY:
        raise unknown("task", name, _REGISTRY)
    return _REGISTRY[name](data_dir)


def all_specs() -> list[TaskSpec]:
    return [cls.spec for _, cls in sorted(_REGISTRY.items())]
