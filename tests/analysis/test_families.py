"""Family tables, paired comparisons and the gap regression on a small simulated results DB.

Runs are written through `Store.start_run` / `Store.finish_run` like the study runner does and read
back through the store's frames (`example_frame`, `scores_frame`), as `xlt families` does; the
language registry is replaced by a fake (monkeypatch), so these tests do not depend on its data.
Planted: model "xlmr" is 15 points better than "mbert" on the Alpha family only.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import xlt.languages
from xlt.analysis import families
from xlt.errors import XltError
from xlt.store.db import Store

SOURCE = "eng_Latn"  # sib200's source language: the default source lookup must find it
FAMILY = {"aaa_Latn": "Alpha", "aab_Latn": "Alpha", "aac_Cyrl": "Alpha", "baa_Latn": "Beta",
          "bab_Arab": "Beta", "bac_Latn": "Beta", "gaa_Deva": "Gamma", "gab_Latn": "Gamma", SOURCE: "Germanic"}
UNKNOWN = "qqq_Zzzz"  # the registry does not know it
EFFECT = 0.15


@pytest.fixture
def registry(monkeypatch):
    """Fake `xlt.languages`: families from FAMILY, distances from `distances` (tests fill it)."""
    distances: dict[str, dict] = {}

    def lookup(code):
        if code not in FAMILY:
            raise KeyError(code)
        return SimpleNamespace(family=FAMILY[code], genus="g", script=code[-4:], name=code, iso3=code[:3])

    def distances_to(code):
        return distances[code]["d"]

    def same_script_as(code):
        return distances[code]["same"]

    for name, fn in [("lookup", lookup), ("distances_to", distances_to), ("same_script_as", same_script_as)]:
        monkeypatch.setattr(xlt.languages, name, fn, raising=False)
    return distances


def _write_run(store, study, model, seed, scores: dict[str, np.ndarray], task="sib200"):
    run_id = f"{study}-{model}-{task}-{seed}"
    store.start_run(run_id, {"study": study, "model": model, "task": task, "method": "finetune",
                             "intermediate": "none", "seed": seed})
    rows = [{"language": l, "split": "test", "metric": "accuracy", "value": float(np.mean(v)), "n": len(v)}
            for l, v in scores.items()]
    per_example = [{"language": l, "metric": "accuracy", "values": np.asarray(v).astype(int).tolist()}
                   for l, v in scores.items() if len(v)]
    store.finish_run(run_id, rows, per_example, {})


@pytest.fixture
def store(tmp_path):
    """2 models x 5 seeds; 8 target languages in 3 families + one unknown; independent test sets."""
    store, rng = Store(str(tmp_path / "results.sqlite")), np.random.default_rng(0)
    langs = [l for l in FAMILY if l != SOURCE] + [UNKNOWN]
    probs = {l: rng.uniform(0.35, 0.85, 300 + 20 * i) for i, l in enumerate(langs)}
    probs[SOURCE] = rng.uniform(0.7, 0.95, 250)
    for model in ("xlmr", "mbert"):
        for seed in (1, 2, 3, 4, 5):
            shift = rng.normal(0, 0.01)
            scores = {}
            for l, p in probs.items():
                boost = EFFECT if model == "xlmr" and FAMILY.get(l) == "Alpha" else 0.0
                scores[l] = rng.random(len(p)) < np.clip(p + boost + shift, 0, 1)
            _write_run(store, "s", model, seed, scores)
    return store


def test_family_table(store, registry):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = families.family_table(store.example_frame("s"), n_boot=1000, seed=0)
    unknown = [w for w in caught if UNKNOWN in str(w.message)]
    assert len(unknown) == 1  # warned once, no crash
    assert set(t["family"]) == {"Alpha", "Beta", "Gamma", "unknown"}
    assert len(t) == 8 and (t["source"] == SOURCE).all() and (t["n_seeds"] == 5).all()
    cell = t.set_index(["model", "family"])
    assert cell.loc[("xlmr", "Alpha"), "n_languages"] == 3 and cell.loc[("xlmr", "Gamma"), "n_languages"] == 2
    assert cell.loc[("xlmr", "Alpha"), "languages"] == "aaa_Latn,aab_Latn,aac_Cyrl"
    for _, r in t.iterrows():
        assert r["ci_low"] < r["mean"] < r["ci_high"] and r["gap_ci_low"] < r["gap"] < r["gap_ci_high"]
        assert r["gap"] == pytest.approx(r["source_score"] - r["mean"])
    lift = cell.loc[("xlmr", "Alpha"), "mean"] - cell.loc[("mbert", "Alpha"), "mean"]
    assert lift == pytest.approx(EFFECT, abs=0.04)
    assert cell.loc[("xlmr", "Alpha"), "ci_low"] > cell.loc[("mbert", "Alpha"), "ci_high"]
    assert cell.loc[("xlmr", "Alpha"), "gap_ci_high"] < cell.loc[("mbert", "Alpha"), "gap_ci_low"]
    for fam in ("Beta", "Gamma"):  # no planted difference: the intervals overlap
        x, m = cell.loc[("xlmr", fam)], cell.loc[("mbert", fam)]
        assert x["ci_low"] < m["ci_high"] and m["ci_low"] < x["ci_high"]


def test_paired_comparison_by_family_finds_only_the_planted_family(store, registry):
    with pytest.warns(UserWarning, match=UNKNOWN):
        c = families.paired_comparison(store.example_frame("s"), {"model": "xlmr"}, {"model": "mbert"}, n_boot=1000, n_perm=2000)
    c = c.set_index("family")
    assert list(c.index) == ["Alpha", "Beta", "Gamma", "unknown"]
    assert c["paired_seeds"].all() and (c["seeds_a"] == 5).all() and (c["a"] == "xlmr / finetune / none").all()
    alpha = c.loc["Alpha"]
    assert alpha["ci_low"] < EFFECT < alpha["ci_high"] and alpha["ci_low"] > 0
    assert alpha["p_holm"] < 0.01 and alpha["cohens_d"] > 0.2 and alpha["n_languages"] == 3
    assert alpha["diff"] == pytest.approx(alpha["mean_a"] - alpha["mean_b"])
    assert (c.drop("Alpha")["p_holm"] > 0.05).all()
    assert (c["p_holm"] >= c["p_value"]).all() and (c["p_holm"] <= 1).all()


def test_paired_comparison_by_language(store, registry):
    with pytest.warns(UserWarning):
        c = families.paired_comparison(store.example_frame("s"), {"model": "xlmr", "method": "finetune"}, {"model": "mbert"},
                                       level="language", n_boot=500, n_perm=2000)
    assert len(c) == 9 and SOURCE not in set(c["language"])
    significant = set(c.loc[c["p_holm"] < 0.05, "language"])
    assert significant == {"aaa_Latn", "aab_Latn", "aac_Cyrl"}
    assert (c.loc[c["family"] == "Alpha", "diff"] > 0.08).all()


@pytest.mark.filterwarnings("ignore:language registry cannot resolve")
def test_paired_comparison_rejects_bad_conditions(store, registry):
    with pytest.raises(XltError, match="no task"):
        families.paired_comparison(store.example_frame("s"), {"model": "nope"}, {"model": "mbert"})
    with pytest.raises(XltError, match="several conditions"):
        families.paired_comparison(store.example_frame("s"), {"method": "finetune"}, {"model": "mbert"})
    with pytest.raises(XltError, match="unknown"):
        families.paired_comparison(store.example_frame("s"), {"modle": "xlmr"}, {"model": "mbert"})
    with pytest.raises(XltError, match="level"):
        families.paired_comparison(store.example_frame("s"), {"model": "xlmr"}, {"model": "mbert"}, level="genus")
    with pytest.raises(XltError, match="no finished runs"):
        families.family_table(store.example_frame("other-study"))


# -- gap regression -----------------------------------------------------------------------------

def _regression_store(tmp_path, registry, n_langs=30, slope=0.4, same_script=None):
    """Scores only (no per-example rows): gap = 0.05 + slope * syntactic (+0.03 for mbert) + noise."""
    rng, store = np.random.default_rng(5), Store(str(tmp_path / "reg.sqlite"))
    langs = [f"l{i:02d}_Latn" for i in range(n_langs)]
    for l in langs:
        registry[l] = {"d": {"syntactic": rng.uniform(0.2, 0.8), "phonological": rng.uniform(0.2, 0.8),
                             "inventory": rng.uniform(0.2, 0.8), "genetic": rng.uniform(0.5, 1.0),
                             "geographic": rng.uniform(0.0, 0.6), "featural": np.nan},
                       "same": bool(rng.random() < 0.5) if same_script is None else same_script}
    for model, offset in (("xlmr", 0.0), ("mbert", 0.03)):
        scores = {SOURCE: np.array([0.85])}
        for l in langs:
            gap = 0.05 + slope * registry[l]["d"]["syntactic"] + offset + rng.normal(0, 0.02)
            scores[l] = np.array([0.85 - gap])
        _write_run(store, "reg", model, 1, scores)
    return store


def test_gap_regression_recovers_a_planted_slope(tmp_path, registry):
    store = _regression_store(tmp_path, registry)
    res = families.gap_regression(store.scores_frame("reg"), source=SOURCE)
    assert res["ok"], res["message"]
    coef = res["coefficients"]
    assert coef.loc["syntactic", "ci_low"] < 0.4 < coef.loc["syntactic", "ci_high"]
    assert coef.loc["syntactic", "coef"] == pytest.approx(0.4, abs=0.05) and coef.loc["syntactic", "p"] < 1e-6
    assert coef.loc["C(condition)[T.xlmr / finetune / none]", "coef"] == pytest.approx(-0.03, abs=0.01)
    assert "condition effects are relative to mbert / finetune / none" in res["notes"]
    assert {"phonological", "inventory", "genetic", "geographic", "same_script"} <= set(coef.index)
    assert list(coef.columns) == ["coef", "se", "ci_low", "ci_high", "p"]
    assert res["n"] == 60 and res["n_languages"] == 30 and res["r2"] > 0.8
    assert res["mixed"]["ok"], res["mixed"]["message"]
    assert res["mixed"]["coefficients"].loc["syntactic", "coef"] == pytest.approx(0.4, abs=0.05)


def test_gap_regression_degrades_gracefully(tmp_path, registry):
    store = _regression_store(tmp_path, registry, n_langs=5)
    res = families.gap_regression(store.scores_frame("reg"), source=SOURCE)
    assert not res["ok"] and "too few languages" in res["message"] and res["coefficients"] is None

    store = _regression_store(tmp_path / "b", registry, n_langs=12, same_script=True)
    _write_run(store, "reg", "xlmr", 2, {SOURCE: np.array([0.85]), UNKNOWN: np.array([0.5])})
    with pytest.warns(UserWarning, match=UNKNOWN):
        res = families.gap_regression(store.scores_frame("reg"), source=SOURCE)
    assert res["ok"] and "same_script" not in res["coefficients"].index
    assert any("same_script constant" in n for n in res["notes"])
    assert any(UNKNOWN in n for n in res["notes"]) and UNKNOWN not in set(res["data"]["language"])

    store = _regression_store(tmp_path / "c", registry, n_langs=8)  # enough for OLS, not for MixedLM
    res = families.gap_regression(store.scores_frame("reg"), source=SOURCE)
    assert res["ok"] and not res["mixed"]["ok"] and "at least 10 languages" in res["mixed"]["message"]


@pytest.mark.filterwarnings("ignore:language registry cannot resolve")
def test_to_text_shows_points_under_labelled_headers(store, registry):
    examples = store.example_frame("s")
    t = families.family_table(examples, n_boot=200, seed=0)
    header, *rows = families.to_text(t).splitlines()
    assert header.split()[:4] == ["task", "condition", "family", "n_languages"]
    assert all(f"{c} (x100)" in header for c in ("mean", "ci_low", "gap", "gap_ci_high"))
    cell = t.set_index(["model", "family"]).loc[("xlmr", "Alpha")]
    row = next(r for r in rows if "xlmr / finetune / none" in r and "Alpha" in r).split()
    assert row[-6:] == [f"{100 * cell[c]:.1f}" for c in ("mean", "ci_low", "ci_high", "gap", "gap_ci_low",
                                                          "gap_ci_high")]
    c = families.paired_comparison(examples, {"model": "xlmr"}, {"model": "mbert"}, n_boot=200, n_perm=200)
    header, *rows = families.to_text(c).splitlines()
    assert "diff (x100)" in header and "p_holm" in header and "p_holm (x100)" not in header
    alpha = c.set_index("family").loc["Alpha"]
    row = next(r for r in rows if "Alpha" in r).split()
    assert f"{100 * alpha['diff']:.1f}" in row and f"{alpha['p_holm']:.4f}" in row  # p-values are not scores


def test_gap_regression_reference_is_the_first_models_plain_fine_tuning(tmp_path, registry):
    """Whatever the labels sort like, condition effects are read against model A's finetune / none run."""
    store = _regression_store(tmp_path, registry)
    scores = store.scores_frame("reg")
    mbert = scores[scores["model"] == "mbert"]  # a copy of mbert, 2 points worse on every target language
    worse = mbert.assign(method="a-first", value=mbert["value"] - 0.02 * (mbert["language"] != SOURCE))
    res = families.gap_regression(pd.concat([scores, worse]), source=SOURCE)
    coef = res["coefficients"]
    assert "condition effects are relative to mbert / finetune / none" in res["notes"]
    assert coef.loc["C(condition)[T.mbert / a-first / none]", "coef"] == pytest.approx(0.02, abs=1e-9)
    assert coef.loc["C(condition)[T.xlmr / finetune / none]", "coef"] == pytest.approx(-0.03, abs=0.01)
