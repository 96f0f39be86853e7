"""Tokenise once, pad per batch, group by length.

Padding to the longest sequence *in the batch* (not to max_length) and putting similar lengths in
one batch is where most of the speed over the HF example scripts comes from on short inputs.

A row of `Encoded` is one example: a token-id list, or for multiple choice a list of k token-id
lists (premise + each choice) that are flattened into k rows of the padded batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

IGNORE = -100  # label of sub-tokens that are not scored (cross_entropy's ignore_index)


@dataclass
class Encoded:
    """Token ids of a list of examples (unpadded) and their labels.

    `labels`: one class / choice index per row (-1 where unlabelled).
    `token_labels`: tagging only, one label id per sub-token (IGNORE for special and non-first
    sub-tokens); `word_ids`: tagging only, the word index of every scored sub-token position.
    """

    input_ids: list
    token_type_ids: list | None
    labels: np.ndarray
    token_labels: list[list[int]] | None = None
    word_ids: list[list[int]] | None = None
    meta: list | None = None  # per-row decoding info (QA: example index, token offsets)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def nested(self) -> bool:
        return bool(self.input_ids) and isinstance(self.input_ids[0][0], list)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row (for choice rows: k x the longest choice, what the row costs)."""
        if self.nested:
            return np.fromiter((len(r) * max(map(len, r)) for r in self.input_ids), np.int64, len(self))
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self))

    def subset(self, idx: Sequence[int]) -> "Encoded":
        pick = lambda xs: None if xs is None else [xs[i] for i in idx]
        return Encoded(pick(self.input_ids), pick(self.token_type_ids), self.labels[list(idx)],
                       pick(self.token_labels), pick(self.word_ids), pick(self.meta))


def collate(data: Encoded, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the selected rows to the longest sequence among them."""
    if data.nested:  # multiple choice: k sequences per example, one after the other
        seqs = [s for i in idx for s in data.input_ids[i]]
        types = [t for i in idx for t in data.token_type_ids[i]] if data.token_type_ids else None
        k = len(data.input_ids[idx[0]])
    else:
        seqs = [data.input_ids[i] for i in idx]
        types = [data.token_type_ids[i] for i in idx] if data.token_type_ids else None
        k = 0
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.as_tensor(seq)
        mask[row, : len(seq)] = 1
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        tt = torch.zeros((len(seqs), width), dtype=torch.long)
        for row, t in enumerate(types):
            tt[row, : len(t)] = torch.as_tensor(t)
        batch["token_type_ids"] = tt
    if data.token_labels is not None:
        lab = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
        for row, i in enumerate(idx):
            lab[row, : len(data.token_labels[i])] = torch.as_tensor(data.token_labels[i])
        batch["labels"] = lab
    else:
        batch["labels"] = torch.as_tensor(data.labels[list(idx)])
    if k:
        batch["num_choices"] = k
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
