"""The intermediate stage: pretrained encoder -> intermediate task -> the text encoder's weights only.

Text conditions train the task's own kind and head (`xlt.training.kinds`); multimodal ones the
fusion model of `fusion.py` over a frozen image-feature table. Both go through the same
`fine_tune` loop with the same stage settings, so the conditions differ only in their inputs.

The image row of every example rides in column 1 of `Encoded.labels` (column 0 is the class):
`collate` passes labels through unchanged, so the generic loop needs no multimodal branch.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from xlt.methods.intermediate.conditions import Condition
from xlt.methods.intermediate.data import MULTIMODAL_TASKS, ImageTextExample
from xlt.methods.intermediate.fusion import ImageTextClassifier
from xlt.methods.intermediate.vision import cached_encode_images, read_features
from xlt.training.batching import Encoded, collate, eval_batches
from xlt.training.loop import TrainResult, autocast, fine_tune, forward_rows, pick_device
from xlt.training.settings import Runtime, TrainSettings

log = logging.getLogger("xlt")


def train_stage(cond: Condition, encoder: nn.Module, ref, tokenizer, cfg: TrainSettings, seed: int,
                pad_id: int, runtime: Runtime = Runtime(), cache_dir=None) -> TrainResult:
    """Train `encoder` in place on the condition's intermediate task; returns the loop's result."""
    device = pick_device(runtime.device)
    pooling = ref.pooling if cfg.pooling == "auto" else cfg.pooling
    setup = _multimodal if cond.multimodal else _text
    model, train, loss_fn, dev_score = setup(cond, encoder, ref, tokenizer, cfg, runtime, pooling, pad_id, device,
                                             cache_dir, seed)
    return fine_tune(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime)


def _text(cond, encoder, ref, tokenizer, cfg, runtime, pooling, pad_id, device, cache_dir=None, seed=1):
    from xlt.tasks import get_task
    from xlt.training.kinds import kind_for

    task = get_task(cond.task, cond.data.get("data_dir"))
    kind, src = kind_for(task.spec), task.spec.source_language
    train_ex, dev_ex = task.load("train", src), task.load("dev", src)
    names = kind.label_names(train_ex)
    l2i = {label: i for i, label in enumerate(names)}
    train, dev = (kind.encode(x, tokenizer, l2i, cfg.max_length, ref.input_prefix) for x in (train_ex, dev_ex))
    model = kind.build(encoder, len(names), pooling, cfg.dropout)

    def dev_score(m) -> float:
        preds = kind.decode(dev, forward_rows(m, dev, pad_id, device, precision=cfg.precision, runtime=runtime, desc="dev"), names, dev_ex)
        return kind.score(preds, dev_ex, src).values[kind.main_metric]

    return model, train, kind.loss, dev_score


def _multimodal(cond, encoder, ref, tokenizer, cfg, runtime, pooling, pad_id, device, cache_dir=None, seed=1):
    task = MULTIMODAL_TASKS[cond.task](cond.data)
    train_ex, dev_ex = task.load("train"), task.load("dev")
    ids = list(dict.fromkeys(ex.image for ex in train_ex + dev_ex))
    table = image_table(task, cond, ids, device, runtime.progress, cache_dir)
    row = {image: r for r, image in enumerate(ids)}
    train_rows = np.array([row[ex.image] for ex in train_ex])
    seen = table[np.unique(train_rows)]  # standardise each feature with the training images only
    table = (table - seen.mean((0, 1))) / (seen.std((0, 1)) + 1e-6)
    l2i = {label: i for i, label in enumerate(task.labels)}
    split_rows = {"train": train_rows, "dev": np.array([row[ex.image] for ex in dev_ex])}
    if cond.kind == "multimodal-shuffled":  # the stage's seed: each paired stage draws its own permutation
        split_rows = {s: shuffled_rows(r, seed, s) for s, r in split_rows.items()}
    prefix = ref.input_prefix.strip()
    train = encode_pairs(train_ex, split_rows["train"], tokenizer, l2i, cfg.max_length, prefix)
    dev = encode_pairs(dev_ex, split_rows["dev"], tokenizer, l2i, cfg.max_length, prefix)
    insert_at = len(tokenizer(prefix)["input_ids"]) - 1  # before the separator that ends segment A
    model = ImageTextClassifier(encoder, torch.from_numpy(table), len(l2i), fusion=cond.setting("fusion"),
                                prefix_tokens=cond.setting("prefix_tokens"), insert_at=insert_at,
                                pooling=pooling, dropout=cfg.dropout, projector_lr=cond.projector_lr(cfg))
    return model, train, image_text_loss, lambda m: accuracy(m, dev, cfg.precision, runtime, pad_id, device)


def image_table(task, cond: Condition, ids: list[str], device, progress: bool, cache_dir=None) -> np.ndarray:
    """[len(ids), tokens, dim] features of the task's images, from the configured source. A vision
    encoder runs once per (encoder, image set, image_tokens): every condition and seed reuses it."""
    if cond.data.get("features"):
        return read_features(cond.data["features"], ids)
    if cond.data.get("images"):
        return cached_encode_images(cond.data["vision_model"], cond.data["images"], ids,
                                    cond.setting("image_tokens"), device, progress, cache_dir)
    return task.own_features(ids)


def shuffled_rows(rows: np.ndarray, seed: int, split: str) -> np.ndarray:
    """The image rows permuted across examples (fixed seed per split): the image pipeline and the
    image statistics stay, the pairing of image and text is broken."""
    rng = np.random.default_rng([seed, {"train": 0, "dev": 1}.get(split, 2)])
    return rows[rng.permutation(len(rows))]


def encode_pairs(examples: list[ImageTextExample], rows: np.ndarray, tokenizer, label2id: dict, max_length: int,
                 prefix: str = "") -> Encoded:
    """The text twin's pair layout with an empty premise (the image goes there): (prefix, text)."""
    enc = tokenizer([prefix] * len(examples), [ex.text for ex in examples], truncation="only_second",
                    max_length=max_length, padding=False, return_attention_mask=False, return_token_type_ids=True)
    labels = np.stack([np.array([label2id[ex.label] for ex in examples], dtype=np.int64), rows.astype(np.int64)], 1)
    return Encoded(enc["input_ids"], enc["token_type_ids"], labels)


def image_text_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    labels = batch["labels"]
    logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"), labels[:, 1])
    return nn.functional.cross_entropy(logits.float(), labels[:, 0])


@torch.inference_mode()
def accuracy(model: nn.Module, data: Encoded, precision: str, runtime: Runtime, pad_id: int,
             device: torch.device) -> float:
    model.eval()
    correct = 0
    for idx in eval_batches(data.lengths, runtime.eval_max_tokens, runtime.eval_max_batch):
        batch = {k: v.to(device) for k, v in collate(data, idx, pad_id).items()}
        with autocast(device, precision):
            logits = model(batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"),
                           batch["labels"][:, 1])
        correct += int((logits.argmax(-1) == batch["labels"][:, 0]).sum())
    return correct / max(1, len(data))

