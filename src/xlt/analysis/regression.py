"""Does condition A's advantage over B grow with typological distance from English?

interaction_regression  per task, OLS over the target languages of
                            d_l = score_A(l) - score_B(l) = b0 + sum_k b_k distance_k(l) + b_r resource(l) + e_l
                        Each b_k is the condition x distance interaction of the two-condition model
                        score(l, c) = ... + [c = A] (b0 + sum_k b_k distance_k(l) + b_r resource(l)): how many points
                        A gains over B per unit of URIEL distance to English (0 = like English, 1 = maximally far),
                        at equal Joshi et al. (2020) resource class. Without B: the per-language scores of A.

Intervals: the OLS coefficients are linear in the per-language cell means, b = H d with H = (X'X)^-1 X', so
each coefficient is a weighted sum of (language, condition) cells and gets `xlt.analysis.stats`'s two-level
bootstrap unchanged (test examples, with one draw per parallel test set, and the Student-t seed term per
condition, seeds paired when A and B share them). Those two levels treat the languages as fixed; a claim about
languages beyond these needs the between-language variation too, so each replicate adds a third, language
term built like the seed term: sqrt(v_L * sum_l H_jl^2) * t_(n-p), where v_L = max(0, residual mean square -
mean measurement variance of d_l) is the between-language residual variance not already counted by the
example and seed terms (n languages, p coefficients). Percentile interval of the replicates.

What it can and cannot claim: the languages are observed, not randomised, so a coefficient is an adjusted
association, not a causal effect of distance; resource confounding is addressed only through the class
covariate (a coarse, six-level proxy for pretraining data); distances are correlated with each other and with
resource, so individual coefficients can trade off; the interval assumes the languages behave like a sample
from the population the claim is about (benchmark languages are not one).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from xlt.analysis import stats
from xlt.analysis.condition import Condition
from xlt.analysis.families import condition_matrices, pick_condition
from xlt.analysis.results import source_language
from xlt.errors import XltError

DISTANCES = ("syntactic", "phonological", "inventory", "genetic", "geographic")
CLAIM = ("Observational: the languages were not randomised to distances, so a coefficient is an association "
         "adjusted for the other terms, not a causal effect; resource confounding is addressed only through the "
         "Joshi et al. (2020) class covariate; correlated distances can trade weight between their coefficients.")


def predictors(langs, names=DISTANCES, resource: bool = True) -> pd.DataFrame:
    """language -> URIEL distances to English (`names`) and the Joshi class ("resource"); NaN where unknown."""
    from xlt import languages as registry

    rows = {}
    for code in langs:
        try:
            d = registry.distances_to(code)
            row = {k: float(d[k]) if d.get(k) is not None else np.nan for k in names}
            cls = getattr(registry.lookup(code), "resource", None) if resource else None
        except Exception:  # unknown code (or no registry): no predictors for this language
            row, cls = dict.fromkeys(names, np.nan), None
        if resource:
            row["resource"] = np.nan if cls is None else float(cls)
        rows[code] = row
    return pd.DataFrame.from_dict(rows, orient="index", columns=[*names, *(["resource"] if resource else [])])


def _cells(ya: dict, yb: dict | None, weights: np.ndarray, langs: list[str], paired: bool) -> list:
    """The (language, condition) cells of d_l with weight w_l (stats' seed and example keys)."""
    par = stats.is_parallel(*ya.values())
    ex = (lambda l: 0) if par else (lambda l: l)
    if yb is None:
        return [stats.cell(ya[l], w, "a", ex(l)) for l, w in zip(langs, weights)]
    if paired:
        return [stats.cell(ya[l] - yb[l], w, "ab", ex(l)) for l, w in zip(langs, weights)]
    return ([stats.cell(ya[l], w, "a", ex(l)) for l, w in zip(langs, weights)]
            + [stats.cell(yb[l], -w, "b", ex(l)) for l, w in zip(langs, weights)])


def fit(ya: dict, yb: dict | None, x: pd.DataFrame, n_boot: int = 2000, alpha: float = 0.05, rng=None,
        paired: bool = False, seed_draw: str = "t") -> dict:
    """OLS of d_l (A - B, or A alone when yb is None) on the columns of x (languages as rows, an intercept is
    added) with the three-level bootstrap of the module docstring. ya / yb: language -> seeds x examples."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    langs = list(x.index)
    design = np.column_stack([np.ones(len(langs)), x.to_numpy(float)])
    names = ["intercept", *x.columns]
    n, p = design.shape
    hat = np.linalg.pinv(design)  # p x n: b = hat @ d
    d = np.array([ya[l].mean() - (yb[l].mean() if yb is not None else 0.0) for l in langs])
    coef = hat @ d
    resid = d - design @ coef
    measurement = np.array([stats.measurement_variance(_cells(ya, yb, np.ones(1), [l], paired)) for l in langs])
    v_lang = max(0.0, float(resid @ resid) / (n - p) - float(measurement.mean()))
    rows = []
    boot = stats.joint_replicates([_cells(ya, yb, hat[j], langs, paired) for j in range(p)], n_boot, rng, seed_draw)
    for j, name in enumerate(names):
        reps = boot[j] + np.sqrt(v_lang * float(hat[j] @ hat[j])) * rng.standard_t(n - p, n_boot)
        lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
        rows.append({"term": name, "coef": float(coef[j]), "ci_low": float(lo), "ci_high": float(hi),
                     "boot_sd": float(np.std(reps))})
    return {"coefficients": pd.DataFrame(rows).set_index("term"), "n_languages": n, "n_parameters": p,
            "language_var": v_lang, "measurement_var": float(measurement.mean()),
            "r2": float(1 - resid @ resid / ((d - d.mean()) @ (d - d.mean()))) if n > 1 and d.std() > 0 else np.nan,
            "data": x.assign(d=d)}


def interaction_regression(examples: pd.DataFrame, a: dict, b: dict | None = None, metric: str = "accuracy",
                           names=DISTANCES, resource: bool = True, n_boot: int = 2000, alpha: float = 0.05,
                           seed: int = 0, source: str | None = None, seed_draw: str = "t") -> list[dict]:
    """Per task of `examples` (`Store.example_frame`) that has runs of A (and B): the regression of the module
    docstring. Returns one dict per task: ok, message, task, a, b, formula, coefficients (coef, ci_low, ci_high,
    boot_sd per term; scores in [0, 1] per unit of distance / per resource class), n_languages, seeds, paired,
    language_var, measurement_var, r2, notes, data, coverage, claim. Predictors missing for a language drop the
    language, predictors missing or constant everywhere are dropped (both in notes)."""
    mats = condition_matrices(examples, metric)
    rng, out = np.random.default_rng(seed), []
    for tk in sorted({k[0] for k in mats}):
        ka = pick_condition(mats, tk, a)
        kb = pick_condition(mats, tk, b) if b is not None else None
        if ka is None or (b is not None and kb is None):
            continue
        out.append(_task(tk, mats, ka, kb, metric, names, resource, n_boot, alpha, rng, source, seed_draw))
    if not out:
        raise XltError(f"no task has per-example {metric} scores for {a}" + (f" and {b}" if b is not None else ""))
    return out


def _task(tk, mats, ka, kb, metric, names, resource, n_boot, alpha, rng, source, seed_draw) -> dict:
    (sa, ma), src = mats[ka], source or source_language(tk)
    sb, mb = mats[kb] if kb is not None else (sa, None)
    langs = sorted(l for l in ma if l != src and (mb is None or (l in mb and mb[l].shape[1] == ma[l].shape[1])))
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = predictors(langs, names, resource)
    use = [c for c in x.columns if x[c].notna().any()]
    if len(use) < len(x.columns):
        notes.append(f"no values for {', '.join(c for c in x.columns if c not in use)}: dropped")
    missing = sorted(x.index[x[use].isna().any(axis=1)])
    if missing:
        notes.append(f"missing predictors for {', '.join(missing)}: languages dropped")
    x = x.loc[[l for l in x.index if l not in missing], use]
    const = [c for c in use if x[c].nunique() < 2]
    if const:
        notes.append(f"{', '.join(const)} constant over the languages: dropped")
        x = x.drop(columns=const)
    a_label = Condition(*ka[1:]).label
    b_label = Condition(*kb[1:]).label if kb is not None else None
    target = f"({a_label}) - ({b_label})" if b_label else a_label
    result = {"ok": False, "task": tk, "metric": metric, "a": a_label, "b": b_label, "n_languages": len(x),
              "formula": f"{target} ~ 1 + " + " + ".join(x.columns) if len(x.columns) else f"{target} ~ 1",
              "seeds": (len(sa), len(sb)), "paired": kb is not None and sa == sb, "notes": notes,
              "coefficients": None, "data": x, "claim": CLAIM}
    p = len(x.columns) + 1
    if len(x) < p + 2:
        return result | {"message": f"too few languages: {len(x)} with all predictors for {p} coefficients; "
                                    f"need at least {p + 2}"}
    design = np.column_stack([np.ones(len(x)), x.to_numpy(float)])
    if np.linalg.matrix_rank(design) < p:
        return result | {"message": f"predictors are collinear over these {len(x)} languages: {result['formula']}"}
    res = fit({l: ma[l] for l in x.index}, {l: mb[l] for l in x.index} if mb is not None else None, x, n_boot,
              alpha, rng, result["paired"], seed_draw)
    seeds = f"{len(sa)} seed(s) of A" + (f" and {len(sb)} of B ({'paired' if result['paired'] else 'independent'})"
                                         if mb is not None else "")
    coverage = (f"95 % CIs: percentile bootstrap ({n_boot} replicates) over test examples, the seed term ({seeds}) "
                f"and a between-language term (t with {len(x) - p} df, residual variance across the {len(x)} "
                f"languages beyond measurement noise: {res['language_var'] * 1e4:.2f} points²); source language "
                f"{src} excluded.")
    return result | res | {"ok": True, "message": "", "coverage": coverage, "notes": notes}
