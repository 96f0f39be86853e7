import numpy as np
import pytest

from xlt.errors import XltError
from xlt.metrics import METRICS, macro_f1, resolve_metrics, score_all


def test_registry_names():
    assert set(METRICS) == {"accuracy", "macro_f1", "f1", "precision", "recall", "token_accuracy", "squad_em",
                            "squad_f1", "mlqa_em", "mlqa_f1", "map@20", "retrieval_accuracy"}
    assert {m.inputs for m in METRICS.values()} == {"labels", "tags", "answers", "scores"}


def test_registry_calls():
    assert METRICS["accuracy"](["a", "b"], ["a", "a"]) == 0.5
    assert METRICS["macro_f1"](["a", "b"], ["a", "a"]) == pytest.approx((2 / 3 + 0) / 2)
    assert METRICS["precision"]([["B-PER", "O"]], [["B-PER", "B-LOC"]]) == 0.5
    assert METRICS["recall"]([["B-PER", "B-LOC"]], [["B-PER", "O"]]) == 0.5
    assert METRICS["f1"]([["B-PER", "O"]], [["B-PER", "O"]]) == 1.0
    assert METRICS["token_accuracy"]([["NOUN", "VERB"]], [["NOUN", "NOUN"]]) == 0.5
    assert METRICS["squad_em"]([["The Eiffel Tower"]], ["eiffel tower"]) == 1.0
    assert METRICS["squad_f1"]([["Eiffel Tower"]], ["tower"]) == pytest.approx(2 / 3)
    assert METRICS["mlqa_em"]([["北京"]], ["北京。"], lang="zh") == 1.0
    assert METRICS["mlqa_f1"]([["北京"]], ["北"], lang="zh") == pytest.approx(2 / 3)
    assert METRICS["map@20"]([{1}], np.array([[0.9, 0.8]])) == 0.5
    assert METRICS["retrieval_accuracy"]([1], np.array([[0.1, 0.8]])) == 1.0


def test_macro_f1_matches_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for n_labels in (2, 3, 5):
        refs = rng.integers(0, n_labels, 60).tolist()
        preds = rng.integers(0, n_labels + 1, 60).tolist()  # one label only ever predicted
        ours = macro_f1(refs, preds)
        assert ours.f1 == pytest.approx(metrics.f1_score(refs, preds, average="macro", zero_division=0.0), abs=1e-12)
        assert ours.pairs == [[r, p] for r, p in zip(refs, preds)]
    with pytest.raises(ValueError):
        macro_f1([], [])


def test_score_all_runs_a_shared_computation_once_and_names_what_the_task_reports():
    from dataclasses import replace

    calls = []

    def counted(references, predictions):
        calls.append(1)
        return METRICS["f1"].compute(references, predictions)

    metrics = {name: replace(METRICS[name], compute=counted) for name in ("f1", "precision", "recall")}
    s = score_all(metrics, [["B-PER", "O"], ["B-LOC"]], [["B-PER", "O"], ["O"]])
    assert len(calls) == 1  # seqeval P/R/F1 come from one pass over the corpus
    assert s.values == {"f1": pytest.approx(2 / 3), "precision": 1.0, "recall": 0.5}
    assert s.per_example["f1"] == [[1, 1, 1], [0, 0, 1]]
    resolved = resolve_metrics("udpos", ("f1", "accuracy"), "f1", "tags", {"accuracy": "token_accuracy"})
    assert resolved == {"f1": METRICS["f1"], "accuracy": METRICS["token_accuracy"]}
    with pytest.raises(XltError, match="no metrics listed"):
        resolve_metrics("t", (), "accuracy", "labels")


def test_mlqa_needs_the_answer_language():
    resolved = resolve_metrics("mlqa", ("mlqa_f1",), "mlqa_f1", "answers")
    assert score_all(resolved, [["北京"]], ["北"], "zh").values == {"mlqa_f1": pytest.approx(2 / 3)}
    with pytest.raises(ValueError, match="answer language"):
        score_all(resolved, [["北京"]], ["北"], None)
