"""Bootstrap intervals, paired tests and Holm's correction for per-example scores; the one mean/std/n
aggregate over seeds.

Data: one (condition, language) *cell* is a matrix Y of shape (seeds, examples): row s holds the
per-example scores (0/1 correctness, or per-example F1) of the run with seed s, in test-set order.
Seeds of a condition share the test set (columns line up); one run scores every language, so the
rows of one condition's languages are the same runs. Every statistic here is a weighted sum of cell
means, T = sum_k w_k mean(Y_k): a language mean (w = 1), a family mean (w = 1/L per language), the
transfer gap (source +1, each of the L family languages -1/L), a paired difference (A +w, B -w).

Bootstrap (one replicate)
  1. Examples: average each cell over its seeds, z_k[j] = mean_s Y_k[s, j], and add up the
     weighted z of the cells that share a test set (one *example group*: one language's test set;
     all languages when the test sets are parallel; A and B on the same language). Draw C example
     indices with replacement per group, the same indices for all cells of the group, independent
     draws for independent test sets; take the mean of the drawn z.
  2. Seeds: per *seed group* (cells whose rows are the same runs: one condition's languages, or
     A - B when their seeds match) take the per-seed statistic t[s] = sum_k w_k mean_j Y_k[s, j].
     Its variance is var_seed + MS_E / C, where MS_E (two-way ANOVA residual of the seeds x examples
     matrix) is the example x seed noise that step 1 already counts, so the seed variance is
     v = max(0, var(t) - MS_E / C). seed_draw="t" (default) adds sqrt(v / S) * t_{S-1}, a Student-t
     draw; seed_draw="resample" adds the mean of S seeds drawn with replacement from the centred t
     rescaled to variance v (a reflated-residual bootstrap for a crossed random-effects design).
  Replicate = (1) + (2); the interval is the percentile interval of the replicates.

Why: resampling rows and columns of the raw matrix together (Owen's 2007 'pigeonhole' bootstrap)
counts the example x seed noise three times, and with 0/1 scores that noise is large (simulated:
intervals 15-30 % too wide, coverage 0.975-0.99). Resampling 3-5 seeds gives a light-tailed seed term that ignores that v is
estimated from S - 1 df; the t draw turns into the t interval when seeds dominate and vanishes when
examples dominate. With one seed there is no seed term: the interval covers only the test-example
sampling. Simulated coverage of 95 % intervals (0/1 scores): 0.95 with 1 seed; about 0.965 with 3-5
seeds and no seed variance (the truncated estimate v is then sometimes positive); 0.94-0.96 with 5
seeds at a seed SD of 1-2 points and 300 examples; 0.90-0.94 with 3-5 seeds, 1000 examples and a
seed SD of 2-3 points (resampling seeds instead: 0.85-0.93), where tests are liberal too.

Paired test: the per-example paired differences z (seed-averaged, step 1) get random signs (swap A
and B on that example; one sign per example of a parallel test set), plus the seed term of step 2,
so seed-to-seed variability is part of the null; with one seed per condition this is the exact
sign-flip test conditional on the trained models.
p-value resolution (so that Holm over many rows can reject):
  - exact: with one seed per condition (no seed term) and at most 16 examples in all (2^16 sign
    patterns), every pattern is enumerated: p = #{|T| >= |T0|} / 2^C, smallest p = 2 / 2^C.
  - Monte Carlo otherwise, with at most B sign-flip draws and Besag & Clifford's (1991) sequential
    stopping: draws stop once h = 20 draws reached |T0| (p = h / draws: large p are cheap), else
    p = (1 + #{|T| >= |T0|}) / (1 + B), smallest p = 1 / (1 + B). `permutations_for(m, alpha)` is the
    B for m tests: 1 / (1 + B) <= alpha / (20 m), 20x finer than Holm's strictest threshold alpha / m.
  `Paired` reports the method, the draws used and the smallest attainable p.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
import math
from typing import NamedTuple

import numpy as np

_CHUNK = 4_000_000  # resampled values held in memory at once (32 MB of float64)
EXACT_MAX_EXAMPLES = 16  # enumerate all 2^C sign patterns up to 2^16 of them
SEQUENTIAL_EXCEEDANCES = 20  # Besag-Clifford h: stop drawing once this many draws reached |T0|
MAX_PERMUTATIONS = 200_000  # cap of permutations_for (smallest p 5e-6: Holm over 500 rows at alpha 0.05)


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Paired:
    """Condition A minus condition B: estimate, percentile CI, permutation p, Cohen's d_z."""

    diff: float
    low: float
    high: float
    p_value: float
    cohens_d: float
    n_languages: int
    n_examples: int
    seeds_a: int
    seeds_b: int
    paired_seeds: bool
    p_min: float = float("nan")  # smallest p this test could give (its resolution)
    n_perm: int = 0  # sign-flip draws used (exact: patterns enumerated)
    p_method: str = ""  # "exact" | "monte-carlo"


@dataclass(frozen=True)
class _Cell:
    y: np.ndarray  # seeds x examples
    w: float
    seeds: object  # cells with equal keys are the same runs (rows line up)
    examples: object  # cells with equal keys share the test examples (columns line up)


def as_matrix(scores) -> np.ndarray:
    """A seeds x examples float matrix from a 2-D array, a list of per-seed arrays, or one 1-D array."""
    if isinstance(scores, (list, tuple)) and scores and np.ndim(scores[0]) == 1:
        lengths = {len(s) for s in scores}
        if len(lengths) > 1:
            raise ValueError(f"seeds must share the test set; got per-seed lengths {sorted(lengths)}")
    y = np.asarray(scores, dtype=float)
    y = y[None, :] if y.ndim == 1 else y
    if y.ndim != 2 or y.size == 0:
        raise ValueError(f"expected seeds x examples scores, got shape {y.shape}")
    if np.isnan(y).any():
        raise ValueError("per-example scores contain NaN")
    return y


def linearised(numerator, denominator) -> np.ndarray:
    """Per-example scores of a corpus-level ratio R = sum(num) / sum(den) (token accuracy, chunk F1), so that a
    ratio fits the weighted-mean statistics here: y_i = R + (num_i - R den_i) / mean(den), the delta-method
    linearisation (Taylor residuals). mean(y) = R exactly, and resampling y resamples whole sentences with the
    ratio's first-order variance (a sentence's tokens stay together). R = 0 where sum(den) = 0 (seqeval's rule)."""
    num, den = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    total = den.sum()
    if total <= 0:
        return np.zeros_like(num)
    r = num.sum() / total
    return r + (num - r * den) / den.mean()


def _rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _groups(cells: list[_Cell], key: str) -> dict:
    out: dict = {}
    for c in cells:
        out.setdefault(getattr(c, key), []).append(c)
    return out


def _example_sums(cells: list[_Cell]) -> list[np.ndarray]:
    """Step 1: one weighted, seed-averaged per-example vector per example group."""
    out = []
    for members in _groups(cells, "examples").values():
        if len({c.y.shape[1] for c in members}) > 1:
            raise ValueError("cells that share test examples must have the same number of examples")
        out.append(sum(c.w * c.y.mean(0) for c in members))
    return out


def _ms_error(m: np.ndarray) -> float:
    """Residual mean square of a two-way (seeds x examples) ANOVA without replication."""
    s, c = m.shape
    if s < 2 or c < 2:
        return 0.0
    r = m - m.mean(1, keepdims=True) - m.mean(0) + m.mean()
    return float((r**2).sum() / ((s - 1) * (c - 1)))


def _seed_deviations(cells: list[_Cell]) -> list[np.ndarray]:
    """Step 2: per seed group, centred per-seed statistics rescaled to the seed variance."""
    out = []
    for members in _groups(cells, "seeds").values():
        if len({c.y.shape[0] for c in members}) > 1:
            raise ValueError("cells of one seed group must have the same seeds")
        if members[0].y.shape[0] < 2:
            continue
        t = sum(c.w * c.y.mean(1) for c in members)
        noise = sum(_ms_error(sum(c.w * c.y for c in sub)) / sub[0].y.shape[1]
                    for sub in _groups(members, "examples").values())
        dev = t - t.mean()
        spread = float(np.mean(dev**2))
        var_seed = max(0.0, float(np.var(t, ddof=1)) - noise)
        out.append(dev * np.sqrt(var_seed / spread) if spread > 0 else dev)
    return out


def _draw(x: np.ndarray, n: int, rng: np.random.Generator, signs: bool = False) -> np.ndarray:
    """n bootstrap means of x (or means of x with random signs), in memory-bounded chunks."""
    out, c = np.empty(n), len(x)
    step = max(1, _CHUNK // c)
    for i in range(0, n, step):
        k = min(step, n - i)
        if signs:
            out[i:i + k] = x @ (rng.integers(0, 2, (k, c), dtype=np.int8) * 2.0 - 1.0).T / c
        else:
            out[i:i + k] = x[rng.integers(0, c, (k, c), dtype=np.int32)].mean(1)
    return out


def _seed_term(cells: list[_Cell], n: int, rng: np.random.Generator, seed_draw: str) -> np.ndarray:
    if seed_draw not in ("t", "resample"):
        raise ValueError(f"seed_draw must be 't' or 'resample', not {seed_draw!r}")
    out = np.zeros(n)
    for d in _seed_deviations(cells):  # len(d) = S >= 2 seeds, mean(d**2) = seed variance
        if seed_draw == "t":
            out += np.sqrt(np.mean(d**2) / len(d)) * rng.standard_t(len(d) - 1, n)
        else:
            out += _draw(d, n, rng)
    return out


def replicates(cells: list[_Cell], n_boot: int, rng, seed_draw: str = "t") -> np.ndarray:
    """n_boot bootstrap replicates of T = sum_k w_k mean(Y_k): steps 1 (examples) + 2 (seeds)."""
    rng = _rng(rng)
    return sum(_draw(z, n_boot, rng) for z in _example_sums(cells)) + _seed_term(cells, n_boot, rng, seed_draw)


def joint_replicates(cell_sets: list[list[_Cell]], n_boot: int, rng, seed_draw: str = "t") -> np.ndarray:
    """`replicates` of several statistics over the same cells with different weights (k x n_boot), sharing
    every random draw: one example resample per example group and one t variate per seed group serve all k
    statistics (the marginal distribution of each row is that of `replicates`; k resamples cost one)."""
    rng = _rng(rng)
    if seed_draw != "t":
        return np.vstack([replicates(c, n_boot, rng, seed_draw) for c in cell_sets])
    out = np.zeros((len(cell_sets), n_boot))
    groups = [list(_groups(c, "examples").values()) for c in cell_sets]  # same cells, same order; weights differ
    for g, members in enumerate(groups[0]):
        means = np.vstack([c.y.mean(0) for c in members])  # cells x C: the seed-averaged examples
        weights = np.array([[c.w for c in gs[g]] for gs in groups])  # statistics x cells
        # resample whichever is smaller: the cells' vectors (then weight) or the statistics' sums z
        base, coef = (means, weights) if len(members) <= len(cell_sets) else (weights @ means, None)
        c = base.shape[1]
        step = max(1, _CHUNK // (c * len(base)))
        for i in range(0, n_boot, step):
            k = min(step, n_boot - i)
            drawn = base[:, rng.integers(0, c, (k, c), dtype=np.int32)].mean(-1)
            out[:, i:i + k] += drawn if coef is None else coef @ drawn
    devs = [_seed_deviations(c) for c in cell_sets]  # per statistic: one deviation vector per seed group
    for g in range(len(devs[0])):
        t = rng.standard_t(len(devs[0][g]) - 1, n_boot)
        out += np.array([np.sqrt(np.mean(d[g] ** 2) / len(d[g])) for d in devs])[:, None] * t
    return out


def measurement_variance(cells: list[_Cell]) -> float:
    """Variance of T that steps 1 + 2 draw: per example group var(z) / C, plus per seed group the seed
    variance / S (xlt.analysis.regression subtracts it from the residual variance across languages)."""
    examples = sum(float(np.var(z)) / len(z) for z in _example_sums(cells))
    return examples + sum(float(np.mean(d**2)) / len(d) for d in _seed_deviations(cells))


def _interval(cells: list[_Cell], n_boot: int, alpha: float, rng, seed_draw: str) -> Interval:
    est = float(sum(c.w * c.y.mean() for c in cells))
    lo, hi = np.quantile(replicates(cells, n_boot, rng, seed_draw), [alpha / 2, 1 - alpha / 2])
    return Interval(est, float(lo), float(hi))


class PValue(NamedTuple):
    p: float
    p_min: float  # smallest attainable p
    draws: int
    method: str  # "exact" | "monte-carlo"


def permutations_for(m: int, alpha: float = 0.05, minimum: int = 2000) -> int:
    """Sign-flip draws for m tests: smallest p 1 / (1 + B) <= alpha / (20 m), at least `minimum`, at most
    MAX_PERMUTATIONS (sequential stopping keeps rows with large p cheap)."""
    return int(min(MAX_PERMUTATIONS, max(minimum, math.ceil(20 * max(m, 1) / alpha))))


def _exact_p(zs: list[np.ndarray], est: float) -> PValue:
    """Every sign pattern of the concatenated example groups (no seed term)."""
    c = sum(len(z) for z in zs)
    patterns = ((np.arange(2**c)[:, None] >> np.arange(c)) & 1) * 2.0 - 1.0
    null, start = np.zeros(2**c), 0
    for z in zs:
        null += patterns[:, start:start + len(z)] @ z / len(z)
        start += len(z)
    p = float(np.mean(np.abs(null) >= abs(est) - 1e-12))
    return PValue(p, 2.0 / 2**c, 2**c, "exact")


def _permutation_p(cells: list[_Cell], est: float, n_perm: int, rng, seed_draw: str) -> PValue:
    """Two-sided p: random signs on the per-example differences plus the seed term (see module docstring)."""
    zs = _example_sums(cells)
    if not _seed_deviations(cells) and sum(len(z) for z in zs) <= EXACT_MAX_EXAMPLES:
        return _exact_p(zs, est)
    hits, drawn, batch = 0, 0, min(n_perm, 2000)
    while drawn < n_perm:
        k = min(batch, n_perm - drawn)
        null = sum(_draw(z, k, rng, signs=True) for z in zs) + _seed_term(cells, k, rng, seed_draw)
        exceed = np.abs(null) >= abs(est) - 1e-12
        if hits + exceed.sum() >= SEQUENTIAL_EXCEEDANCES:  # Besag-Clifford: stop at the h-th exceedance
            at = int(np.flatnonzero(exceed)[SEQUENTIAL_EXCEEDANCES - hits - 1]) + 1
            return PValue(SEQUENTIAL_EXCEEDANCES / (drawn + at), 1 / (1 + n_perm), drawn + at, "monte-carlo")
        hits, drawn, batch = hits + int(exceed.sum()), drawn + k, batch * 2
    return PValue((1 + hits) / (1 + n_perm), 1 / (1 + n_perm), n_perm, "monte-carlo")


def bootstrap_mean_ci(per_seed_example_scores, n_boot: int = 2000, alpha: float = 0.05, rng=None,
                      seed_draw: str = "t") -> Interval:
    """Mean score over seeds and test examples with a two-level (examples, seeds) percentile CI."""
    return _interval([_Cell(as_matrix(per_seed_example_scores), 1.0, 0, 0)], n_boot, alpha, rng, seed_draw)


def _language_cells(langs: Mapping, weight: float, seeds: object, parallel: bool) -> list[_Cell]:
    return [_Cell(as_matrix(y), weight, seeds, 0 if parallel else lang) for lang, y in langs.items()]


def cell(y, w: float, seeds: object, examples: object) -> _Cell:
    """One weighted (condition, language) cell of a statistic sum_k w_k mean(Y_k) for `replicates`: y is seeds x
    examples; cells with equal `seeds` keys are the same runs, with equal `examples` keys the same test examples."""
    return _Cell(as_matrix(y), w, seeds, examples)


def is_parallel(*matrices: np.ndarray) -> bool:
    """Whether matrices are taken as parallel test sets (same number of examples: see `_is_parallel`)."""
    return _is_parallel(None, *matrices)


def _is_parallel(parallel: bool | None, *matrices: np.ndarray) -> bool:
    """Parallel test sets (translations) share example indices; by default assumed when all
    languages have the same number of examples (harmless for independent sets of equal size)."""
    return parallel if parallel is not None else len({m.shape[1] for m in matrices}) == 1


def family_mean_ci(languages: Mapping[str, object], n_boot: int = 2000, alpha: float = 0.05, rng=None,
                   parallel: bool | None = None, seed_draw: str = "t") -> Interval:
    """Unweighted mean of the languages' mean scores (one condition; rows are the same seeds)."""
    mats = {l: as_matrix(y) for l, y in languages.items()}
    if not mats:
        raise ValueError("no languages")
    cells = _language_cells(mats, 1 / len(mats), 0, _is_parallel(parallel, *mats.values()))
    return _interval(cells, n_boot, alpha, rng, seed_draw)


def gap_ci(source, languages: Mapping[str, object], n_boot: int = 2000, alpha: float = 0.05, rng=None,
           parallel: bool | None = None, seed_draw: str = "t") -> Interval:
    """Transfer gap: source-language mean minus the unweighted mean of `languages` (same runs)."""
    mats = {l: as_matrix(y) for l, y in languages.items()}
    if not mats:
        raise ValueError("no languages")
    src = as_matrix(source)
    par = _is_parallel(parallel, src, *mats.values())
    cells = [_Cell(src, 1.0, 0, 0 if par else "\0source")] + _language_cells(mats, -1 / len(mats), 0, par)
    return _interval(cells, n_boot, alpha, rng, seed_draw)


def paired_difference(a, b, n_boot: int = 2000, n_perm: int = 2000, alpha: float = 0.05, rng=None,
                      parallel: bool | None = None, paired_seeds: bool = False, seed_draw: str = "t") -> Paired:
    """A minus B on the same test examples: one language (seeds x examples scores) or a family
    (mapping language -> scores; the unweighted mean over languages of the per-language differences).

    paired_seeds: rows of A and B are the same seeds in the same order; differences are then taken
    per seed (needs equal seed counts). Otherwise the seed terms of A and B are independent.
    Cohen's d is d_z on per-example paired differences of seed-averaged scores: mean difference over
    their SD (for a family, the root mean of the languages' variances); it ignores seed variance.
    """
    a, b = (x if isinstance(x, Mapping) else {"": x} for x in (a, b))
    langs = [l for l in a if l in b]
    if not langs:
        raise ValueError("A and B share no language")
    ya, yb = {l: as_matrix(a[l]) for l in langs}, {l: as_matrix(b[l]) for l in langs}
    for l in langs:
        if ya[l].shape[1] != yb[l].shape[1]:
            raise ValueError(f"{l or 'scores'}: A has {ya[l].shape[1]} examples, B {yb[l].shape[1]}")
    sa, sb = ya[langs[0]].shape[0], yb[langs[0]].shape[0]
    if paired_seeds and sa != sb:
        raise ValueError(f"paired_seeds needs equal seed counts, got {sa} and {sb}")
    w, par = 1 / len(langs), _is_parallel(parallel, *ya.values())
    if paired_seeds:
        cells = _language_cells({l: ya[l] - yb[l] for l in langs}, w, "ab", par)
    else:
        cells = _language_cells(ya, w, "a", par) + _language_cells(yb, -w, "b", par)
    rng = _rng(rng)
    ci = _interval(cells, n_boot, alpha, rng, seed_draw)
    p = _permutation_p(cells, ci.estimate, n_perm, rng, seed_draw)
    diffs = [ya[l].mean(0) - yb[l].mean(0) for l in langs]
    sd = np.sqrt(np.mean([np.var(d, ddof=1) if len(d) > 1 else np.nan for d in diffs]))
    d = ci.estimate / sd if sd > 0 else float("nan")
    return Paired(ci.estimate, ci.low, ci.high, p.p, float(d), len(langs),
                  sum(len(x) for x in diffs), sa, sb, paired_seeds, p.p_min, p.draws, p.method)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (statsmodels' `multipletests`); NaN is no test and stays NaN."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


class MeanStd(NamedTuple):
    mean: float
    std: float  # sample std (ddof=1); 0.0 for one value
    n: int


def mean_std(xs) -> MeanStd:
    """Mean, sample std and count of per-seed values (NaN, NaN, 0 for none): every 'mean ± std over
    seeds' in xlt's tables comes from here."""
    xs = list(xs)
    if not xs:
        return MeanStd(float("nan"), float("nan"), 0)
    return MeanStd(float(np.mean(xs)), float(np.std(xs, ddof=1)) if len(xs) > 1 else 0.0, len(xs))
