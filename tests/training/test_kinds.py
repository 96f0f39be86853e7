"""Task-type kinds: sub-token label alignment, choice grouping, QA windows and span decoding."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from xlt.tasks.base import Answer, ChoiceExample, QAExample, TaggingExample
from xlt.tasks.spec import TaskSpec, TaskType
from xlt.training.batching import IGNORE, collate
from xlt.training.kinds import kind_for
from xlt.training.kinds.qa import _token_span


def _spec(kind, labels=(), metrics=("accuracy",)):
    return TaskSpec(name="t", type=kind, description="", languages=("en",), source_language="en",
                    metrics=metrics, main_metric=metrics[0], version="1", labels=labels)


@pytest.fixture
def tok(tiny_model):
    return AutoTokenizer.from_pretrained(tiny_model)


def test_tagging_labels_only_the_first_subtoken(tok):
    labels = ("O", "B-PER", "I-PER")
    ad = kind_for(_spec(TaskType.TAGGING, labels, ("f1",)))
    ex = TaggingExample(("Marie", "Curie", "lebte", "in", "Paris"), ("B-PER", "I-PER", "O", "O", "O"))
    enc = ad.encode([ex], tok, {l: i for i, l in enumerate(labels)}, 64)
    ids, lab, words = enc.input_ids[0], enc.token_labels[0], enc.word_ids[0]
    assert len(ids) == len(lab) == len(words)
    assert lab[0] == IGNORE and lab[-1] == IGNORE  # special tokens
    scored = [(w, l) for w, l in zip(words, lab) if l != IGNORE]
    assert [w for w, _ in scored] == [0, 1, 2, 3, 4]  # exactly one scored position per word
    assert [l for _, l in scored] == [1, 2, 0, 0, 0]
    # decoding reads the label at each word's first sub-token
    out = np.zeros((len(ids), 3), dtype=np.float32)
    for t, (w, l) in enumerate(zip(words, lab)):
        if w >= 0:
            out[t, [1, 2, 0, 0, 0][w]] = 5.0
    assert ad.decode(enc, [out], list(labels), [ex]) == [["B-PER", "I-PER", "O", "O", "O"]]
    batch = collate(enc, [0], tok.pad_token_id)
    assert batch["labels"].shape == batch["input_ids"].shape


def test_truncated_words_are_predicted_O(tok):
    labels = ("O", "B-LOC")
    ad = kind_for(_spec(TaskType.TAGGING, labels, ("f1",)))
    ex = TaggingExample(tuple(["Paris"] * 40), tuple(["B-LOC"] * 40))
    enc = ad.encode([ex], tok, {"O": 0, "B-LOC": 1}, 12)
    n_scored = sum(w >= 0 for w in enc.word_ids[0])
    assert 0 < n_scored < 40
    out = np.tile(np.array([0.0, 9.0], dtype=np.float32), (len(enc.input_ids[0]), 1))
    [pred] = ad.decode(enc, [out], list(labels), [ex])
    assert pred == ["B-LOC"] * n_scored + ["O"] * (40 - n_scored)  # cut-off words are predicted "O"


def test_choice_rows_hold_one_sequence_per_choice(tok):
    ad = kind_for(_spec(TaskType.MULTIPLE_CHOICE))
    exs = [ChoiceExample("The man fell.", ("He slipped.", "He sang."), 0, "cause"),
           ChoiceExample("It rained.", ("The ground got wet.", "The sun shone."), 0, "effect")]
    enc = ad.encode(exs, tok, {}, 64)
    assert enc.nested and [len(r) for r in enc.input_ids] == [2, 2]
    batch = collate(enc, [0, 1], tok.pad_token_id)
    assert batch["input_ids"].shape[0] == 4 and batch["num_choices"] == 2
    assert batch["labels"].tolist() == [0, 0]
    preds = ad.decode(enc, [np.array([0.1, 2.0]), np.array([3.0, 1.0])], [], exs)
    assert preds == [1, 0]
    assert ad.score(preds, exs, "en").values["accuracy"] == 0.5


def test_token_span_finds_the_answer_or_points_at_cls():
    offsets = [None, None, (0, 5), (6, 11), (12, 17), None]  # [CLS] q [SEP]? ctx ctx ctx [SEP]
    assert _token_span(offsets, 6, 11) == (3, 3)
    assert _token_span(offsets, 6, 17) == (3, 4)
    assert _token_span(offsets, 20, 25) == (0, 0)  # answer not in this window


def test_qa_windows_cover_long_contexts_and_decode_the_best_span(tok):
    ad = kind_for(_spec(TaskType.QA, metrics=("squad_f1", "squad_em")))
    context = " ".join(["word"] * 150 + ["Paris"] + ["word"] * 150)
    start = context.index("Paris")
    ex = QAExample("q1", "Where?", context, (Answer("Paris", start),))
    enc = ad.encode([ex], tok, {}, 64)
    assert len(enc) > 3  # several overlapping windows
    assert all(m[0] == 0 for m in enc.meta)
    hits = [i for i in range(len(enc)) if tuple(enc.labels[i]) != (0, 0)]
    assert hits  # some window contains the answer ...
    for i in hits:  # ... and its labelled tokens cover exactly "Paris"
        s, e = enc.labels[i]
        offsets = enc.meta[i][1]
        assert context[offsets[s][0] : offsets[e][1]] == "Paris"
    # decoding: logits peaked at the gold span of one window win over every other window
    outputs = []
    for i in range(len(enc)):
        out = np.zeros((len(enc.input_ids[i]), 2), dtype=np.float32)
        if i == hits[0]:
            s, e = enc.labels[i]
            out[s, 0] = out[e, 1] = 10.0
        outputs.append(out)
    assert ad.decode(enc, outputs, [], [ex]) == ["Paris"]
