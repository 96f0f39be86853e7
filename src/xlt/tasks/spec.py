"""Typed task metadata: one `TaskSpec` per task, declared in the task's own module."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TaskType(str, Enum):
    CLASSIFICATION = "classification"
    MULTIPLE_CHOICE = "multiple-choice"
    TAGGING = "tagging"
    QA = "extractive-qa"
    RETRIEVAL = "retrieval"


@dataclass(frozen=True)
class HubSource:
    """Where the task lives on the Hugging Face hub (parquet-backed; `datasets>=4` runs no scripts).

    `layout` says how the repo at `revision` is organised, which decides how `datasets` must be asked:
    - "card": a dataset card (README.md) whose `configs:` section names the config -> `name=<config>`;
    - "parquet-export": the hub's parquet conversion branch (`refs/convert/parquet`), folders
      `<config>/<split>/0000.parquet` and no card. `name=<config>` fails there ("BuilderConfig not found.
      Available: ['default']"), so the config's folder is read with `data_dir=<config>`.
    """

    dataset: str
    revision: str  # pinned commit or parquet-conversion ref; part of reproducibility
    config: str | None = None  # may contain "{lang}", filled per language
    layout: str = "card"  # "card" | "parquet-export"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"HubSource.layout must be one of {LAYOUTS}, not {self.layout!r}")


LAYOUTS = ("card", "parquet-export")
PARQUET_EXPORT = "refs/convert/parquet"  # the branch the hub writes its parquet conversion to


@dataclass(frozen=True)
class TaskSpec:
    name: str
    type: TaskType
    description: str
    languages: tuple[str, ...]  # evaluation languages, in the task's own codes
    source_language: str  # the (English) training language, in the same codes
    metrics: tuple[str, ...]
    main_metric: str
    version: str  # bump when data or preprocessing changes: stored with every result
    labels: tuple[str, ...] = ()
    category: str | None = None  # XTREME-R category, None for non-XTREME-R tasks
    train_source: str = ""  # human-readable English training source
    hub: HubSource | None = None
    local_format: str = ""  # what a local data directory must look like
    license: str = ""
    citation: str = ""
    splits: tuple[str, ...] = ("train", "dev", "test")
    extra: dict = field(default_factory=dict)
    # further languages the released files cover: accepted when named and found by `languages: available`,
    # never part of `languages: all` (= `languages`, the benchmark's own set, e.g. XTREME-R's)
    released_languages: tuple[str, ...] = ()
    # other names of a language (e.g. the release's file codes) -> the task's code, for error hints
    aliases: dict = field(default_factory=dict)

    @property
    def accepted_languages(self) -> tuple[str, ...]:
        """Every language code the task reads: its own set, then the further released ones."""
        return tuple(dict.fromkeys((*self.languages, *self.released_languages)))
