"""Embedding memo: a retrieval run embeds each distinct text once, and a later run with the same
encoder embeds nothing it has embedded before.

    embed = memoize(embed, model, tokenizer, kind, max_length, prefix, precision, cache_dir)
    vecs = embed(texts)  # np.ndarray [len(texts), hidden], rows in the order of `texts`

Within a run, texts repeat across languages (Tatoeba's English sides overlap by ~11 % over the
XTREME 36; LAReQA's pool is one pool for all languages). Across runs they repeat entirely: a
retrieval run trains nothing, so every seed, and every study using the same encoder, embeds the
same texts again. The memo keeps vectors in memory for the run and on disk like the token cache.

Layout: `<cache>/embeddings/<key digest>/`: `meta.json` (the key) and one `<chunk>.npz` per batch
of newly embedded texts (blake2b digests of the texts, float32 vectors), written to a temporary
file and renamed into place, so concurrent workers never see half a chunk. `<cache>` is the one the
token cache uses (the study's cache_dir, else $XLT_CACHE, else ~/.cache/xlt/models).

The key holds everything a vector depends on: the weights themselves (a hash of the state dict, so
an encoder an intermediate stage trained never hits the pretrained one's entry), the module type and
pooling, the kind's code, the tokenizer's definition, max_length, the input prefix, the resolved
precision (bf16 vectors are not fp32 vectors) and FORMAT. A chunk that fails to load is deleted with
a warning and its texts are embedded again.

A text is embedded in a batch of other texts than without the memo; with padding masked, its vector
is the same up to float rounding (bf16: ~1e-3 relative), which can reorder exact ties in a ranking.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from xlt import paths
from xlt.training.cache import tokenizer_id

log = logging.getLogger("xlt")
FORMAT = 1


def weights_fingerprint(model: torch.nn.Module) -> str:
    """blake2b of every parameter and buffer (names, dtypes, shapes, bytes): ~0.5 s per GB on a CPU."""
    h = hashlib.blake2b(digest_size=16)
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def memo_key(model: torch.nn.Module, tokenizer, kind, max_length: int, prefix: str, precision: str) -> dict:
    code = hashlib.blake2b(digest_size=16)
    for cls in (*type(kind).__mro__, *type(model).__mro__):  # encode/decode and the pooling module
        if cls.__module__.startswith("xlt."):
            code.update(Path(inspect.getfile(cls)).read_bytes())
    return {"format": FORMAT, "module": type(model).__qualname__, "pooling": getattr(model, "pooling", None),
            "weights": weights_fingerprint(model), "code": code.hexdigest(), "tokenizer": tokenizer_id(tokenizer),
            "max_length": max_length, "prefix": prefix, "precision": precision}


def _text_id(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class EmbeddingMemo:
    """`embed(texts)` with every distinct text computed once (in memory, and on disk when `folder`
    is given). `requested` / `embedded` count texts asked for and texts actually computed."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], key: dict, folder: Path | None = None):
        self._embed, self.key, self.folder = embed, key, folder
        self._vectors: dict[bytes, np.ndarray] = {}
        self._loaded = folder is None
        self.requested = self.embedded = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not self._loaded:
            self._load()
        ids = [_text_id(t) for t in texts]
        new = {i: t for i, t in zip(ids, texts) if i not in self._vectors}  # distinct, first occurrence order
        if new:
            vecs = np.asarray(self._embed(list(new.values())), dtype=np.float32)
            if vecs.shape[0] != len(new):
                raise ValueError(f"embed returned {vecs.shape[0]} vectors for {len(new)} texts")
            self._vectors.update(zip(new, vecs))
            self._store(list(new), vecs)
        self.requested += len(texts)
        self.embedded += len(new)
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._vectors[i] for i in ids])

    def _load(self) -> None:
        self._loaded = True
        meta = self.folder / "meta.json"
        if meta.is_file():
            try:
                same = json.loads(meta.read_text(encoding="utf-8")) == json.loads(json.dumps(self.key))
            except ValueError:
                same = False
            if not same:  # hash collision or an edited file: this folder is not ours
                log.warning("embedding cache %s has another key: not used", self.folder)
                self.folder = None
                return
        for chunk in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            try:
                with np.load(chunk) as z:
                    ids, vecs = z["ids"], z["vectors"]
                if ids.ndim != 1 or vecs.ndim != 2 or len(ids) != len(vecs):
                    raise ValueError(f"ids {ids.shape} and vectors {vecs.shape} do not fit")
            except Exception as exc:  # truncated or edited: embed those texts again
                log.warning("embedding cache chunk %s is unusable (%s): deleted", chunk, exc)
                chunk.unlink(missing_ok=True)
                continue
            self._vectors.update(zip((bytes(i) for i in ids), vecs))

    def _store(self, ids: list[bytes], vecs: np.ndarray) -> None:
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            meta = self.folder / "meta.json"
            if not meta.is_file():
                _atomic(meta, json.dumps(self.key).encode())
            name = hashlib.blake2b(b"".join(ids), digest_size=12).hexdigest()
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=self.folder)
            with os.fdopen(fd, "wb") as f:
                np.savez(f, ids=np.array(ids, dtype="S16"), vectors=vecs)
            os.replace(tmp, self.folder / f"{name}.npz")
        except OSError as exc:  # read-only or full disk: the run goes on with the vectors in memory
            log.warning("cannot write embedding cache %s (%s): keeping the vectors in memory", self.folder, exc)
            self.folder = None


def _atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def memoize(embed: Callable[[list[str]], np.ndarray], model: torch.nn.Module, tokenizer, kind, max_length: int,
            prefix: str, precision: str, cache_dir: str | Path | None = None, disk: bool = True) -> EmbeddingMemo:
    """The memo for one run's `embed`; `disk=False` keeps it in memory (dedup within the run only)."""
    key = memo_key(model, tokenizer, kind, max_length, prefix, precision)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    folder = paths.cache_dir(cache_dir) / "embeddings" / digest if disk else None
    return EmbeddingMemo(embed, key, folder)
