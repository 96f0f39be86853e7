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


# --- metrics: every kind scores the spec's metrics through xlt.metrics.METRICS ------------------


def test_classification_and_choice_report_every_metric_of_the_spec():
    from xlt.metrics import METRICS
    from xlt.tasks.base import Example

    kind = kind_for(_spec(TaskType.CLASSIFICATION, ("a", "b", "c"), ("accuracy", "macro_f1")))
    exs = [Example(f"s{i}", l) for i, l in enumerate("aabbcc")]
    preds = list("abbbca")
    refs = [ex.label for ex in exs]
    s = kind.score(preds, exs, "en")
    assert s.values == {"accuracy": METRICS["accuracy"](refs, preds), "macro_f1": METRICS["macro_f1"](refs, preds)}
    assert s.values["accuracy"] == pytest.approx(4 / 6)
    assert s.values["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)  # F1 per class = 2tp / (2tp + fp + fn)
    assert s.per_example["accuracy"] == [1, 0, 1, 1, 1, 0]  # 0/1 per example, as bootstrap resamples
    assert s.per_example["macro_f1"] == [list(p) for p in zip(refs, preds)]
    choice = kind_for(_spec(TaskType.MULTIPLE_CHOICE, metrics=("macro_f1", "accuracy")))
    cex = [ChoiceExample("p", ("x", "y"), label, "cause") for label in (0, 1, 1, 0)]
    s = choice.score([0, 1, 0, 0], cex, "en")
    assert s.values == {"macro_f1": METRICS["macro_f1"]([0, 1, 1, 0], [0, 1, 0, 0]), "accuracy": 0.75}
    assert kind_for(_spec(TaskType.CLASSIFICATION, ("a", "b"))).score(["a", "b"], exs[:2], "en").values == \
        {"accuracy": 0.5}  # only what the spec lists


def test_tagging_and_qa_metrics_come_from_the_registry():
    udpos = kind_for(_spec(TaskType.TAGGING, ("B-PER", "B-LOC", "O"), ("f1", "accuracy")))
    exs = [TaggingExample(("Ana", "x"), ("B-PER", "O")), TaggingExample(("y",), ("O",))]
    s = udpos.score([["B-PER", "O"], ["B-LOC"]], exs, "en")
    assert s.values == {"f1": pytest.approx(2 / 3), "accuracy": pytest.approx(2 / 3)}  # token accuracy for tagging
    assert s.per_example == {"f1": [[1, 1, 1], [0, 1, 0]], "accuracy": [[2, 2], [0, 1]]}
    mlqa = kind_for(_spec(TaskType.QA, metrics=("mlqa_f1", "mlqa_em")))
    squad = kind_for(_spec(TaskType.QA, metrics=("squad_f1", "squad_em")))
    qex = [QAExample("1", "q", "北京大学", (Answer("北京", 0),)), QAExample("2", "q", "上海", (Answer("上海", 0),))]
    assert squad.score(["北京大学", None], qex, "zh").values == {"squad_f1": 0.0, "squad_em": 0.0}
    s = mlqa.score(["北京大学", None], qex, "zh")  # MLQA splits Chinese into characters for the answer language
    assert s.values["mlqa_f1"] == pytest.approx(1 / 3) and s.per_example["mlqa_em"] == [0.0, 0.0]


@pytest.mark.parametrize("kind,metrics,main,msg", [
    (TaskType.CLASSIFICATION, ("accuracy", "macro_f2"), "accuracy",
     r"task t: unknown metric 'macro_f2' \(valid for its predictions: accuracy, macro_f1\)"),
    (TaskType.CLASSIFICATION, ("f1",), "f1", r"metric 'f1' scores tags, but this task predicts labels"),
    (TaskType.TAGGING, ("f1", "squad_em"), "f1", r"'squad_em' scores answers, but this task predicts tags"),
    (TaskType.RETRIEVAL, ("map@10",), "map@10", r"unknown metric 'map@10'"),
    (TaskType.CLASSIFICATION, ("accuracy",), "macro_f1", r"main metric 'macro_f1' is not one of"),
])
def test_bad_metric_names_fail_when_the_kind_is_built(kind, metrics, main, msg):
    from dataclasses import replace

    from xlt.errors import XltError

    with pytest.raises(XltError, match=msg):
        kind_for(replace(_spec(kind, metrics=metrics), main_metric=main))


def test_every_registered_task_resolves_its_metrics():
    from xlt.tasks import all_specs

    specs = all_specs()
    assert len(specs) >= 16
    for spec in specs:
        assert set(kind_for(spec).metrics) == set(spec.metrics)
