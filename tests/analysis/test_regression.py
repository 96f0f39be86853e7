"""The condition x distance interaction regression (xlt.analysis.regression) on simulated data with known
truth: a planted interaction is recovered, and with none planted the 95 % interval excludes zero at about
the nominal rate.

Simulation: L languages with a syntactic and a genetic distance and a resource class; the true A - B
difference of language l is 0.05 + b (syntactic_l - 0.5) + 0.01 (resource_l - 2.5) + u_l with a language
deviation u_l ~ N(0, 0.03) that the predictors do not explain; per-example 0/1 scores on 150 examples per
language, 3 paired seeds each shifting all languages of a run by N(0, 0.01). Everything is seeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlt import languages
from xlt.analysis import regression, stats


def _simulate(rng, b_true, n_lang=30, n=150, seeds=3, sd_lang=0.03):
    x = pd.DataFrame({"syntactic": rng.uniform(0.2, 0.8, n_lang), "genetic": rng.uniform(0.5, 1.0, n_lang),
                      "resource": rng.integers(0, 6, n_lang).astype(float)}, index=[f"l{i:02d}" for i in range(n_lang)])
    d = 0.05 + b_true * (x["syntactic"] - 0.5) + 0.01 * (x["resource"] - 2.5) + rng.normal(0, sd_lang, n_lang)
    base = rng.uniform(0.45, 0.75, n_lang)
    shift_a, shift_b = rng.normal(0, 0.01, seeds), rng.normal(0, 0.01, seeds)
    ya, yb = {}, {}
    for i, lang in enumerate(x.index):
        pa = np.clip(base[i] + d.iloc[i] / 2 + shift_a[:, None], 0, 1)
        pb = np.clip(base[i] - d.iloc[i] / 2 + shift_b[:, None], 0, 1)
        ya[lang] = (rng.random((seeds, n)) < pa).astype(float)
        yb[lang] = (rng.random((seeds, n)) < pb).astype(float)
    return ya, yb, x


def test_planted_interaction_is_recovered():
    rng, covered, excluded = np.random.default_rng(1), 0, 0
    for _ in range(30):
        ya, yb, x = _simulate(rng, b_true=0.25)
        c = regression.fit(ya, yb, x, n_boot=400, rng=rng, paired=True)["coefficients"].loc["syntactic"]
        covered += c.ci_low <= 0.25 <= c.ci_high
        excluded += c.ci_low > 0
    assert covered >= 26  # 95 % intervals: 28.5 of 30 expected
    assert excluded >= 24  # power to see a 25-point-per-unit interaction with 30 languages


def test_no_planted_interaction_rejects_at_the_nominal_rate():
    rng, rejected = np.random.default_rng(2), 0
    for _ in range(200):
        ya, yb, x = _simulate(rng, b_true=0.0)
        c = regression.fit(ya, yb, x, n_boot=400, rng=rng, paired=True)["coefficients"].loc["syntactic"]
        rejected += not (c.ci_low <= 0 <= c.ci_high)
    # 200 datasets at alpha = 0.05: 10 expected; binomial 99 % range 3..19
    assert 3 <= rejected <= 19, rejected


def test_without_the_language_term_the_interval_would_be_too_narrow():
    # the between-language term is what lets the interval speak about languages: the example + seed bootstrap
    # alone (languages fixed) rejects a true null far too often when languages deviate from the fitted line
    rng, naive, full = np.random.default_rng(3), 0, 0
    for _ in range(60):
        ya, yb, x = _simulate(rng, b_true=0.0, sd_lang=0.06)
        full += not (lambda c: c.ci_low <= 0 <= c.ci_high)(
            regression.fit(ya, yb, x, n_boot=400, rng=rng, paired=True)["coefficients"].loc["syntactic"])
        hat = np.linalg.pinv(np.column_stack([np.ones(len(x)), x.to_numpy(float)]))
        cells = regression._cells(ya, yb, hat[1], list(x.index), paired=True)
        lo, hi = np.quantile(hat[1] @ np.array([ya[l].mean() - yb[l].mean() for l in x.index])
                             - np.mean(reps := stats.replicates(cells, 400, rng, "t")) + reps, [0.025, 0.975])
        naive += not (lo <= 0 <= hi)
    assert naive >= 10, naive  # languages fixed: 14 of 60 here; P(>= 10 | nominal 5 %) = 0.002
    assert full <= 8, full  # 3 expected


def _registry_languages(k=24):
    out = []
    for lang in languages.all_languages():
        d = languages.distances_to(lang.iso3)
        if lang.resource is not None and all(np.isfinite(d[n]) for n in regression.DISTANCES) and lang.iso3 != "eng":
            out.append(lang.iso3)
    return out[:k]


def _examples(langs, b_true, rng, n=120):
    rows = []
    syn = {l: languages.distances_to(l)["syntactic"] for l in langs}
    for seed in (1, 2, 3):
        for lang in langs + ["eng_Latn", "nah"]:
            d = 0.05 + b_true * (syn.get(lang, 0.3) - 0.3)
            for model, sign in (("xlmr", 0.5), ("mbert", -0.5)):
                rows.append({"task": "sib200", "model": model, "method": "finetune", "intermediate": "none", "protocol": "zero-shot",
                             "language": lang, "seed": seed, "metric": "accuracy",
                             "scores": (rng.random(n) < 0.6 + sign * d).astype(float)})
    return pd.DataFrame(rows)


def test_interaction_regression_end_to_end_on_registry_languages():
    langs = _registry_languages()
    out = regression.interaction_regression(_examples(langs, 0.6, np.random.default_rng(4)), {"model": "xlmr"},
                                            {"model": "mbert"}, n_boot=300)
    (r,) = out
    assert r["ok"], r.get("message")
    assert r["paired"] and r["seeds"] == (3, 3) and r["n_languages"] == len(langs)
    assert list(r["coefficients"].index) == ["intercept", *regression.DISTANCES, "resource"]
    syn = r["coefficients"].loc["syntactic"]
    assert syn.ci_low > 0, "planted: xlmr's advantage grows by 60 points per unit of syntactic distance"
    assert any("nah" in n for n in r["notes"]), "Nahuatl has no URIEL distances: dropped, and said so"
    assert "eng_Latn" not in r["data"].index
    assert "between-language" in r["coverage"] and "3 seed(s) of A" in r["coverage"]
    assert "not a causal effect" in r["claim"]


def test_too_few_languages_is_a_message_not_an_error():
    langs = _registry_languages(5)
    (r,) = regression.interaction_regression(_examples(langs, 0.0, np.random.default_rng(5)), {"model": "xlmr"},
                                             {"model": "mbert"}, n_boot=200)
    assert not r["ok"] and "too few languages" in r["message"]


def test_joint_replicates_match_separate_ones_in_distribution():
    # one shared resample for all coefficients gives each coefficient the distribution `replicates` gives it
    ya, yb, x = _simulate(np.random.default_rng(6), 0.2)
    hat = np.linalg.pinv(np.column_stack([np.ones(len(x)), x.to_numpy(float)]))
    sets = [regression._cells(ya, yb, hat[j], list(x.index), paired=True) for j in range(len(hat))]
    joint = stats.joint_replicates(sets, 4000, 0)
    for j, cells in enumerate(sets):
        alone = stats.replicates(cells, 4000, j + 1)
        assert np.mean(joint[j]) == pytest.approx(np.mean(alone), abs=0.2 * np.std(alone))
        assert np.std(joint[j]) == pytest.approx(np.std(alone), rel=0.08)
