import numpy as np
import pytest

from xlt.metrics import (average_precision_at_k, cosine_similarity, map_at_k, map_at_k_from_rankings,
                         retrieval_accuracy, tatoeba_accuracy, top_k)


def test_ap_two_relevant_found_at_ranks_1_and_3():
    scores = np.array([[0.9, 0.1, 0.8, 0.7, 0.0]])  # ranking 0, 2, 3, 1, 4
    res = map_at_k(scores, [{0, 3}])
    assert res.value == pytest.approx((1 / 1 + 2 / 3) / 2)


def test_ap_divides_by_relevant_count_when_fewer_than_k_are_found():
    # three relevant, only one retrieved (rank 2) in a list shorter than k
    assert average_precision_at_k(["a", "b", "c"], {"b", "x", "y"}, k=20) == pytest.approx((1 / 2) / 3)


def test_ap_divisor_is_capped_at_k():
    ranking = list(range(30))
    assert average_precision_at_k(ranking, set(range(25)), k=20) == 1.0
    assert average_precision_at_k(ranking, set(range(25)), k=None) == 1.0
    assert average_precision_at_k(ranking, {20}, k=20) == 0.0  # relevant item at rank 21
    assert average_precision_at_k(ranking, {20}, k=None) == pytest.approx(1 / 21)


def test_single_gold_ap_is_reciprocal_rank_as_in_mewslix():
    res = map_at_k_from_rankings([["q9", "q2", "q5", "q1"], ["q1"], []], [["q1"], ["q1"], ["q1"]])
    np.testing.assert_allclose(res.per_query, [0.25, 1.0, 0.0])


def test_repeated_items_in_a_ranking_count_once():
    assert average_precision_at_k(["e1", "e1", "e2"], {"e1", "e2"}) == pytest.approx((1 + 2 / 3) / 2)


def test_ties_break_towards_the_lower_candidate_index():
    scores = np.array([[1.0, 1.0, 0.0]])
    np.testing.assert_array_equal(top_k(scores[0], None), [0, 1, 2])
    assert map_at_k(scores, [{1}]).value == 0.5
    assert map_at_k(scores, [{1}], k=1).value == 0.0
    assert map_at_k(scores, [{0}], k=1).value == 1.0


def test_top_k_with_partition_matches_full_stable_sort():
    rng = np.random.default_rng(0)
    for _ in range(200):
        row = rng.integers(0, 5, size=rng.integers(1, 40)).astype(float)  # many ties
        for k in (1, 3, 20):
            np.testing.assert_array_equal(top_k(row, k), np.argsort(-row, kind="stable")[:k])


def test_fewer_candidates_than_k_and_mean_over_queries():
    scores = np.array([[0.9, 0.5, 0.7], [0.1, 0.2, 0.3]])
    res = map_at_k(scores, [{2}, {0, 2}])
    # q0: rank of 2 is 2 -> 0.5; q1: ranking 2, 1, 0 -> (1/1 + 2/3) / 2
    np.testing.assert_allclose(res.per_query, [0.5, (1 + 2 / 3) / 2])
    assert res.value == pytest.approx(res.per_query.mean())
    assert [list(r) for r in res.ranked] == [[0, 2, 1], [2, 1, 0]]  # the rankings that were scored


def test_map_rejects_bad_input():
    with pytest.raises(ValueError):
        map_at_k(np.zeros((1, 3)), [set()])
    with pytest.raises(ValueError):
        map_at_k(np.zeros((2, 3)), [{0}])
    with pytest.raises(ValueError):
        map_at_k(np.array([[np.nan, 1.0]]), [{0}])


def test_retrieval_accuracy_with_ties_takes_lowest_index():
    scores = np.array([[0.5, 0.5], [0.5, 0.5], [0.1, 0.9]])
    res = retrieval_accuracy(scores, [0, 1, 1])
    np.testing.assert_array_equal(res.per_query, [1.0, 0.0, 1.0])
    assert res.value == pytest.approx(2 / 3)
    assert res.ranked == [0, 0, 1]  # the predicted candidate per query


def test_cosine_is_scale_invariant_and_zero_safe():
    sims = cosine_similarity(np.array([[2.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 0.0], [3.0, 3.0]]))
    np.testing.assert_allclose(sims, [[1.0, np.sqrt(0.5)], [0.0, 0.0]])


def test_tatoeba_direction():
    xx = np.array([[1.0, 0.0], [0.0, 1.0]])
    en = np.array([[1.0, 0.0], [1.0, 0.1]])
    # official: English queries; en[1] is closer to xx[0] than to its translation xx[1]
    assert tatoeba_accuracy(xx, en).value == 0.5
    # other direction: xx[0] -> en[0] (1 vs 0.995), xx[1] -> en[1] (0.0995 vs 0)
    assert tatoeba_accuracy(xx, en, query_side="xx").value == 1.0
    with pytest.raises(ValueError):
        tatoeba_accuracy(xx, en[:1])
