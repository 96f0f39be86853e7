from types import SimpleNamespace

import pytest

from xlt.metrics import qa_scores, tagging_scores

UDPOS = SimpleNamespace(metrics=("f1", "accuracy"))
PANX = SimpleNamespace(metrics=("f1",))


def test_tagging_scores_follow_the_spec_metrics():
    gold, pred = [["B-PER", "O"], ["O"]], [["B-PER", "O"], ["B-LOC"]]
    s = tagging_scores(UDPOS, gold, pred)
    assert set(s.values) == {"f1", "accuracy"}
    assert s.values["f1"] == pytest.approx(2 / 3)
    assert s.values["accuracy"] == pytest.approx(2 / 3)  # token accuracy for a tagging task
    assert s.per_example["f1"] == [[1, 1, 1], [0, 1, 0]]
    assert s.per_example["accuracy"] == [[2, 2], [0, 1]]
    assert set(tagging_scores(PANX, gold, pred).values) == {"f1"}
    assert set(tagging_scores(None, gold, pred).values) == {"f1", "precision", "recall", "accuracy", "token_accuracy"}


def test_qa_scores_pick_the_scorer_from_the_metric_names():
    preds, refs = ["北京大学", None], [["北京"], ["上海"]]
    squad = qa_scores(SimpleNamespace(metrics=("squad_f1", "squad_em")), preds, refs, "zh")
    mlqa = qa_scores(SimpleNamespace(metrics=("mlqa_f1", "mlqa_em")), preds, refs, "zh")
    assert squad.values == {"squad_f1": 0.0, "squad_em": 0.0}
    assert mlqa.values["mlqa_f1"] == pytest.approx(1 / 3)  # (2/3 + 0) / 2 questions
    assert mlqa.per_example["mlqa_em"] == [0.0, 0.0]


def test_unknown_metric_for_the_task_type_raises():
    with pytest.raises(ValueError):
        tagging_scores(SimpleNamespace(metrics=("squad_f1",)), [["O"]], [["O"]])
