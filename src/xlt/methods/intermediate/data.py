"""Multimodal (image + text) intermediate tasks and where their images come from.

A multimodal task yields `ImageTextExample`s (image id, text, label) and an image source: features
it ships itself (digits-ve: the pixels), a features file (`features:`), or a frozen vision encoder
run over an image folder (`images:` + `vision_model:`). See `vision.py` for the formats.

- `digits-ve`: digit entailment with the 8x8 image as premise (offline; text twin `digits-nli`).
  Image features: the 64 pixel intensities / 16. A frozen pretrained extractor would be the usual
  choice, but none ships offline and the pixels already separate the ten digits (a linear model
  reaches ~95 %); the projection into the text encoder is trained, as for any feature source.
- `snli-ve`: SNLI-VE, Flickr30k image premise + SNLI hypothesis, 3 labels (text twin `snli-ve-text`).
- `image-caption`: binary image-caption matching from a Karpathy-split captions JSON (Flickr30k /
  COCO `dataset_*.json`): every caption with its image (`match`) and with the image of another
  caption of the same split (`mismatch`, chosen by a fixed seed).
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from xlt.errors import DataError
from xlt.tasks import digits as digit_data
from xlt.tasks.snlive import read_snli_ve


@dataclass(frozen=True)
class ImageTextExample:
    image: str  # image id: a key of the features file, or a file stem in the image folder
    text: str  # hypothesis / caption
    label: str
    origin: str = ""


class MultimodalTask(ABC):
    name: ClassVar[str]
    labels: ClassVar[tuple[str, ...]]
    version: ClassVar[str]
    text_twin: ClassVar[str] = ""  # the registered text task with the same texts, if any
    needs_data_dir: ClassVar[bool] = True
    has_own_images: ClassVar[bool] = False

    def __init__(self, data: dict):
        self.data = data
        self.data_dir = Path(data["data_dir"]).expanduser() if data.get("data_dir") else None

    @classmethod
    def check_settings(cls, data: dict) -> str:
        """What is missing from the condition's data settings ('' when nothing)."""
        if cls.needs_data_dir and not data.get("data_dir"):
            return f"{cls.name} reads local files: give data_dir"
        if "features" in data and ("images" in data or "vision_model" in data):
            return "give either features or images + vision_model, not both"
        if ("images" in data) != ("vision_model" in data):
            return "images and vision_model go together (the folder and the frozen encoder to run over it)"
        if not cls.has_own_images and "features" not in data and "images" not in data:
            return "give features (a .safetensors/.npz/.npy file keyed by image id) or images + vision_model"
        return ""

    @abstractmethod
    def load(self, split: str) -> list[ImageTextExample]: ...

    def own_features(self, ids: list[str]) -> np.ndarray:
        """[N, 1, D] features the task ships itself (only tasks with `has_own_images`)."""
        raise DataError(f"{self.name} ships no images: give features or images + vision_model")


class DigitsVE(MultimodalTask):
    name, labels, version, text_twin = "digits-ve", digit_data.LABELS, digit_data.VERSION, "digits-nli"
    needs_data_dir, has_own_images = False, True

    def load(self, split):
        return [ImageTextExample(str(i), h, l, f"digits:{i}") for i, _, h, l in digit_data.pairs(split)]

    def own_features(self, ids):
        images, _ = digit_data.digits()
        return (images[[int(i) for i in ids]].reshape(len(ids), 1, 64) / 16.0).astype(np.float32)


class SnliVE(MultimodalTask):
    name, labels, version, text_twin = "snli-ve", ("entailment", "neutral", "contradiction"), "1.0", "snli-ve-text"

    def load(self, split):
        return [ImageTextExample(img, h, l, o) for img, _, h, l, o in read_snli_ve(self.data_dir, split)]


class ImageCaption(MultimodalTask):
    """Karpathy-split JSON: {"images": [{"filename", "split", "sentences": [{"raw"}, ...]}, ...]}."""

    name, labels, version = "image-caption", ("match", "mismatch"), "1.0"
    _SPLITS = {"train": ("train", "restval"), "dev": ("val",), "test": ("test",)}

    def captions_file(self) -> Path:
        if self.data_dir.is_file():
            return self.data_dir
        files = sorted(self.data_dir.glob("dataset_*.json"))
        if not files:
            raise DataError("no dataset_*.json (Karpathy-split captions) here", self.data_dir)
        return files[0]

    def load(self, split):
        path = self.captions_file()
        try:
            images = json.loads(path.read_text(encoding="utf-8"))["images"]
            pairs = [(Path(im["filename"]).stem, s["raw"]) for im in images if im["split"] in self._SPLITS[split]
                     for s in im["sentences"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"not a Karpathy captions file ({type(exc).__name__}: {exc})", path) from None
        if len({img for img, _ in pairs}) < 2:
            raise DataError(f"split {split!r} needs captions of at least two images", path)
        rng, out = random.Random(f"image-caption/{split}"), []
        for n, (img, caption) in enumerate(pairs):
            out.append(ImageTextExample(img, caption, "match", f"{path}#{n}"))
            other = img
            while other == img:
                other = pairs[rng.randrange(len(pairs))][0]
            out.append(ImageTextExample(other, caption, "mismatch", f"{path}#{n}"))
        return out


MULTIMODAL_TASKS: dict[str, type[MultimodalTask]] = {c.name: c for c in (DigitsVE, SnliVE, ImageCaption)}
