"""Tokenisation cache: hits, misses on every input that changes the ids, rebuild of damaged entries."""

import dataclasses
import logging

import numpy as np
import pytest
from transformers import AutoTokenizer

from xlt.tasks.base import Answer, ChoiceExample, Example, QAExample, TaggingExample
from xlt.tasks.spec import TaskSpec, TaskType
from xlt.training import cache
from xlt.training.batching import Ragged, collate
from xlt.training.kinds import kind_for

LABELS = ("sports", "politics")
EXAMPLES = [Example("The match ended in a draw.", "sports"), Example("Parliament passed the law.", "politics"),
            Example("Le ministre a parlé.", "politics", origin="f:3")]


def _spec(kind=TaskType.CLASSIFICATION, labels=LABELS, metrics=("accuracy",), version="1"):
    return TaskSpec(name="t", type=kind, description="", languages=("en",), source_language="en",
                    metrics=metrics, main_metric=metrics[0], version=version, labels=labels)


class Counting:
    """An kind whose encode calls are counted (a cache hit must not tokenise)."""

    def __init__(self, spec):
        self.inner, self.calls = kind_for(spec), 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, *args):
        self.calls += 1
        return self.inner.encode(*args)


@pytest.fixture
def tok(tiny_xlmr):
    return AutoTokenizer.from_pretrained(tiny_xlmr)


@pytest.fixture
def l2i():
    return {l: i for i, l in enumerate(LABELS)}


def _entries(root):
    return sorted(p for p in (root / "tokens").iterdir() if not p.name.startswith("."))


def _same_batches(a, b, pad_id=1):
    idx = list(range(len(a)))
    ba, bb = collate(a, idx, pad_id), collate(b, idx, pad_id)
    assert ba.keys() == bb.keys() and all(
        (ba[k] == bb[k]).all() if hasattr(ba[k], "shape") else ba[k] == bb[k] for k in ba)


def test_second_call_reads_the_memory_mapped_entry(tmp_path, tok, l2i):
    ad = Counting(_spec())
    first = cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "query: ", tmp_path)
    second = cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "query: ", tmp_path)
    assert ad.calls == 1 and len(_entries(tmp_path)) == 1
    assert isinstance(second.input_ids, Ragged) and isinstance(second.input_ids.flat, np.memmap)
    direct = ad.inner.encode(EXAMPLES, tok, l2i, 32, "query: ")
    assert [r.tolist() for r in second.input_ids] == direct.input_ids
    np.testing.assert_array_equal(second.labels, direct.labels)
    _same_batches(first, direct)


def test_every_input_of_the_ids_is_in_the_key(tmp_path, tok, tiny_bert, l2i):
    ad = Counting(_spec())
    cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "", tmp_path)
    other_tok = AutoTokenizer.from_pretrained(tiny_bert)
    changes = [
        (ad, EXAMPLES, other_tok, l2i, 32, ""),  # another tokenizer
        (ad, EXAMPLES, tok, l2i, 16, ""),  # max_length
        (ad, EXAMPLES, tok, l2i, 32, "query: "),  # input prefix
        (ad, EXAMPLES[:2], tok, l2i, 32, ""),  # the examples
        (ad, [dataclasses.replace(EXAMPLES[0], text="Changed."), *EXAMPLES[1:]], tok, l2i, 32, ""),
        (ad, EXAMPLES, tok, {"sports": 1, "politics": 0}, 32, ""),  # the label map
    ]
    for args in changes:
        cache.encode_cached(*args, tmp_path)
    assert ad.calls == 1 + len(changes)
    newer = Counting(_spec(version="2"))  # the task's version
    cache.encode_cached(newer, EXAMPLES, tok, l2i, 32, "", tmp_path)
    assert newer.calls == 1 and len(_entries(tmp_path)) == 2 + len(changes)


def test_a_changed_tokenizer_definition_is_a_miss(tmp_path, tiny_xlmr, l2i):
    ad = Counting(_spec())
    tok = AutoTokenizer.from_pretrained(tiny_xlmr)
    cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "", tmp_path)
    left = AutoTokenizer.from_pretrained(tiny_xlmr, truncation_side="left")
    assert cache.tokenizer_id(left) != cache.tokenizer_id(tok)
    cache.encode_cached(ad, EXAMPLES, left, l2i, 32, "", tmp_path)
    assert ad.calls == 2


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta", "missing"])
def test_a_damaged_entry_is_rebuilt_with_a_warning(tmp_path, tok, l2i, caplog, damage):
    ad = Counting(_spec())
    cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "", tmp_path)
    good = ad.inner.encode(EXAMPLES, tok, l2i, 32, "")  # the entry is damaged in place below: compare with fresh ids
    [entry] = _entries(tmp_path)
    flat = entry / "input_ids.flat.npy"
    if damage == "truncate":
        flat.write_bytes(flat.read_bytes()[:-6])
    elif damage == "flip":  # same size, one token id changed: only the hash can tell
        raw = bytearray(flat.read_bytes())
        raw[-1] ^= 0xFF
        flat.write_bytes(bytes(raw))
    elif damage == "meta":
        (entry / "meta.json").write_text("{not json")
    else:
        (entry / "labels.npy").unlink()
    with caplog.at_level(logging.WARNING, logger="xlt"):
        again = cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "", tmp_path)
    assert ad.calls == 2
    assert any("tokenisation cache" in r.getMessage() and "unusable" in r.getMessage() for r in caplog.records)
    _same_batches(good, again)
    caplog.clear()
    cache.encode_cached(ad, EXAMPLES, tok, l2i, 32, "", tmp_path)  # the rebuilt entry is a clean hit
    assert ad.calls == 2 and not caplog.records


def test_unwritable_cache_falls_back_to_memory(tmp_path, tok, l2i, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="xlt"):
        enc = cache.encode_cached(Counting(_spec()), EXAMPLES, tok, l2i, 32, "", blocker)
    assert len(enc) == 3 and any("cannot write" in r.getMessage() for r in caplog.records)


def test_tagging_choice_and_qa_entries_decode_like_fresh_ones(tmp_path, tok):
    tags = ("O", "B-PER")
    tag = kind_for(_spec(TaskType.TAGGING, tags, ("f1",)))
    exs = [TaggingExample(("Marie", "lebte", "in", "Paris"), ("B-PER", "O", "O", "O")),
           TaggingExample(("Hola",), ("O",))]
    l2i = {"O": 0, "B-PER": 1}
    fresh, cached = tag.encode(exs, tok, l2i, 32), cache.encode_cached(tag, exs, tok, l2i, 32, "", tmp_path)
    _same_batches(fresh, cached)
    outs = [np.random.default_rng(i).normal(size=(len(r), 2)) for i, r in enumerate(fresh.input_ids)]
    assert tag.decode(cached, outs, list(tags), exs) == tag.decode(fresh, outs, list(tags), exs)

    choice = kind_for(_spec(TaskType.MULTIPLE_CHOICE, ()))
    cexs = [ChoiceExample("It rained.", ("Wet ground.", "Sunny day."), 0, "effect"),
            ChoiceExample("He fell.", ("He slipped.", "He sang."), 0, "cause")]
    cached = cache.encode_cached(choice, cexs, tok, {}, 32, "", tmp_path)
    assert cached.nested and cached.input_ids.group == 2
    _same_batches(choice.encode(cexs, tok, {}, 32), cached)

    qa = kind_for(_spec(TaskType.QA, (), ("squad_f1", "squad_em")))
    ctx = "Paris is the capital of France. " * 6
    qexs = [QAExample("q1", "What is the capital?", ctx, (Answer("Paris", 0),))]
    fresh = qa.encode(qexs, tok, {}, 48)
    cached = cache.encode_cached(qa, qexs, tok, {}, 48, "", tmp_path)
    assert len(cached) == len(fresh) > 1  # several windows, each with its decoding info
    outs = [np.random.default_rng(i).normal(size=(len(r), 2)) for i, r in enumerate(fresh.input_ids)]
    assert qa.decode(cached, outs, [], qexs) == qa.decode(fresh, outs, [], qexs)
    np.testing.assert_array_equal(cached.labels, fresh.labels)
