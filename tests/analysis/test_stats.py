"""Bootstrap intervals, paired tests and Holm on simulated 0/1 results with known truth.

Simulation: example j has a success probability p_j = 0.1 + 0.8 * Beta(2, 1.2) (population mean 0.6);
each training seed shifts it by a N(0, seed_sd) effect shared by all examples (and languages) of
that run; scores are Bernoulli draws. The truth is the population mean over examples and seeds.
Everything is seeded, so the figures asserted here are deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

from xlt.analysis import stats

TRUE_MEAN = 0.1 + 0.8 * 2 / 3.2  # mean of 0.1 + 0.8 * Beta(2, 1.2)


def _probs(rng, n):
    return 0.1 + 0.8 * rng.beta(2, 1.2, n)


def _scores(rng, p, seed_effects):
    """seeds x examples 0/1 scores: example probabilities p shifted by one effect per seed."""
    return (rng.random((len(seed_effects), len(p))) < np.clip(p + seed_effects[:, None], 0, 1)).astype(float)


# -- Holm ----------------------------------------------------------------------------------------

def test_holm_against_hand_computed_values():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.02]) == pytest.approx([0.02])
    out = stats.holm([0.01, np.nan, 0.02])  # NaN is not a test: m = 2
    assert np.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.02])
    assert stats.holm([]).shape == (0,)


def test_holm_matches_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = np.random.default_rng(0).uniform(0, 0.2, 12)
    assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1])


# -- bootstrap scheme ----------------------------------------------------------------------------

def test_identical_seeds_give_the_one_seed_interval():
    y = _scores(np.random.default_rng(1), _probs(np.random.default_rng(2), 200), np.zeros(1))
    one = stats.bootstrap_mean_ci(y[0], n_boot=500, rng=7)
    three = stats.bootstrap_mean_ci([y[0], y[0], y[0]], n_boot=500, rng=7)
    assert (three.estimate, three.low, three.high) == pytest.approx((one.estimate, one.low, one.high))
    assert one.estimate == pytest.approx(y.mean()) and one.low < one.estimate < one.high


def test_resampled_seed_term_is_lighter_tailed_than_the_t_draw():
    rng = np.random.default_rng(5)
    y = _scores(rng, _probs(rng, 2000), np.array([-0.04, 0.0, 0.04]))  # seed-dominated, 3 seeds
    t = stats.bootstrap_mean_ci(y, n_boot=2000, rng=1)
    resampled = stats.bootstrap_mean_ci(y, n_boot=2000, rng=1, seed_draw="resample")
    assert t.high - t.low > 1.7 * (resampled.high - resampled.low)  # t with 2 df vs 3 resampled seeds
    with pytest.raises(ValueError, match="seed_draw"):
        stats.bootstrap_mean_ci(y, seed_draw="bayes")


def test_seeds_must_share_the_test_set():
    with pytest.raises(ValueError, match="share the test set"):
        stats.bootstrap_mean_ci([np.ones(5), np.ones(6)])


def test_seed_variance_widens_the_interval():
    rng = np.random.default_rng(3)
    p = _probs(rng, 300)
    calm = stats.bootstrap_mean_ci(_scores(rng, p, np.zeros(5)), n_boot=1000, rng=1)
    noisy = stats.bootstrap_mean_ci(_scores(rng, p, np.array([-0.06, -0.03, 0.0, 0.03, 0.06])), n_boot=1000, rng=1)
    assert noisy.high - noisy.low > 1.5 * (calm.high - calm.low)


def test_parallel_test_sets_share_resampled_examples():
    # translations: the same examples are hard in every language, so the family mean varies more
    # than independent resampling per language would say
    rng = np.random.default_rng(4)
    p = rng.choice([0.05, 0.95], 300)  # examples are either easy or hard, in every language
    langs = {l: _scores(rng, p, np.zeros(3)) for l in ("a", "b", "c", "d")}
    shared = stats.family_mean_ci(langs, n_boot=1000, rng=1)  # auto: equal sizes -> parallel
    independent = stats.family_mean_ci(langs, n_boot=1000, rng=1, parallel=False)
    assert shared.high - shared.low > 1.5 * (independent.high - independent.low)


# -- coverage ------------------------------------------------------------------------------------

def test_mean_ci_reaches_nominal_coverage():
    rng, hits, n_sim = np.random.default_rng(10), 0, 1000
    for _ in range(n_sim):  # 5 seeds x 300 examples, seed SD 2 points
        y = _scores(rng, _probs(rng, 300), rng.normal(0, 0.02, 5))
        ci = stats.bootstrap_mean_ci(y, n_boot=500, rng=rng)
        hits += ci.low <= TRUE_MEAN <= ci.high
    assert 0.93 <= hits / n_sim <= 0.97


@pytest.mark.parametrize("parallel", [True, False])
def test_family_mean_and_gap_reach_nominal_coverage(parallel):
    rng, n_sim = np.random.default_rng(11), 2000 if parallel else 1500  # independent sets: slower
    shifts = np.array([-0.15, -0.05, 0.0, 0.1])  # language offsets; the source is 0.15 above the base
    true_mean, true_gap = TRUE_MEAN + shifts.mean(), 0.15 - shifts.mean()
    hits_mean = hits_gap = 0
    for _ in range(n_sim):
        seeds = rng.normal(0, 0.005, 5)  # one run scores every language: shared seed effects
        base = _probs(rng, 150)
        src = _scores(rng, np.clip(base + 0.15, 0, 1), seeds)
        langs = {}
        for i, s in enumerate(shifts):
            p = base if parallel else _probs(rng, 150 + 10 * i)
            langs[f"l{i}"] = _scores(rng, p + s, seeds + rng.normal(0, 0.003, 5))
        m = stats.family_mean_ci(langs, n_boot=400, rng=rng)
        g = stats.gap_ci(src, langs, n_boot=400, rng=rng)
        hits_mean += m.low <= true_mean <= m.high
        hits_gap += g.low <= true_gap <= g.high
    assert 0.93 <= hits_mean / n_sim <= 0.97
    assert 0.93 <= hits_gap / n_sim <= 0.97


# -- paired difference ---------------------------------------------------------------------------

def _pair(rng, effect, n_langs=3, n_seeds=5, n_examples=100, seed_sd=0.01):
    a, b = {}, {}
    for i in range(n_langs):  # independent test sets of different sizes
        p = _probs(rng, n_examples + 7 * i)
        a[f"l{i}"] = _scores(rng, np.clip(p + effect, 0, 1), rng.normal(0, seed_sd, n_seeds))
        b[f"l{i}"] = _scores(rng, p, rng.normal(0, seed_sd, n_seeds))
    return a, b


def test_paired_difference_recovers_a_planted_effect():
    a, b = _pair(np.random.default_rng(20), effect=0.08, n_examples=400)
    r = stats.paired_difference(a, b, n_boot=2000, n_perm=2000, rng=0)
    assert r.low < 0.08 < r.high and r.low > 0
    assert r.diff == pytest.approx(0.08, abs=0.03)
    assert r.p_value < 0.001 and r.cohens_d > 0.1
    assert (r.n_languages, r.seeds_a, r.seeds_b, r.paired_seeds) == (3, 5, 5, False)
    one = stats.paired_difference(a["l0"], b["l0"], n_boot=500, n_perm=500, rng=0)  # one language
    assert one.n_languages == 1 and one.n_examples == 400 and one.diff > 0


def test_permutation_false_positive_rate_is_near_alpha():
    rng, n_sim, rejected, covered = np.random.default_rng(21), 2000, 0, 0
    for _ in range(n_sim):  # no effect: 3 languages x 5 paired seeds x ~100 examples
        a, b = _pair(rng, effect=0.0)
        r = stats.paired_difference(a, b, n_boot=200, n_perm=500, rng=rng, paired_seeds=True)
        rejected += r.p_value < 0.05
        covered += r.low <= 0 <= r.high
    assert 0.03 <= rejected / n_sim <= 0.07
    assert 0.92 <= covered / n_sim <= 0.97  # n_boot=200: coarser percentile ends


def test_paired_difference_checks_its_inputs():
    a, b = np.ones((2, 10)), np.zeros((3, 10))
    with pytest.raises(ValueError, match="equal seed counts"):
        stats.paired_difference(a, b, paired_seeds=True)
    with pytest.raises(ValueError, match="examples"):
        stats.paired_difference(np.ones(10), np.ones(11))
    with pytest.raises(ValueError, match="no language"):
        stats.paired_difference({"x": a}, {"y": b})
    same = stats.paired_difference(np.ones((2, 10)), np.ones((2, 10)), n_boot=50, n_perm=50, rng=0)
    assert same.diff == 0 and same.p_value == 1 and np.isnan(same.cohens_d)


# -- corpus-level ratios (token accuracy, chunk F1) stored as per-sentence counts ---------------------

def _sentences(rng, n, p):
    """n sentences of 2-40 tokens, each token right with a sentence-level probability around p."""
    tokens = rng.integers(2, 41, n)
    q = np.clip(p + rng.normal(0, 0.15, n), 0, 1)  # sentences differ in difficulty: tokens are not independent
    return rng.binomial(tokens, q), tokens


def test_linearised_scores_average_to_the_corpus_ratio():
    rng = np.random.default_rng(0)
    correct, tokens = _sentences(rng, 300, 0.7)
    y = stats.linearised(correct, tokens)
    assert y.shape == (300,) and y.mean() == pytest.approx(correct.sum() / tokens.sum(), abs=1e-12)
    assert stats.linearised([0, 0], [0, 0]).tolist() == [0.0, 0.0]  # an empty corpus scores 0, as seqeval


def test_ratio_interval_resamples_sentences_and_covers_the_corpus_ratio():
    """95 % intervals of a token accuracy over 200 sentences (one seed): coverage of the population ratio over 400
    simulated test sets is nominal, and the interval is as wide as the sentence-level bootstrap of the ratio
    itself (resampling tokens as if independent would be narrower)."""
    rng = np.random.default_rng(1)
    pop_c, pop_t = _sentences(rng, 200_000, 0.7)
    truth = pop_c.sum() / pop_t.sum()
    hits, widths, direct = 0, [], []
    for _ in range(400):
        idx = rng.integers(0, len(pop_t), 200)
        c, t = pop_c[idx], pop_t[idx]
        ci = stats.bootstrap_mean_ci(stats.linearised(c, t), n_boot=1000, rng=rng)
        hits += ci.low <= truth <= ci.high
        widths.append(ci.high - ci.low)
        if len(direct) < 20:
            draws = rng.integers(0, 200, (1000, 200))
            ratio = c[draws].sum(1) / t[draws].sum(1)
            direct.append(np.subtract(*np.percentile(ratio, [97.5, 2.5])))
    assert 0.92 <= hits / 400 <= 0.98
    assert np.mean(widths[:20]) == pytest.approx(np.mean(direct), rel=0.1)


def test_per_sentence_counts_become_one_score_per_sentence_for_the_analysis():
    from xlt.analysis.families import per_example_scores
    from xlt.metrics import seqeval_f1

    refs = [["B-PER", "I-PER", "O"], ["B-LOC", "O"], ["O", "B-ORG"]]
    preds = [["B-PER", "I-PER", "O"], ["B-PER", "O"], ["O", "O"]]
    r = seqeval_f1(refs, preds)
    y = per_example_scores("f1", r.stats.tolist())
    assert len(y) == 3 and y.mean() == pytest.approx(r.f1)
    assert per_example_scores("accuracy", [[2, 3], [1, 4]]).mean() == pytest.approx(3 / 7)  # udpos token accuracy
    assert per_example_scores("accuracy", [1, 0, 1]).tolist() == [1.0, 0.0, 1.0]  # classification: as stored
    assert per_example_scores("macro_f1", [[0, 1], [1, 1]]) is None  # label pairs are not a ratio
