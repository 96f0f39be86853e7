"""p-value resolution of the paired sign-flip test: exact enumeration for small tests, enough Monte Carlo
draws for the number of tests (with sequential stopping), and Holm that can reject with many rows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from xlt.analysis import stats


def test_exact_enumeration_when_patterns_are_few():
    a, b = np.ones(10), np.zeros(10)  # one seed, A right on all 10 examples, B wrong
    r = stats.paired_difference(a, b, n_boot=200, rng=0)
    assert r.p_method == "exact" and r.n_perm == 2**10
    assert r.p_value == pytest.approx(2 / 2**10) and r.p_min == pytest.approx(2 / 2**10)


def test_exact_p_equals_brute_force():
    rng = np.random.default_rng(3)
    a, b = (rng.random(12) < 0.7).astype(float), (rng.random(12) < 0.4).astype(float)
    z, t0 = a - b, np.mean(a - b)
    brute = np.mean([abs(np.dot(s, z)) / 12 >= abs(t0) - 1e-12 for s in itertools.product([-1, 1], repeat=12)])
    r = stats.paired_difference(a, b, n_boot=200, rng=0)
    assert r.p_method == "exact" and r.p_value == pytest.approx(brute)


def test_permutations_for_is_fine_enough_for_holm():
    for m in (1, 10, 100, 400):
        b = stats.permutations_for(m, 0.05)
        assert 1 / (1 + b) <= 0.05 / (20 * m)
    assert stats.permutations_for(10**6) == stats.MAX_PERMUTATIONS
    assert stats.permutations_for(1) == 2000  # never fewer than the old default


def _pair(rng, p_a, p_b, n=300, seeds=3):
    base = rng.random((seeds, n))
    return (base < p_a).astype(float), (rng.random((seeds, n)) < p_b).astype(float)


def test_holm_can_reject_a_strong_effect_among_many_tests():
    m, rng = 120, np.random.default_rng(11)
    b_needed = stats.permutations_for(m)
    pairs = [_pair(rng, 0.9, 0.5)] + [_pair(rng, 0.6, 0.6) for _ in range(m - 1)]
    fine = [stats.paired_difference(a, b, n_boot=100, n_perm=b_needed, rng=i, paired_seeds=True)
            for i, (a, b) in enumerate(pairs)]
    assert fine[0].p_value <= fine[0].p_min + 1e-15 < 0.05 / m  # no draw reached the strong effect
    assert stats.holm([r.p_value for r in fine])[0] < 0.05
    # nulls stop early (sequential): far fewer draws than the resolution allows
    assert np.median([r.n_perm for r in fine[1:]]) < b_needed / 10
    # with the old fixed 2,000 draws the same effect cannot survive Holm over 120 rows
    coarse = stats.paired_difference(*pairs[0], n_boot=100, n_perm=2000, rng=0, paired_seeds=True)
    assert coarse.p_value == pytest.approx(1 / 2001)
    assert stats.holm([coarse.p_value] + [r.p_value for r in fine[1:]])[0] > 0.05


def test_sequential_p_values_are_uniform_under_the_null():
    # continuous per-example scores (like per-sentence F1), so the test is not conservative through ties
    rng, ps = np.random.default_rng(5), []
    for i in range(300):
        ps.append(stats.paired_difference(rng.random(60), rng.random(60), n_boot=100, n_perm=5000, rng=i).p_value)
    ps = np.array(ps)
    # 300 null tests: 15 expected at p <= 0.05 and 30 at p <= 0.10 (binomial 99.9 % ranges 4..29 and 14..49)
    assert 4 <= np.sum(ps <= 0.05) <= 29 and 14 <= np.sum(ps <= 0.10) <= 49
    assert 0.44 < ps.mean() < 0.56
