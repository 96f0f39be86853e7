"""Embedding memo: each distinct text embedded once per run, and not again by a later run."""

import logging

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from xlt.models.heads import Embedder
from xlt.tasks import get_task
from xlt.training.embeddings import EmbeddingMemo, memoize, weights_fingerprint
from xlt.training.kinds import kind_for
from xlt.training.loop import forward_rows
from xlt.training.settings import Runtime

CPU = torch.device("cpu")
TEXTS = ["the cat sleeps", "a dog runs", "der Hund läuft", "the cat sleeps", "le chat dort"]


class Counting:
    """A fake encoder: a deterministic vector per text, and a record of what it was asked."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        return np.stack([np.frombuffer(t.encode().ljust(8, b"_")[:8], np.uint8).astype(np.float32) for t in texts])


def test_each_distinct_text_is_embedded_once_across_calls():
    fake = Counting()
    memo = EmbeddingMemo(fake, {"k": 1})
    a = memo(TEXTS)
    b = memo(["le chat dort", "new one", "a dog runs"])
    assert fake.calls == [["the cat sleeps", "a dog runs", "der Hund läuft", "le chat dort"], ["new one"]]
    assert np.array_equal(a, Counting()(TEXTS))  # rows in the order asked, repeats included
    assert np.array_equal(b, Counting()(["le chat dort", "new one", "a dog runs"]))
    assert (memo.requested, memo.embedded) == (8, 5)
    assert memo([]).shape[0] == 0


def test_a_second_memo_reads_the_disk_and_embeds_nothing(tmp_path):
    first = EmbeddingMemo(Counting(), {"k": 1}, tmp_path / "e")
    want = first(TEXTS)
    fake = Counting()
    again = EmbeddingMemo(fake, {"k": 1}, tmp_path / "e")
    assert np.array_equal(again(TEXTS[::-1]), want[::-1])
    assert fake.calls == [] and again.embedded == 0


def test_a_damaged_chunk_is_deleted_and_embedded_again(tmp_path, caplog):
    EmbeddingMemo(Counting(), {"k": 1}, tmp_path / "e")(TEXTS)
    (chunk,) = (tmp_path / "e").glob("*.npz")
    chunk.write_bytes(chunk.read_bytes()[:100])
    fake = Counting()
    with caplog.at_level(logging.WARNING, logger="xlt"):
        out = EmbeddingMemo(fake, {"k": 1}, tmp_path / "e")(TEXTS)
    assert "unusable" in caplog.text and len(fake.calls) == 1
    assert np.array_equal(out, Counting()(TEXTS))


def test_a_folder_with_another_key_is_not_used(tmp_path, caplog):
    EmbeddingMemo(Counting(), {"k": 1}, tmp_path / "e")(TEXTS)
    fake = Counting()
    with caplog.at_level(logging.WARNING, logger="xlt"):
        EmbeddingMemo(fake, {"k": 2}, tmp_path / "e")(TEXTS)
    assert len(fake.calls) == 1 and "another key" in caplog.text


@pytest.fixture
def embedder(tiny_bert):
    torch.manual_seed(0)
    return Embedder(AutoModel.from_pretrained(tiny_bert), "mean"), AutoTokenizer.from_pretrained(tiny_bert)


def _kind():
    return kind_for(get_task("tatoeba").spec)


def test_memoized_vectors_are_the_model_vectors(embedder, tmp_path):
    model, tok = embedder
    kind, rt = _kind(), Runtime(progress=False)

    def embed(texts):
        enc = kind.encode(texts, tok, {}, 32)
        return kind.decode(enc, forward_rows(model, enc, 0, CPU, precision="fp32", runtime=rt), [], texts)

    memo = memoize(embed, model, tok, kind, 32, "", "fp32", tmp_path)
    got = np.concatenate([memo(TEXTS[:3]), memo(TEXTS[2:])])
    want = embed(TEXTS[:3] + TEXTS[2:])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)  # other batches: the same up to rounding
    assert memo.embedded == 4 and memo.folder.parent.name == "embeddings"


def test_the_key_changes_with_weights_precision_and_length(embedder, tmp_path):
    model, tok = embedder
    kind = _kind()
    folder = lambda m=model, p="fp32", n=32: memoize(Counting(), m, tok, kind, n, "", p, tmp_path).folder
    base = folder()
    assert folder() == base
    assert folder(p="bf16") != base and folder(n=64) != base
    fp = weights_fingerprint(model)
    with torch.no_grad():
        model.encoder.encoder.layer[0].attention.self.query.weight[0, 0] += 1e-3  # one weight of one layer
    assert weights_fingerprint(model) != fp and folder() != base
