"""Image features for multimodal intermediate tasks: from files, or from a frozen vision encoder.

Features are computed (or read) once per stage for every image the task uses and kept as one
[images, tokens, dim] table; the vision encoder never trains, so it never enters the trained model
and nothing of it survives the stage.

Feature files, keyed by image id (`features:` in the condition):
- `.safetensors`: one tensor per image id, shape [dim] (pooled) or [tokens, dim] (e.g. patches);
- `.npz`: the same, one array per image id;
- `.npy`: one array [images, dim] or [images, tokens, dim], with the ids one per line in a sibling
  `<name>.ids.txt` (row i = line i).

Vision encoder (`vision_model:` = hub id or local directory, `images:` = folder of `<id>.jpg|png`):
any `transformers` image model with an image processor - CLIP / SigLIP (`vision_model` tower of the
dual encoder), ViT, DINOv2. `image_tokens: pooled` keeps the pooled output (one vector per image),
`patches` keeps the last layer's patch tokens.

Encoder features are computed once per (vision encoder, image set, image_tokens) and reused by every
condition and seed (`cached_encode_images`): in this process from memory, in later ones from
`<cache>/image-features/<key>.npy` (cache: $XLT_CACHE or ~/.cache/xlt/models, as for the token
cache). The key hashes the encoder's files (a hub id: its local snapshot), the bytes of every image
in id order, image_tokens and this module's code; the device is not in it (GPU and CPU features
differ by float rounding only).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from xlt.errors import DataError, XltError
from xlt.models.registry import OFFLINE_HINT

log = logging.getLogger("xlt")
FORMAT = 1  # bump when encode_images computes different features for the same inputs
_MEMORY: dict[str, np.ndarray] = {}  # key digest -> features (read-only), for this process

_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", "")


def read_features(path: str | Path, ids: list[str]) -> np.ndarray:
    """[len(ids), tokens, dim] float32 from a features file (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError("features file not found", path)
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), "np") as fh:
                have = set(fh.keys())
                _check_ids(ids, have, path)
                arrays = [fh.get_tensor(i) for i in ids]
        elif path.suffix == ".npz":
            with np.load(path) as fh:
                _check_ids(ids, set(fh.files), path)
                arrays = [fh[i] for i in ids]
        elif path.suffix == ".npy":
            id_file = path.with_suffix(".ids.txt")
            if not id_file.is_file():
                raise DataError(f"a .npy features file needs its image ids in {id_file.name} (one per line)", path)
            names = id_file.read_text(encoding="utf-8").split()
            table = np.load(path, mmap_mode="r")
            if len(names) != len(table):
                raise DataError(f"{len(table)} feature rows but {len(names)} ids in {id_file.name}", path)
            row = {n: r for r, n in enumerate(names)}
            _check_ids(ids, set(row), path)
            arrays = [table[row[i]] for i in ids]
        else:
            raise DataError("features must be .safetensors, .npz or .npy", path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read features ({exc})", path) from None
    return _stack(arrays, path)


def _check_ids(ids: list[str], have: set, path: Path) -> None:
    missing = [i for i in dict.fromkeys(ids) if i not in have]
    if missing:
        raise DataError(f"no features for image id {missing[0]!r}" +
                        (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""), path)


def _stack(arrays: list, where) -> np.ndarray:
    shapes = {np.shape(a) for a in arrays}
    if len(shapes) != 1 or len(next(iter(shapes))) not in (1, 2):
        raise DataError("image features must all be [dim] or all [tokens, dim] of one shape; "
                        f"found {sorted(shapes)[:3]}", where)
    table = np.stack([np.asarray(a, dtype=np.float32) for a in arrays])
    return table[:, None, :] if table.ndim == 2 else table


def find_image(folder: Path, image_id: str) -> Path:
    for ext in _EXTENSIONS:
        if (folder / f"{image_id}{ext}").is_file():
            return folder / f"{image_id}{ext}"
    raise DataError(f"no image file for id {image_id!r} ({image_id}.jpg / .png / ...)", folder)


@torch.inference_mode()
def encode_images(vision_model: str, folder: str | Path, ids: list[str], tokens: str, device: torch.device,
                  batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """[len(ids), 1 or patches, dim] from a frozen `transformers` vision encoder."""
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    files = [find_image(folder, i) for i in ids]  # fail before loading the model
    try:
        processor = AutoImageProcessor.from_pretrained(vision_model)
        model = AutoModel.from_pretrained(vision_model)
    except OSError as exc:
        if Path(vision_model).expanduser().is_dir():
            raise XltError(f"cannot load vision model from {vision_model}: {exc}") from exc
        raise XltError(f"vision model {vision_model!r}: " + OFFLINE_HINT.format(id=vision_model)) from exc
    tower = getattr(model, "vision_model", model).to(device).eval()  # CLIP/SigLIP: the image tower only
    out = []
    for start in tqdm(range(0, len(files), batch_size), desc="image features", unit="batch",
                      disable=not progress, leave=False):
        images = []
        for f in files[start:start + batch_size]:
            try:
                with Image.open(f) as im:
                    images.append(im.convert("RGB"))
            except OSError as exc:
                raise DataError(f"cannot read image ({exc})", f) from None
        pixels = processor(images=images, return_tensors="pt")["pixel_values"].to(device)
        result = tower(pixel_values=pixels)
        hidden = result.last_hidden_state
        if tokens == "patches":
            feats = hidden
        else:
            pooled = getattr(result, "pooler_output", None)
            feats = (pooled if pooled is not None else hidden.mean(1))[:, None, :]
        out.append(feats.float().cpu().numpy())
    return np.concatenate(out)


def cached_encode_images(vision_model: str, folder: str | Path, ids: list[str], tokens: str, device: torch.device,
                         progress: bool = True, cache_dir: str | Path | None = None) -> np.ndarray:
    """`encode_images(...)`, computed once per (vision encoder, images, tokens) and then read back.

    The table is read-only: callers standardise into a new array, and every condition shares it."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError("image folder not found", folder)
    images = hashlib.blake2b(digest_size=16)
    for image_id in ids:  # fails on a missing image before anything is hashed or loaded
        images.update(image_id.encode() + b"\x00" + find_image(folder, image_id).read_bytes() + b"\x00")
    key = {"format": FORMAT, "vision_model": _model_id(vision_model), "images": images.hexdigest(), "n": len(ids),
           "tokens": tokens, "code": hashlib.blake2b(Path(__file__).read_bytes(), digest_size=16).hexdigest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    if digest in _MEMORY:
        return _MEMORY[digest]
    base = cache_dir or os.environ.get("XLT_CACHE") or Path.home() / ".cache" / "xlt" / "models"
    path = Path(base).expanduser() / "image-features" / f"{digest}.npy"
    table = _read_cached(path, key)
    if table is None:
        table = encode_images(vision_model, folder, ids, tokens, device, progress=progress)
        _write_cached(path, key, table)
    table.setflags(write=False)
    _MEMORY[digest] = table
    return table


def _model_id(vision_model: str) -> str:
    """Hash of the vision encoder's files (a hub id: of its local snapshot; not cached: the id itself)."""
    path = Path(vision_model).expanduser()
    if not path.is_dir():
        try:
            from huggingface_hub import snapshot_download

            path = Path(snapshot_download(vision_model, local_files_only=True))
        except Exception:  # not in the local hub cache: loading needs the network, the id is all we know
            return f"hub:{vision_model}"
    h = hashlib.blake2b(digest_size=16)
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path)}\x00".encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def _read_cached(path: Path, key: dict) -> np.ndarray | None:
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        table = np.load(path)
        if info.get("key") != json.loads(json.dumps(key)) or list(table.shape) != info.get("shape"):
            raise ValueError("its key or shape does not match")
        return table
    except Exception as exc:  # truncated or edited: compute again
        log.warning("image feature cache %s is unusable (%s): computing the features again", path, exc)
        path.unlink(missing_ok=True)
        meta.unlink(missing_ok=True)
        return None


def _write_cached(path: Path, key: dict, table: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npy", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.save(f, table)
        os.replace(tmp, path)  # the array first: a meta file never points at a missing array
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"key": key, "shape": list(table.shape)}, f)
        os.replace(tmp, path.with_suffix(".json"))
    except OSError as exc:  # read-only or full disk: this process still reuses them from memory
        log.warning("cannot write image feature cache %s (%s)", path, exc)
