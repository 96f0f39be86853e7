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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from xlt.errors import DataError, XltError
from xlt.models.registry import OFFLINE_HINT

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
