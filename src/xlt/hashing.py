"""File content hashes, computed once per file version (data files and local model weights alike).

Hashes are cached by (absolute path, size, mtime_ns): in this process, and on disk under
`<cache>/data-hashes` (`xlt.paths.cache_dir`), one small file per key written atomically, so
concurrent workers share it and a large file is read once. A file rewritten in place gets a new
mtime, hence a new key and a new hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from xlt.errors import DataError

_MEMO: dict[tuple[str, int, int], str] = {}
_CHUNK = 1 << 20  # read 1 MiB at a time: a multi-GB file is never held in memory


def hash_cache_dir() -> Path:
    from xlt.paths import cache_dir

    return cache_dir() / "data-hashes"


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
