"""Tokenisation cache: a task split is tokenised once per tokenizer, not once per run or process.

Layout: `<cache>/tokens/<key>/`: one `.npy` per array, memory-mapped on load (pages are shared
between processes and read only when touched; 4 bytes per token instead of ~36 for Python lists),
plus `meta.json` (the key, a blake2b hash of every file, the QA decoding info). `<cache>` is the
study's `cache_dir`, else $XLT_CACHE, else the user cache folder (`xlt.paths.cache_dir`).

The key hashes everything the token ids depend on: the tokenizer's full definition
(tokenizer.json, truncation side), the kind's code, the task name and version, the examples
themselves (an edited data file never hits a stale entry), max_length, the input prefix, the label
map and FORMAT. An entry is written into a temporary folder and renamed into place; one that fails
to load or verify is rebuilt with a warning.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import shutil
import tempfile
import weakref
from pathlib import Path

import numpy as np

from xlt import paths
from xlt.training.batching import Encoded, Ragged

log = logging.getLogger("xlt")
FORMAT = 1  # bump when the stored layout or the meaning of a field changes
_RAGGED = ("input_ids", "token_type_ids", "token_labels", "word_ids")
_DTYPES = {"input_ids": np.int32, "token_type_ids": np.int8, "token_labels": np.int32, "word_ids": np.int32}
_TOKENIZER_IDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_VERIFIED: dict[str, tuple] = {}  # entry -> (size, mtime_ns) of its files when hashed in this process


def cache_root(cache_dir: str | Path | None = None) -> Path:
    return paths.cache_dir(cache_dir) / "tokens"


def tokenizer_id(tokenizer) -> str:
    """Hash of everything in a fast tokenizer that decides the ids (computed once per object)."""
    try:
        return _TOKENIZER_IDS[tokenizer]
    except (KeyError, TypeError):
        pass
    h = hashlib.blake2b(tokenizer.backend_tokenizer.to_str().encode(), digest_size=16)
    h.update(f"{type(tokenizer).__name__}|{getattr(tokenizer, 'truncation_side', 'right')}".encode())
    digest = h.hexdigest()
    try:
        _TOKENIZER_IDS[tokenizer] = digest
    except TypeError:  # not weak-referenceable: hash again next time
        pass
    return digest


def entry_key(kind, examples: list, tokenizer, label2id: dict, max_length: int, prefix: str) -> dict:
    data = hashlib.blake2b(digest_size=16)
    for ex in examples:
        data.update(repr(ex).encode())
        data.update(b"\x00")
    code = hashlib.blake2b(digest_size=16)
    for cls in type(kind).__mro__:  # the kind's encode and whatever it inherits
        if cls.__module__.startswith("xlt."):
            code.update(Path(inspect.getfile(cls)).read_bytes())
    return {"format": FORMAT, "kind": type(kind).__qualname__, "code": code.hexdigest(),
            "task": kind.spec.name, "task_version": kind.spec.version, "tokenizer": tokenizer_id(tokenizer),
            "examples": data.hexdigest(), "n": len(examples), "max_length": max_length, "prefix": prefix,
            "labels": sorted(label2id.items())}


def encode_cached(kind, examples: list, tokenizer, label2id: dict, max_length: int, prefix: str = "",
                  cache_dir: str | Path | None = None) -> Encoded:
    """`kind.encode(...)`, read from the cache when this exact input was tokenised before."""
    key = entry_key(kind, examples, tokenizer, label2id, max_length, prefix)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    dest = cache_root(cache_dir) / digest
    if dest.exists():
        try:
            return _load(dest, key)
        except Exception as exc:  # any damage: a truncated array, edited json, a missing file
            log.warning("tokenisation cache %s is unusable (%s): tokenising again", dest, exc)
            shutil.rmtree(dest, ignore_errors=True)
            _VERIFIED.pop(str(dest), None)
    enc = kind.encode(examples, tokenizer, label2id, max_length, prefix)
    try:
        _store(enc, dest, key)
        return _load(dest, key)
    except OSError as exc:  # read-only or full disk: the run goes on without the cache
        log.warning("cannot write tokenisation cache %s (%s): using the tokens in memory", dest, exc)
        return enc


def _store(enc: Encoded, dest: Path, key: dict) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        fields = {}
        for name in _RAGGED:
            rows = getattr(enc, name)
            if rows is None:
                continue
            r = rows if isinstance(rows, Ragged) else Ragged.from_rows(rows, _group(rows), _DTYPES[name])
            np.save(tmp / f"{name}.flat.npy", np.asarray(r.flat, dtype=_DTYPES[name]))
            np.save(tmp / f"{name}.offsets.npy", np.asarray(r.offsets))
            fields[name] = r.group
        np.save(tmp / "labels.npy", np.asarray(enc.labels))
        if enc.meta is not None:  # QA decoding info (example index, character offsets per token)
            (tmp / "rows.json").write_text(json.dumps(enc.meta), encoding="utf-8")
        files = sorted(p.name for p in tmp.iterdir())
        meta = {"key": key, "fields": fields, "hashes": {f: _hash(tmp / f) for f in files}}
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / "meta.json").is_file():  # not a lost race with another writer
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _group(rows) -> int:
    """k for choice rows (each a list of k sequences), else 1."""
    return len(rows[0]) if rows and len(rows[0]) and isinstance(rows[0][0], (list, tuple, np.ndarray)) else 1


def _load(dest: Path, key: dict) -> Encoded:
    meta = json.loads((dest / "meta.json").read_text(encoding="utf-8"))
    if meta.get("key") != json.loads(json.dumps(key)):
        raise ValueError("its key does not match (hash collision or edited meta.json)")
    stats = tuple((f, (dest / f).stat().st_size, (dest / f).stat().st_mtime_ns) for f in ["meta.json", *meta["hashes"]])
    if _VERIFIED.get(str(dest)) != stats:
        for f, h in meta["hashes"].items():
            if _hash(dest / f) != h:
                raise ValueError(f"{f} does not match its hash")
        _VERIFIED[str(dest)] = stats
    parts = {}
    for name, group in meta["fields"].items():
        flat = np.load(dest / f"{name}.flat.npy", mmap_mode="r")
        offsets = np.load(dest / f"{name}.offsets.npy")
        if offsets[-1] != len(flat) or (len(offsets) > 1 and np.any(np.diff(offsets) < 0)):
            raise ValueError(f"{name}: offsets do not fit the token array")
        parts[name] = Ragged(flat, offsets, group)
    labels = np.load(dest / "labels.npy")
    extra = json.loads((dest / "rows.json").read_text(encoding="utf-8")) if "rows.json" in meta["hashes"] else None
    counts = {len(r) for r in parts.values()} | {len(labels)} | ({len(extra)} if extra is not None else set())
    if len(counts) != 1:
        raise ValueError(f"fields disagree on the number of rows: {sorted(counts)}")
    return Encoded(parts["input_ids"], parts.get("token_type_ids"), labels, parts.get("token_labels"),
                   parts.get("word_ids"), extra)


def _hash(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
