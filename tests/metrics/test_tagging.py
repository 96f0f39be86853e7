import random
import warnings

import numpy as np
import pytest

from xlt.metrics import get_chunks, prf_from_counts, seqeval_f1, token_accuracy


# --- chunk boundaries (seqeval default mode) ---------------------------------------------------

def test_i_continuation_after_o_opens_an_entity():
    assert get_chunks([["O", "I-PER", "I-PER", "O"]]) == [("PER", 1, 2)]
    res = seqeval_f1([["O", "B-PER", "I-PER", "O"]], [["O", "I-PER", "I-PER", "O"]])
    assert res.f1 == 1.0


def test_type_change_splits_b_per_i_org():
    assert get_chunks([["B-PER", "I-ORG"]]) == [("PER", 0, 0), ("ORG", 1, 1)]
    # a prediction that merges them into one PER entity gets nothing right
    res = seqeval_f1([["B-PER", "I-PER"]], [["B-PER", "I-ORG"]])
    assert (res.precision, res.recall, res.f1) == (0.0, 0.0, 0.0)


def test_adjacent_entities_of_same_type_stay_separate():
    assert get_chunks([["B-PER", "B-PER", "I-PER"]]) == [("PER", 0, 0), ("PER", 1, 2)]
    res = seqeval_f1([["B-PER", "B-PER", "I-PER"]], [["B-PER", "I-PER", "I-PER"]])
    assert (res.tp[0], res.n_pred[0], res.n_gold[0]) == (0, 1, 2)


def test_entity_at_sentence_end_is_closed_by_the_separator():
    # offsets are into the corpus joined with one O per sentence: index 2 is the separator
    assert get_chunks([["O", "B-LOC"], ["I-LOC", "O"]]) == [("LOC", 1, 1), ("LOC", 3, 3)]
    res = seqeval_f1([["O", "B-LOC"], ["B-LOC", "O"]], [["O", "B-LOC"], ["I-LOC", "O"]])
    assert res.f1 == 1.0
    np.testing.assert_array_equal(res.tp, [1, 1])


def test_iobes_tags():
    assert get_chunks([["S-PER", "B-LOC", "E-LOC", "I-LOC"]]) == [("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)]


def test_corpus_scores_and_per_sentence_counts():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "I-ORG"]]
    res = seqeval_f1(gold, pred)
    assert res.precision == res.recall == res.f1 == pytest.approx(2 / 3)
    np.testing.assert_array_equal(res.stats, [[1, 2, 2], [1, 1, 1]])
    assert prf_from_counts(*res.stats.sum(axis=0)) == (res.precision, res.recall, res.f1)


def test_no_entities_scores_zero_not_nan():
    res = seqeval_f1([["O", "O"]], [["O", "O"]])
    assert (res.precision, res.recall, res.f1) == (0.0, 0.0, 0.0)
    assert prf_from_counts(0, 0, 0) == (0.0, 0.0, 0.0)


def test_misaligned_input_raises():
    with pytest.raises(ValueError):
        seqeval_f1([["O", "B-PER"]], [["O"]])
    with pytest.raises(ValueError):
        seqeval_f1([["O"]], [["O"], ["O"]])


# --- UD-POS: bare tags go through the same chunker -------------------------------------------

def test_pos_runs_of_one_tag_merge_into_one_chunk():
    assert get_chunks([["NOUN", "NOUN", "VERB"]]) == [("OUN", 0, 1), ("ERB", 2, 2)]
    assert get_chunks([["NOUN", "NOUN", "VERB"]], legacy=True) == [("NOUN", 0, 1), ("VERB", 2, 2)]
    # so tagging the second NOUN right but the first wrong earns no credit for either
    assert seqeval_f1([["NOUN", "NOUN"]], [["PRON", "NOUN"]]).tp[0] == 0


def test_pos_cconj_sconj_share_a_type_in_seqeval_1():
    assert seqeval_f1([["CCONJ"]], [["SCONJ"]]).f1 == 1.0
    assert seqeval_f1([["CCONJ"]], [["SCONJ"]], legacy=True).f1 == 0.0


def test_pos_x_tag_stale_offset_is_attributed_to_the_sentence_it_ends_in():
    gold = [["NOUN", "NOUN", "VERB"], ["X", "NOUN"]]
    assert get_chunks(gold) == [("OUN", 0, 1), ("ERB", 2, 2), ("_", 2, 4), ("OUN", 5, 5)]
    np.testing.assert_array_equal(seqeval_f1(gold, gold).n_gold, [2, 2])


def test_token_accuracy_pools_tokens():
    res = token_accuracy([["NOUN", "VERB"], ["DET", "NOUN", "PUNCT"]], [["NOUN", "NOUN"], ["DET", "NOUN", "PUNCT"]])
    assert res.accuracy == 0.8
    np.testing.assert_array_equal(res.correct, [1, 3])
    np.testing.assert_array_equal(res.n_tokens, [2, 3])


# --- agreement with the seqeval package itself --------------------------------------------------

UPOS = "ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split()
NER = ["O", "O", "O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "E-LOC", "S-PER", "B-A-B", "I", "."]


@pytest.mark.parametrize("vocab", [NER, UPOS, NER + UPOS], ids=["ner", "upos", "mixed"])
def test_matches_seqeval_package_on_random_corpora(vocab):
    seqeval = pytest.importorskip("seqeval.metrics")
    from seqeval.metrics.sequence_labeling import get_entities

    rng = random.Random(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on non-IOB labels such as NOUN
        for _ in range(150):
            gold = [[rng.choice(vocab) for _ in range(rng.randint(0, 8))] for _ in range(rng.randint(1, 6))]
            pred = [[t if rng.random() < 0.6 else rng.choice(vocab) for t in s] for s in gold]
            res = seqeval_f1(gold, pred)
            assert get_chunks(gold) == get_entities(gold)
            assert res.f1 == seqeval.f1_score(gold, pred)
            assert res.precision == seqeval.precision_score(gold, pred)
            assert res.recall == seqeval.recall_score(gold, pred)
