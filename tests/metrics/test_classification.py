import numpy as np
import pytest

from xlt.metrics import accuracy


def test_accuracy_and_per_example_vector():
    res = accuracy(["entailment", "neutral", "contradiction", "neutral"],
                   ["entailment", "contradiction", "contradiction", "neutral"])
    assert res.accuracy == 0.75
    assert res.correct.dtype == bool
    np.testing.assert_array_equal(res.correct, [True, False, True, True])


def test_accuracy_works_on_integer_labels_and_numpy_arrays():
    assert accuracy(np.array([0, 1, 1]), np.array([0, 1, 0])).accuracy == pytest.approx(2 / 3)


@pytest.mark.parametrize("refs,preds", [([], []), (["a"], ["a", "b"])])
def test_accuracy_rejects_empty_or_misaligned(refs, preds):
    with pytest.raises(ValueError):
        accuracy(refs, preds)
