"""Tokenise once, pad per batch, group by length.

Padding to the longest sequence *in the batch* (not to max_length) and putting similar lengths in
one batch is where most of the speed over the HF example scripts comes from on short inputs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from xlt.tasks.base import Example


@dataclass
class Encoded:
    """Token ids of a list of examples (unpadded) and their label ids (-1 where unlabelled)."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))


def encode(examples: Sequence[Example], tokenizer, label2id: dict[str, int], max_length: int,
           prefix: str = "") -> Encoded:
    texts = [prefix + ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples]
    has_pairs = any(p is not None for p in pairs)
    enc = tokenizer(
        texts,
        [p or "" for p in pairs] if has_pairs else None,
        truncation=True,
        max_length=max_length,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=has_pairs,
    )
    labels = np.array([label2id[ex.label] if ex.label is not None else -1 for ex in examples], dtype=np.int64)
    return Encoded(enc["input_ids"], enc.get("token_type_ids") if has_pairs else None, labels)


def collate(data: Encoded, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the selected examples to the longest one among them."""
    width = max(len(data.input_ids[i]) for i in idx)
    ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    types = torch.zeros((len(idx), width), dtype=torch.long) if data.token_type_ids is not None else None
    for row, i in enumerate(idx):
        seq = data.input_ids[i]
        ids[row, : len(seq)] = torch.as_tensor(seq)
        mask[row, : len(seq)] = 1
        if types is not None:
            types[row, : len(seq)] = torch.as_tensor(data.token_type_ids[i])
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.as_tensor(data.labels[list(idx)])}
    if types is not None:
        batch["token_type_ids"] = types
    return batch


def train_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                  pool: int = 50) -> Iterator[np.ndarray]:
    """Random batches of similar length: shuffle, sort inside pools of `pool` batches, shuffle batches.

    Keeps SGD noise (every epoch differs) while cutting pad tokens, as HF's group_by_length does.
    """
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * pool
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    for b in rng.permutation(len(batches)):
        yield batches[b]


def eval_batches(lengths: np.ndarray, max_tokens: int, max_batch: int) -> Iterator[np.ndarray]:
    """Batches sorted by length (longest first), sized by a token budget rather than a fixed count.

    Short inputs then run in large batches and long ones in small batches at similar memory.
    """
    order = np.argsort(-lengths, kind="stable")
    start = 0
    while start < len(order):
        width = int(lengths[order[start]])
        size = max(1, min(max_batch, max_tokens // max(width, 1)))
        yield order[start : start + size]
        start += size
