"""Ragged token arrays and the numpy collate: same batches as the per-row torch collate they replace."""

import numpy as np
import pytest
import torch

from xlt.training.batching import IGNORE, Encoded, Ragged, collate, eval_batches, first_of_equal
from xlt.training.loop import forward_rows
from xlt.training.settings import Runtime


def old_collate(data: Encoded, idx, pad_id: int) -> dict:
    """The collate before the numpy rewrite (per-row torch.as_tensor), kept as the reference."""
    if data.nested:
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


def _rows(rng, n, lo=1, hi=20, vocab=500):
    return [rng.integers(3, vocab, rng.integers(lo, hi)).tolist() for _ in range(n)]


def _as_ragged(enc: Encoded) -> Encoded:
    k = len(enc.input_ids[0]) if enc.nested else 1
    conv = lambda xs, kk=k: None if xs is None else Ragged.from_rows(xs, kk)
    return Encoded(conv(enc.input_ids), conv(enc.token_type_ids), enc.labels, conv(enc.token_labels, 1),
                   conv(enc.word_ids, 1), enc.meta)


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if torch.is_tensor(a[key]):
            assert a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def _cases():
    rng = np.random.default_rng(0)
    ids = _rows(rng, 30)
    pairs = Encoded(ids, [rng.integers(0, 2, len(r)).tolist() for r in ids], rng.integers(0, 7, 30))
    single = Encoded(_rows(rng, 30, hi=60), None, rng.integers(0, 3, 30))
    tag_ids = _rows(rng, 30)
    tagging = Encoded(tag_ids, None, np.full(30, -1),
                      [[IGNORE] + rng.integers(0, 5, len(r) - 1).tolist() for r in tag_ids],
                      [[-1] + list(range(len(r) - 1)) for r in tag_ids])
    choice_ids = [_rows(rng, 3) for _ in range(20)]  # 3 choices of different lengths per example
    choice = Encoded(choice_ids, [[[0] * len(s) for s in r] for r in choice_ids], rng.integers(0, 3, 20))
    # two-column labels ride along unchanged (the intermediate stage keeps an image row in column 1)
    two_col = Encoded(ids, None, rng.integers(0, 9, (30, 2)))
    return {"pairs": pairs, "single": single, "tagging": tagging, "choice": choice, "two_col": two_col}


@pytest.mark.parametrize("case", ["pairs", "single", "tagging", "choice", "two_col"])
def test_collate_matches_the_reference_on_lists_and_ragged(case):
    enc = _cases()[case]
    rag = _as_ragged(enc)
    rng = np.random.default_rng(1)
    for idx in ([0], [3, 1, 2], rng.permutation(len(enc))[:7], np.arange(len(enc))):
        ref = old_collate(enc, list(idx), pad_id=1)
        _same(ref, collate(enc, idx, 1))
        _same(ref, collate(rag, idx, 1))


@pytest.mark.parametrize("case", ["pairs", "tagging", "choice"])
def test_ragged_rows_lengths_and_subsets_equal_the_lists(case):
    enc = _cases()[case]
    rag = _as_ragged(enc)
    assert rag.nested == enc.nested and len(rag) == len(enc)
    np.testing.assert_array_equal(rag.lengths, enc.lengths)
    for i in (0, 5, len(enc) - 1):
        got, want = rag.input_ids[i], enc.input_ids[i]
        if enc.nested:
            assert [s.tolist() for s in got] == want
        else:
            assert got.tolist() == want
    idx = [4, 0, 9]
    sub_r, sub_l = rag.subset(idx), enc.subset(idx)
    assert isinstance(sub_r.input_ids, Ragged)
    _same(collate(sub_l, [0, 1, 2], 0), collate(sub_r, [0, 1, 2], 0))
    assert rag.input_ids[-1] is not None and len(rag.input_ids[1:4]) == 3
    with pytest.raises(IndexError):
        rag.input_ids[len(enc)]


def test_ragged_rejects_sequences_that_do_not_fill_the_groups():
    with pytest.raises(ValueError, match="groups of 2"):
        Ragged(np.arange(6, dtype=np.int32), np.array([0, 2, 4, 6]), group=2)


class _Echo(torch.nn.Module):
    """Token-level 'logits' = the input ids (so the right row must come back in the right place)."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        return torch.stack([input_ids.float(), attention_mask.float()], -1)


def test_forward_rows_returns_rows_in_order_cut_to_their_length():
    enc = _cases()["single"]
    rt = Runtime(eval_max_tokens=64, eval_max_batch=8, progress=False)
    assert len(list(eval_batches(enc.lengths, 64, 8))) > 3  # several sorted batches
    for data in (enc, _as_ragged(enc)):
        out = forward_rows(_Echo(), data, pad_id=1, device=torch.device("cpu"), precision="fp32", runtime=rt)
        assert [o[:, 0].astype(int).tolist() for o in out] == enc.input_ids
        assert all(o[:, 1].all() for o in out)  # padding positions were dropped


class _Counting(_Echo):
    """_Echo that records how many rows it was given."""

    rows = 0

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        self.rows += len(input_ids)
        return super().forward(input_ids, attention_mask, token_type_ids)


def test_equal_inputs_run_once_and_every_row_gets_its_output():
    rows = [[0, 5, 6, 2], [0, 7, 2], [0, 5, 6, 2], [0, 8, 9, 9, 2], [0, 7, 2], [0, 5, 6, 2]]
    types = [[0] * len(r) for r in rows]
    types[5] = [0, 0, 1, 1]  # same ids, other token types: a different input
    enc = Encoded(rows, types, np.zeros(len(rows), dtype=np.int64))
    assert first_of_equal(enc).tolist() == [0, 1, 0, 3, 1, 5]
    rt = Runtime(eval_max_tokens=8, eval_max_batch=2, progress=False)
    for data in (enc, _as_ragged(enc)):
        model = _Counting()
        out = forward_rows(model, data, pad_id=1, device=torch.device("cpu"), precision="fp32", runtime=rt)
        assert model.rows == 4  # rows 2 and 4 were not run again
        assert [o[:, 0].astype(int).tolist() for o in out] == rows


def test_choice_rows_are_equal_only_when_every_choice_is():
    rows = [[[0, 5, 2], [0, 6, 2]], [[0, 5, 2], [0, 6, 2]], [[0, 5, 2], [0, 7, 2]]]
    enc = Encoded(rows, None, np.zeros(3, dtype=np.int64))
    assert first_of_equal(enc).tolist() == [0, 0, 2]
    assert first_of_equal(_as_ragged(enc)).tolist() == [0, 0, 2]
