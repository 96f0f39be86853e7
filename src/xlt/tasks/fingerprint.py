"""Content identity of the data a run reads: a sha256 over the files' bytes, hashed once per file version.

`data_fingerprint(sources, root)` hashes, in sorted order, every source a task recorded while loading
(`xlt.tasks.formats.recording`): for a file its name (relative to `root`, the task's data_dir, so
moving the folder keeps the identity) and the sha256 of its bytes; for a hub or embedded source its
pinned description (dataset, revision, layout, config; or task version + package version).

File hashes are cached by (absolute path, size, mtime_ns): in this process, and on disk under
`$XLT_CACHE/data-hashes` (else `~/.cache/xlt/data-hashes`), one small file per key written atomically,
so concurrent workers share it and a large benchmark is read once. A file rewritten in place gets a
new mtime, hence a new key and a new hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from xlt.errors import DataError

_MEMO: dict[tuple[str, int, int], str] = {}
_CHUNK = 1 << 20  # read 1 MiB at a time: a multi-GB file is never held in memory


def hash_cache_dir() -> Path:
    base = os.environ.get("XLT_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "xlt") / "data-hashes"


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of the file's bytes, from the cache when (path, size, mtime_ns) is known."""
    path = Path(path).absolute()
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc}); was the file moved since it was loaded?", path) from None
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key in _MEMO:
        return _MEMO[key]
    entry = hash_cache_dir() / hashlib.sha256("\0".join(map(str, key)).encode()).hexdigest()
    try:
        digest = entry.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        digest = ""
    if len(digest) != 64:
        digest = _hash_bytes(path)
        _store(entry, digest)
    _MEMO[key] = digest
    return digest


def _hash_bytes(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path) from None
    return h.hexdigest()


def _store(entry: Path, digest: str) -> None:
    """Write atomically (temp file + rename); an unwritable cache only costs re-hashing."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(digest)
        os.replace(tmp, entry)
    except OSError:
        pass


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
