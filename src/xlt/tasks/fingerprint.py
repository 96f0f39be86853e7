"""Content identity of the data a run reads: a sha256 over the files' bytes, hashed once per file version.

`data_fingerprint(sources, root)` hashes, in sorted order, every source a task recorded while loading
(`xlt.tasks.formats.recording`): for a file its name (relative to `root`, the task's data_dir, so
moving the folder keeps the identity) and the sha256 of its bytes; for a hub or embedded source its
pinned description (dataset, revision, layout, config; or task version + package version).

File hashes come from `xlt.hashing.file_sha256` (cached per path + size + mtime, so a large
benchmark is read once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from xlt.hashing import file_sha256


def data_fingerprint(sources: Iterable[str], root: Path | None = None) -> str:
    """sha256 hex over the sorted sources (see the module docstring)."""
    h = hashlib.sha256()
    for source in sorted(set(sources)):
        kind, _, what = source.partition(":")
        if kind == "file":
            path = Path(what)
            name = str(path.relative_to(root.absolute())) if root is not None and path.is_relative_to(
                root.absolute()) else str(path)
            h.update(f"file {name} {file_sha256(path)}\n".encode())
        else:
            h.update(f"{source}\n".encode())
    return h.hexdigest()
