"""Reading a task split from the Hugging Face hub through `datasets` (parquet-backed ids only)."""

from __future__ import annotations

from collections.abc import Callable

from xlt.errors import XltError
from xlt.tasks.spec import HubSource

OFFLINE_HINT = (
    "the Hugging Face hub is unreachable; download the benchmark's files elsewhere and pass "
    "their folder as the task's data_dir (study file: tasks: [{name: ..., data_dir: /path}])"
)


def load_hub_split(source: HubSource, split: str, language: str, split_name: Callable[[str], str]):
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise XltError("reading from the hub needs the `datasets` package") from exc
    config = source.config.format(lang=language) if source.config else None
    try:
        ds = datasets.load_dataset(
            source.dataset, name=config, revision=source.revision, split=split_name(split)
        )
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise XltError(f"cannot load {source.dataset} ({config}, {split}) from the hub: {OFFLINE_HINT}") from exc
    except Exception as exc:  # datasets raises many types (DatasetNotFoundError, ValueError, ...)
        raise XltError(f"cannot load {source.dataset} ({config}, {split}): {exc}") from exc
    return list(ds)
