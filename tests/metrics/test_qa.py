import re

import numpy as np
import pytest

from xlt.metrics import (evaluate_squad_format, exact_match, mlqa_normalize, mlqa_scores, qa_task_score,
                         squad_normalize, squad_scores, token_f1)


# --- SQuAD v1.1 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,norm", [
    ("The  Quick,\tbrown fox!", "quick brown fox"),
    ("Theatre an apple", "theatre apple"),  # articles only as whole words
    ("U.S.A.", "usa"),
    ("state-of-the-art", "stateoftheart"),  # punctuation goes first, so "the" is inside a word
    ("“Paris”", "“paris”"),  # non-ASCII punctuation is kept by SQuAD
    ("", ""),
])
def test_squad_normalize(raw, norm):
    assert squad_normalize(raw) == norm


def test_squad_max_over_multiple_gold_answers():
    res = squad_scores([["paris, France", "Paris"], ["Paris", "city"]], ["Paris", "the city of Paris"])
    np.testing.assert_allclose(res.per_example_em, [1.0, 0.0])
    # "city of paris" vs "paris": P = 1/3, R = 1 -> F1 = 0.5 (same against "city")
    np.testing.assert_allclose(res.per_example_f1, [1.0, 0.5])
    assert (res.exact_match, res.f1) == (0.5, 0.75)
    assert res.score == qa_task_score(0.5, 0.75) == 0.625


def test_empty_and_missing_predictions_score_zero_but_count():
    res = squad_scores([["Paris"], ["Rome"], ["Oslo"]], ["", None, "oslo"])
    np.testing.assert_allclose(res.per_example_em, [0, 0, 1])
    assert res.exact_match == pytest.approx(1 / 3)


def test_answers_normalising_to_nothing_match_exactly_but_have_zero_f1():
    assert exact_match("the", "a") == 1.0
    assert token_f1("the", "a") == 0.0


def test_partial_overlap_f1_counts_repeated_tokens_once_per_occurrence():
    # pred [new, york, new], gold [new, york]: overlap 2, P = 2/3, R = 1 -> F1 = 0.8
    assert token_f1("New York new", "new york") == pytest.approx(0.8)


def test_references_must_be_lists_of_answers():
    with pytest.raises(ValueError):
        squad_scores(["Paris"], ["Paris"])
    with pytest.raises(ValueError):
        squad_scores([[]], ["Paris"])


def test_evaluate_squad_format_walks_file_order():
    data = [{"paragraphs": [{"qas": [{"id": "q1", "answers": [{"text": "Paris"}]},
                                     {"id": "q2", "answers": [{"text": "Rome"}, {"text": "Roma"}]}]}]}]
    res = evaluate_squad_format(data, {"q2": "roma"})
    np.testing.assert_allclose(res.per_example_em, [0, 1])


# --- MLQA ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,lang,norm", [
    ("“Paris”", "en", "paris"),  # Unicode punctuation (category P*) is removed
    ("El Niño", "es", "niño"),
    ("la casa de los espíritus", "es", "casa de espíritus"),
    ("Der Spiegel", "de", "spiegel"),
    ("Dasein", "de", "dasein"),
    ("những con mèo", "vi", "con mèo"),
    ("भारत।", "hi", "भारत"),  # U+0964 danda is punctuation
    ("الكتاب", "ar", "كتاب"),
    ("فالكتاب", "ar", "ف كتاب"),  # "ال" goes wherever it occurs, even mid-word
    ("北京大学", "zh", "北 京 大 学"),
    ("2008年北京奥运会！", "zh", "2008 年 北 京 奥 运 会"),
    ("iPhone 手机", "zh", "iphone 手 机"),
])
def test_mlqa_normalize(raw, lang, norm):
    assert mlqa_normalize(raw, lang) == norm


def test_mlqa_arabic_rule_equals_the_official_regex():
    for text in ["الكتاب", "في البيت الكبير", "فالكتاب", " ال", "مال"]:
        assert mlqa_normalize(text, "ar") == " ".join(re.sub("\\sال^|ال", " ", text).split())


def test_chinese_is_scored_by_character_under_mlqa_but_not_squad():
    assert token_f1("北京大学", "北京", "zh") == pytest.approx(2 / 3)  # P = 2/4, R = 2/2
    assert token_f1("北京大学", "北京") == 0.0  # SQuAD: one whitespace token each


def test_mlqa_articles_depend_on_language():
    assert exact_match("el perro", "perro", "es") == 1.0
    assert exact_match("el perro", "perro", "en") == 0.0
    assert exact_match("die Katze", "Katze", "de") == 1.0


def test_mlqa_scores_corpus_and_unknown_language():
    res = mlqa_scores([["北京"], ["上海"]], ["北京", None], "zh")
    assert (res.exact_match, res.f1) == (0.5, 0.5)
    with pytest.raises(ValueError):
        mlqa_normalize("x", "fr")
