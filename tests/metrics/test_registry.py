import numpy as np
import pytest

from xlt.metrics import METRICS


def test_registry_names():
    assert set(METRICS) == {"accuracy", "f1", "token_accuracy", "squad_em", "squad_f1", "mlqa_em", "mlqa_f1",
                            "map@20", "retrieval_accuracy"}


def test_registry_calls():
    assert METRICS["accuracy"](["a", "b"], ["a", "a"]) == 0.5
    assert METRICS["f1"]([["B-PER", "O"]], [["B-PER", "O"]]) == 1.0
    assert METRICS["token_accuracy"]([["NOUN", "VERB"]], [["NOUN", "NOUN"]]) == 0.5
    assert METRICS["squad_em"]([["The Eiffel Tower"]], ["eiffel tower"]) == 1.0
    assert METRICS["squad_f1"]([["Eiffel Tower"]], ["tower"]) == pytest.approx(2 / 3)
    assert METRICS["mlqa_em"]([["北京"]], ["北京。"], lang="zh") == 1.0
    assert METRICS["mlqa_f1"]([["北京"]], ["北"], lang="zh") == pytest.approx(2 / 3)
    assert METRICS["map@20"]([{1}], np.array([[0.9, 0.8]])) == 0.5
    assert METRICS["retrieval_accuracy"]([1], np.array([[0.1, 0.8]])) == 1.0
