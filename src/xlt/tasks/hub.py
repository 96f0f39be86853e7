"""Reading a task split from the Hugging Face hub through `datasets` (parquet-backed ids only).

How `datasets` is called depends on the repo's layout at the pinned revision (`HubSource.layout`):
a card with `configs:` is read with `name=<config>`, the parquet-export branch (no card) with
`data_dir=<config>`. A local directory in place of the repo id (a replica of either layout, as the
tests build) goes through the same call. Each load records its source - dataset, revision, layout,
config, or for a local directory the bytes of the files read - for the task's fingerprint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from xlt.errors import XltError
from xlt.tasks.formats import note_file, note_source
from xlt.tasks.spec import HubSource

OFFLINE_HINT = (
    "the Hugging Face hub is unreachable; download the benchmark's files elsewhere and pass "
    "their folder as the task's data_dir (study file: tasks: [{name: ..., data_dir: /path}])"
)


def load_args(source: HubSource, language: str) -> dict:
    """Keyword arguments for `datasets.load_dataset` (besides the split) for this layout."""
    config = source.config.format(lang=language) if source.config else None
    args = {"path": source.dataset, "revision": source.revision}
    if config is not None:
        args["data_dir" if source.layout == "parquet-export" else "name"] = config
    return args


def load_hub_split(source: HubSource, split: str, language: str, split_name: Callable[[str], str]):
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise XltError("reading from the hub needs the `datasets` package") from exc
    args = load_args(source, language)
    config = args.get("name") or args.get("data_dir")
    try:
        with _quiet_hub():
            ds = datasets.load_dataset(**args, split=split_name(split))
    except (ConnectionError, OSError, TimeoutError) as exc:
        raise XltError(f"cannot load {source.dataset} ({config}, {split}) from the hub: {OFFLINE_HINT}") from exc
    except Exception as exc:  # datasets raises many types (DatasetNotFoundError, ValueError, ...)
        raise XltError(f"cannot load {source.dataset} ({config}, {split}): {exc}") from exc
    _note(source, config)
    return list(ds)


@contextmanager
def _quiet_hub():
    """The hub clients' own retry chatter would bury xlt's one-line error: errors only, meanwhile."""
    loggers = [logging.getLogger(name) for name in ("huggingface_hub", "datasets", "fsspec")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _note(source: HubSource, config: str | None) -> None:
    """Record what was read: a local replica by its files' bytes, a hub repo by its pinned coordinates."""
    local = Path(source.dataset)
    if local.is_dir():
        folder = local / config if source.layout == "parquet-export" and config else local
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(local).parts):
                note_file(path)
    note_source(f"hub:{source.dataset}@{source.revision} layout={source.layout} config={config}")
