"""Tokenise once, pad per batch, group by length.

Padding to the longest sequence *in the batch* (not to max_length) and putting similar lengths in
one batch is where most of the speed over the HF example scripts comes from on short inputs.

A row of `Encoded` is one example: a token-id sequence, or for multiple choice k sequences
(premise + each choice) that become k rows of the padded batch. Sequences are Python lists (what
the tokenizer returns) or a `Ragged` array (what the tokenisation cache returns: flat int32, often
memory-mapped, ~4 bytes per token instead of ~36 for a list of Python ints).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

IGNORE = -100  # label of sub-tokens that are not scored (cross_entropy's ignore_index)


class Ragged(Sequence):
    """Integer sequences stored flat: sequence j is `flat[offsets[j]:offsets[j + 1]]`.

    With `group` = k > 1 a row is k consecutive sequences (multiple choice) and `self[i]` is a
    list of k arrays; otherwise `self[i]` is one array (a view, no copy).
    """

    def __init__(self, flat: np.ndarray, offsets: np.ndarray, group: int = 1):
        if (len(offsets) - 1) % group:
            raise ValueError(f"{len(offsets) - 1} sequences do not split into groups of {group}")
        self.flat, self.offsets, self.group = flat, offsets, group

    @classmethod
    def from_rows(cls, rows: Sequence, group: int = 1, dtype=np.int32) -> "Ragged":
        seqs = [s for row in rows for s in row] if group > 1 else rows
        lens = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        flat = np.fromiter((t for s in seqs for t in s), dtype, int(offsets[-1]))
        return cls(flat, offsets, group)

    def __len__(self) -> int:
        return (len(self.offsets) - 1) // self.group

    def seq(self, j: int) -> np.ndarray:
        return self.flat[self.offsets[j] : self.offsets[j + 1]]

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if self.group == 1:
            return self.seq(i)
        return [self.seq(i * self.group + j) for j in range(self.group)]

    @property
    def seq_lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def seq_index(self, idx: Sequence[int]) -> np.ndarray:
        """Sequence numbers of rows `idx`, row-major (row i -> i*k .. i*k + k-1)."""
        idx = np.asarray(idx, dtype=np.int64)
        return (idx[:, None] * self.group + np.arange(self.group)).ravel()

    def take(self, idx: Sequence[int]) -> "Ragged":
        """The rows `idx` as a new (in-memory) Ragged."""
        seqs = self.seq_index(idx)
        starts, lens = self.offsets[seqs], self.seq_lengths[seqs]
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return Ragged(np.asarray(self.flat)[_gather_index(starts, lens)], offsets, self.group)


def _gather_index(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Flat positions of the concatenated ranges [starts[i], starts[i] + lens[i])."""
    shift = starts - np.concatenate(([0], np.cumsum(lens)[:-1]))
    return np.repeat(shift, lens) + np.arange(int(lens.sum()))


@dataclass
class Encoded:
    """Token ids of a list of examples (unpadded) and their labels.

    `labels`: one class / choice index per row (-1 where unlabelled).
    `token_labels`: tagging only, one label id per sub-token (IGNORE for special and non-first
    sub-tokens); `word_ids`: tagging only, the word index of every scored sub-token position.
    """

    input_ids: Sequence
    token_type_ids: Sequence | None
    labels: np.ndarray
    token_labels: Sequence | None = None
    word_ids: Sequence | None = None
    meta: list | None = None  # per-row decoding info (QA: example index, token offsets)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def nested(self) -> bool:
        if isinstance(self.input_ids, Ragged):
            return self.input_ids.group > 1
        return bool(self.input_ids) and isinstance(self.input_ids[0][0], (list, tuple, np.ndarray))

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per row (for choice rows: k x the longest choice, what the row costs)."""
        ids = self.input_ids
        if isinstance(ids, Ragged):
            per_seq = ids.seq_lengths.reshape(len(ids), ids.group)
            return per_seq.max(1) * ids.group
        if self.nested:
            return np.fromiter((len(r) * max(map(len, r)) for r in ids), np.int64, len(self))
        return np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(self))

    def subset(self, idx: Sequence[int]) -> "Encoded":
        def pick(xs):
            if xs is None:
                return None
            return xs.take(idx) if isinstance(xs, Ragged) else [xs[i] for i in idx]

        return Encoded(pick(self.input_ids), pick(self.token_type_ids), self.labels[list(idx)],
                       pick(self.token_labels), pick(self.word_ids), pick(self.meta))


def _padded(source: Sequence, idx: Sequence[int], fill: int, nested: bool) -> np.ndarray:
    """Rows `idx` of `source` (choice rows: their k sequences in turn) as one [n, longest] int64 array."""
    if isinstance(source, Ragged):  # vectorised: one gather, no Python loop over rows
        seqs = source.seq_index(idx)
        starts, lens = source.offsets[seqs], source.seq_lengths[seqs]
        out = np.full((len(seqs), int(lens.max())), fill, dtype=np.int64)
        out[np.arange(out.shape[1]) < lens[:, None]] = source.flat[_gather_index(starts, lens)]
        return out
    rows = [s for i in idx for s in source[i]] if nested else [source[i] for i in idx]
    out = np.full((len(rows), max(len(s) for s in rows)), fill, dtype=np.int64)
    for r, s in enumerate(rows):
        out[r, : len(s)] = s
    return out


def collate(data: Encoded, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the selected rows to the longest sequence among them (numpy, then zero-copy to torch)."""
    nested = data.nested
    ids = _padded(data.input_ids, idx, -1, nested)
    mask = ids >= 0  # token ids are never negative: -1 marks the padding
    batch = {"input_ids": torch.from_numpy(np.where(mask, ids, pad_id)),
             "attention_mask": torch.from_numpy(mask.astype(np.int64))}
    if data.token_type_ids is not None:
        batch["token_type_ids"] = torch.from_numpy(_padded(data.token_type_ids, idx, 0, nested))
    if data.token_labels is not None:
        batch["labels"] = torch.from_numpy(_padded(data.token_labels, idx, IGNORE, nested))
    else:
        batch["labels"] = torch.as_tensor(data.labels[list(idx)])
    if nested:
        batch["num_choices"] = len(data.input_ids[idx[0]])
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


def first_of_equal(data: "Encoded") -> np.ndarray:
    """Per row, the index of the first row with the same inputs (token ids and token types); a row's own index
    when it is the first. Parallel test sets repeat inputs across languages (names, numbers, loanwords: 23 % of
    the demo's 32,854 test names), and equal inputs give equal outputs, so evaluation runs each once."""
    def key(seqs, i: int) -> bytes:  # a row's sequences (k of them for choice rows) as one byte string
        parts = seqs[i] if data.nested else [seqs[i]]
        return b"|".join(np.asarray(p, dtype=np.int64).tobytes() for p in parts)

    first: dict[bytes, int] = {}
    out = np.empty(len(data), dtype=np.int64)
    types = data.token_type_ids
    for i in range(len(data)):
        k = key(data.input_ids, i) + (b"#" + key(types, i) if types is not None else b"")
        out[i] = first.setdefault(k, i)
    return out


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
