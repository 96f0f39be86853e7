"""Which model transfers better to which language family.

family_table       per condition x family: unweighted mean over the family's languages with a CI,
                   and the transfer gap (source score minus family mean) with a CI.
paired_comparison  condition A minus condition B per family or per language: difference, CI,
                   permutation p (resolution fine enough for Holm over all rows: stats.permutations_for;
                   p_min = smallest attainable p), Holm-adjusted p over all rows, Cohen's d_z.
group_by           both group by any registry column instead of the family (`grouping`): genus, word-order,
                   adposition, script, resource (Joshi et al. 2020 class, shown as "2 Hopefuls"), ...;
                   the `family` column then holds the group and `group_by` names the column.
coverage           what a table's intervals and tests cover, in words (printed under `to_text`).
gap_regression     OLS of the per-language transfer gap on URIEL distances to English and script
                   match (condition and task as factors), optionally a mixed model with a random
                   intercept per language.

Pure functions over the store's frames: intervals and tests come from `xlt.analysis.stats`
(bootstrap over test examples and seeds, scheme documented there) on the per-example scores
(`Store.example_frame`); the regression uses the per-language scores (`Store.scores_frame`). Scores
stay in [0, 1] here; `to_text` shows them x100. Families never include the task's source language.
Languages the registry cannot resolve go to family "unknown" (one warning per call).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from xlt.analysis import stats
from xlt.analysis.condition import FIELDS, Condition, conditions_of, resolve
from xlt.analysis.results import source_language
from xlt.analysis.units import UNIT, in_points
from xlt.errors import XltError
from xlt.metrics.registry import ratio_parts

DISTANCES = ("syntactic", "phonological", "inventory", "genetic", "geographic")
MIN_MIXED_LANGUAGES = 10  # fewer groups than this: the language variance is not estimable


def per_example_scores(metric: str, values) -> np.ndarray | None:
    """One score per test example: stored scores as they are, per-sentence counts of a corpus-level ratio (token
    accuracy, chunk F1) linearised (stats.linearised: their mean is the corpus score); None for statistics that are
    neither (macro F1's label pairs)."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        return v
    parts = ratio_parts(metric, v)
    return None if parts is None else stats.linearised(*parts)


def examples_for(examples: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The rows of one per-example metric, `scores` as one float per example (per_example_scores); XltError when
    there are none or they are not per-example scores."""
    df = examples[examples["metric"] == metric]
    if df.empty:
        raise XltError(f"no finished runs with per-example {metric} scores")
    scores = [per_example_scores(metric, v) for v in df["scores"]]
    if any(s is None for s in scores):
        raise XltError(f"per-example {metric} values are neither one score per example nor per-sentence counts of a "
                       "ratio; the bootstrap cannot use them")
    return df.assign(scores=scores)


def _registry():
    try:
        from xlt import languages
    except ImportError:  # registry missing or broken: every code is then unresolvable
        return None
    return languages


ALL = "all"  # the grouping of every target language into one group
JOSHI_NAMES = {0: "Left-Behinds", 1: "Scraping-Bys", 2: "Hopefuls", 3: "Rising Stars", 4: "Underdogs", 5: "Winners"}


def grouping(by: str) -> str:
    """The registry column a grouping name means ("word-order" -> "word_order"); XltError (one line listing the
    valid names) for an unknown one. "all" is one group of every target language (the pooled effect)."""
    if by == ALL:
        return ALL
    registry = _registry()
    if registry is None or not hasattr(registry, "group_column"):
        if by != "family":
            raise XltError(f"grouping {by!r} needs the language registry (only 'family' works without it)")
        return "family"
    return registry.group_column(by)


def _group_value(registry, code: str, col: str) -> str:
    lang = registry.lookup(code)
    value = getattr(lang, col) if hasattr(lang, col) else registry.groups_of([code], col)[code]
    if col == "resource" and value not in (None, ""):
        return f"{int(value)} {JOSHI_NAMES[int(value)]}"  # "2 Hopefuls": sorts by class, reads as a name
    return "" if value is None else str(value)


def language_groups(codes, by: str = "family") -> dict[str, str]:
    """code -> its group under registry column `by` (family, genus, word-order, adposition, script, resource or
    any registry column; "all": one group); codes the registry cannot resolve, or without a value, -> "unknown"
    (warns once)."""
    registry, col, out, unknown, empty = _registry(), grouping(by), {}, [], []
    if col == ALL:
        return {code: "all targets" for code in codes}
    for code in codes:
        try:
            value = _group_value(registry, code, col)
        except Exception:  # the registry's error type for an unknown code is its own business
            value = None
            unknown.append(code)
        out[code] = value or "unknown"
        if value == "":
            empty.append(code)
    if unknown:
        warnings.warn(f"language registry cannot resolve {', '.join(sorted(unknown))}: {col} 'unknown'",
                      stacklevel=3)
    if empty:
        warnings.warn(f"language registry has no {col} for {', '.join(sorted(empty))}: {col} 'unknown'",
                      stacklevel=3)
    return out


def language_families(codes) -> dict[str, str]:
    """code -> family from the language registry; unresolvable codes -> "unknown" (warns once)."""
    return language_groups(codes, "family")


def _source(task: str, source: str | None) -> str:
    return source or source_language(task)


def _matrices(df: pd.DataFrame) -> dict[tuple, tuple[tuple, dict[str, np.ndarray]]]:
    """(task, model, method, intermediate) -> (seeds, language -> seeds x examples matrix); seeds are
    those present for every language, rows in seed order."""
    out = {}
    for key, g in df.groupby(["task", *FIELDS], sort=True):
        if g.duplicated(["language", "seed"]).any():
            warnings.warn(f"{key}: several runs share a seed; keeping one per seed", stacklevel=3)
        by_lang = {lang: dict(zip(h["seed"], h["scores"])) for lang, h in g.groupby("language")}
        seeds = tuple(sorted(set.intersection(*(set(d) for d in by_lang.values()))))
        mats = {}
        for lang, d in by_lang.items():
            if seeds and len({len(d[s]) for s in seeds}) == 1:
                mats[lang] = np.vstack([d[s] for s in seeds])
            else:
                warnings.warn(f"{key} {lang}: seeds disagree on the test set (or share none); skipped",
                              stacklevel=3)
        if mats:
            out[key] = (seeds, mats)
    return out


def _target_families(mats: dict, source: str | None, by: str = "family") -> dict[str, str]:
    return language_groups(sorted({l for (tk, *_), (_, m) in mats.items() for l in m if l != _source(tk, source)}), by)


def _by_family(langs, families: dict[str, str]) -> list[tuple[str, list[str]]]:
    groups: dict[str, list[str]] = {}
    for lang in sorted(langs):
        groups.setdefault(families[lang], []).append(lang)
    return sorted(groups.items())


def family_table(examples: pd.DataFrame, metric: str = "accuracy", n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0, source: str | None = None, seed_draw: str = "t",
                 group_by: str = "family") -> pd.DataFrame:
    """Per task x condition x family of `examples` (`Store.example_frame`): n_languages, mean with CI,
    and gap = source - family mean with CI. group_by: any registry grouping (`grouping`); the `family` column
    then holds that group and the `group_by` column names the registry column."""
    col = grouping(group_by)
    mats = _matrices(examples_for(examples, metric))
    families = _target_families(mats, source, group_by)
    rng, rows = np.random.default_rng(seed), []
    for (tk, *cond), (seeds, m) in mats.items():
        src = _source(tk, source)
        for family, langs in _by_family([l for l in m if l != src], families):
            sub = {l: m[l] for l in langs}
            mean = stats.family_mean_ci(sub, n_boot, alpha, rng, seed_draw=seed_draw)
            gap = (stats.gap_ci(m[src], sub, n_boot, alpha, rng, seed_draw=seed_draw) if src in m
                   else stats.Interval(*[np.nan] * 3))
            rows.append({
                "task": tk, "metric": metric, **dict(zip(FIELDS, cond)), "group_by": col, "family": family,
                "n_languages": len(langs), "languages": ",".join(langs), "n_seeds": len(seeds),
                "mean": mean.estimate, "ci_low": mean.low, "ci_high": mean.high, "source": src,
                "source_score": float(m[src].mean()) if src in m else np.nan,
                "gap": gap.estimate, "gap_ci_low": gap.low, "gap_ci_high": gap.high,
            })
    return pd.DataFrame(rows)


def _pick(keys, task: str, spec: dict) -> tuple | None:
    """The (task, *condition) key of the one condition of `task` that `spec` names."""
    cond = resolve(spec, [k[1:] for k in keys if k[0] == task], task)
    return (task, *cond) if cond else None


def paired_comparison(examples: pd.DataFrame, a: dict, b: dict, level: str = "family", metric: str = "accuracy",
                      n_boot: int = 2000, n_perm: int | None = None, alpha: float = 0.05, seed: int = 0,
                      source: str | None = None, seed_draw: str = "t", group_by: str = "family") -> pd.DataFrame:
    """A minus B per (task, family) or (task, language) of `examples` on their shared test examples.

    a, b: dicts with some of model / method / intermediate; each must match one condition per task.
    Seeds are paired when A and B have the same seed set, independent otherwise. p_holm adjusts
    p_value over all returned rows (Holm-Bonferroni). n_perm: sign-flip draws per row; None = enough for
    the number of rows (`stats.permutations_for`), so that the p resolution never blocks Holm; p_min is
    each row's smallest attainable p. group_by: as in `family_table`."""
    if level not in ("family", "language"):
        raise XltError(f"level must be 'family' or 'language', not {level!r}")
    col = grouping(group_by)
    mats = _matrices(examples_for(examples, metric))
    families = _target_families(mats, source, group_by)
    rng, jobs, rows, found = np.random.default_rng(seed), [], [], False
    for tk in sorted({k[0] for k in mats}):
        ka, kb = _pick(mats, tk, a), _pick(mats, tk, b)
        if ka is None or kb is None:
            continue
        found = True
        (sa, ma), (sb, mb), src = mats[ka], mats[kb], _source(tk, source)
        langs = [l for l in sorted(set(ma) & set(mb)) if l != src]
        if differ := [l for l in langs if ma[l].shape[1] != mb[l].shape[1]]:
            warnings.warn(f"{tk}: A and B were tested on different examples in {', '.join(differ)}; skipped",
                          stacklevel=2)
            langs = [l for l in langs if l not in differ]
        units = ([(families[l], [l]) for l in langs] if level == "language" else _by_family(langs, families))
        jobs += [(tk, ka, kb, family, ls) for family, ls in units]
    n_perm = stats.permutations_for(len(jobs), alpha) if n_perm is None else n_perm
    for tk, ka, kb, family, ls in jobs:
        (sa, ma), (sb, mb) = mats[ka], mats[kb]
        r = stats.paired_difference({l: ma[l] for l in ls}, {l: mb[l] for l in ls}, n_boot, n_perm, alpha,
                                    rng, paired_seeds=sa == sb, seed_draw=seed_draw)
        rows.append({
            "task": tk, "metric": metric, "level": level, "group_by": col, "family": family,
            "language": ls[0] if level == "language" else ",".join(ls),
            "a": Condition(*ka[1:]).label, "b": Condition(*kb[1:]).label, "n_languages": r.n_languages,
            "n_examples": r.n_examples, "seeds_a": r.seeds_a, "seeds_b": r.seeds_b,
            "paired_seeds": r.paired_seeds, "mean_a": float(np.mean([ma[l].mean() for l in ls])),
            "mean_b": float(np.mean([mb[l].mean() for l in ls])), "diff": r.diff, "ci_low": r.low,
            "ci_high": r.high, "p_value": r.p_value, "cohens_d": r.cohens_d, "p_min": r.p_min,
            "n_perm": r.n_perm, "p_method": r.p_method,
        })
    if not found:
        raise XltError(f"no task has runs for both {a} and {b}")
    out = pd.DataFrame(rows)
    if rows:
        out.insert(out.columns.get_loc("p_value") + 1, "p_holm", stats.holm(out["p_value"]))
    return out


def gap_table(scores: pd.DataFrame, metric: str = "accuracy", source: str | None = None) -> pd.DataFrame:
    """Per task x condition x target language of `scores` (`Store.scores_frame`): gap = source score -
    language score, averaged over seeds."""
    df = scores[scores["metric"] == metric]
    if df.empty:
        raise XltError(f"no finished runs with {metric} scores")
    parts = []
    for (tk, *cond), g in df.groupby(["task", *FIELDS], sort=True):
        src = _source(tk, source)
        src_by_seed = g[g["language"] == src].groupby("seed")["value"].mean()
        t = g[g["language"] != src].assign(gap=lambda x: x["seed"].map(src_by_seed) - x["value"]).dropna(subset=["gap"])
        agg = t.groupby("language", as_index=False).agg(gap=("gap", "mean"), score=("value", "mean"),
                                                        n_seeds=("seed", "nunique"))
        parts.append(agg.assign(task=tk, **dict(zip(FIELDS, cond)), condition=Condition(*cond).label))
    out = pd.concat(parts, ignore_index=True)
    if out.empty:
        raise XltError("no target language has a score and a source-language score")
    return out


# score-valued columns of the family and comparison tables (shown x100; p, d and counts are not scores)
SCORE_COLUMNS = ("mean", "ci_low", "ci_high", "source_score", "gap", "gap_ci_low", "gap_ci_high", "mean_a", "mean_b",
                 "diff")


def to_text(table: pd.DataFrame) -> str:
    """A `family_table` or `paired_comparison` as a text table: scores x100 (the headers say so), one
    condition label per row, the group column named after its grouping (family, word_order, ...)."""
    group = table["group_by"].iloc[0] if "group_by" in table and len(table) else "family"
    if "diff" in table:
        level = table["level"].iloc[0] if len(table) else "family"
        cols = ["task", *dict.fromkeys(["family", level]), "n_languages", "mean_a", "mean_b", "diff", "ci_low",
                "ci_high", "p_value", "p_holm", "cohens_d", *(["p_min"] if "p_min" in table else [])]
        shown = table[cols]
    else:
        labels = [Condition(*c).label for c in table[list(FIELDS)].itertuples(index=False)]
        cols = ["task", "family", "n_languages", "mean", "ci_low", "ci_high", "gap", "gap_ci_low", "gap_ci_high"]
        shown = table[cols].assign(condition=labels)[["task", "condition", *cols[1:]]]
    shown = in_points(shown, SCORE_COLUMNS).rename(columns={"family": group})
    digits = {f"{c} ({UNIT})": 1 for c in SCORE_COLUMNS} | {"p_value": 4, "p_holm": 4, "cohens_d": 2}
    text = shown.round(digits).to_string(index=False, formatters={"p_min": "{:.1e}".format})
    return text + "\n" + coverage(table)


def coverage(table: pd.DataFrame) -> str:
    """What the intervals and tests of a `family_table` / `paired_comparison` cover, in words."""
    if table.empty:
        return ""
    seeds = sorted({int(n) for c in ("n_seeds", "seeds_a", "seeds_b") if c in table for n in table[c]})
    group = table["group_by"].iloc[0] if "group_by" in table else "family"
    seed_term = (f"a Student-t seed term from {'/'.join(map(str, seeds))} seed(s) per condition (each seed unit is "
                 f"one trained run, with its own intermediate stage where the study trains one per seed)"
                 if max(seeds, default=1) > 1 else "no seed term (one seed: test-example sampling only)")
    text = (f"95 % CIs: percentile bootstrap over the test examples (one draw shared by parallel test sets) plus "
            f"{seed_term}; the languages of each {group} group are fixed, not resampled, so an interval is about "
            f"these languages. Source language excluded.")
    if "p_value" in table:
        draws = int(table["n_perm"].max()) if "n_perm" in table else 2000
        how = ("exact enumeration of sign patterns" if "p_method" in table and (table["p_method"] == "exact").all()
               else f"up to {draws} random sign flips with sequential stopping")
        p_min = table["p_min"].min() if "p_min" in table else 1 / (1 + draws)
        text += (f" p: two-sided sign-flip test of A - B on the same test examples ({how}; smallest attainable p "
                 f"{p_min:.1e}); Holm over the {len(table)} rows.")
    return text


def _predictors(langs, names) -> pd.DataFrame:
    """language -> URIEL distances to English (`names`) and the same-script flag; NaN where unknown."""
    registry, rows, unknown = _registry(), {}, []
    for code in langs:
        try:
            d, same = registry.distances_to(code), float(registry.same_script_as(code))
        except Exception:  # unknown code (or no registry yet): no predictors for this language
            d, same = {}, np.nan
            unknown.append(code)
        rows[code] = {k: float(d[k]) if d.get(k) is not None else np.nan for k in names} | {"same_script": same}
    if unknown:
        warnings.warn(f"language registry cannot resolve {', '.join(unknown)}: no distances", stacklevel=3)
    return pd.DataFrame.from_dict(rows, orient="index")


def _reference_first(data: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The condition column as a categorical whose first level (the regression's reference) is the first
    model's plain fine-tuning (finetune / none), else the first condition; the others follow sorted."""
    conds = conditions_of(data)
    ref = next((c for c in conds if c.model == conds[0].model and (c.method, c.intermediate) == ("finetune", "none")),
               conds[0])
    order = [ref.label] + [c.label for c in conds if c != ref]
    return ref.label, data.assign(condition=pd.Categorical(data["condition"], categories=order))


def _coefficients(fit, names) -> pd.DataFrame:
    ci = fit.conf_int().loc[names]
    return pd.DataFrame({"coef": fit.params[names], "se": fit.bse[names], "ci_low": ci[0], "ci_high": ci[1],
                         "p": fit.pvalues[names]})


def gap_regression(scores: pd.DataFrame, metric: str = "accuracy", source: str | None = None,
                   predictors=DISTANCES + ("same_script",), mixed: bool = True) -> dict:
    """OLS of the per-language transfer gap on distances to English (+ condition / task factors).

    Returns {"ok", "message", "formula", "n", "n_languages", "r2", "r2_adj", "coefficients" (coef, se,
    95 % CI, p per term), "mixed" (same with a random intercept per language, or a message), "notes",
    "data"}. Predictors missing or constant over the languages are dropped, languages with a missing
    predictor are dropped (both listed in notes); too few languages gives ok=False and a message."""
    import statsmodels.formula.api as smf

    data = gap_table(scores, metric, source)
    data = data.join(_predictors(sorted(data["language"].unique()), [p for p in predictors if p != "same_script"]),
                     on="language")
    notes, use = [], [p for p in predictors if data[p].notna().any()]
    if len(use) < len(predictors):
        notes.append(f"no values for {', '.join(p for p in predictors if p not in use)}: dropped")
    missing = sorted(data.loc[data[use].isna().any(axis=1), "language"].unique())
    if missing:
        notes.append(f"missing predictors for {', '.join(missing)}: languages dropped")
        data = data[~data["language"].isin(missing)]
    const = [p for p in use if data[p].nunique() < 2]
    if const:
        notes.append(f"{', '.join(const)} constant over the languages: dropped")
        use = [p for p in use if p not in const]
    factors = [f"C({f})" for f in ("condition", "task") if data[f].nunique() > 1]
    if "C(condition)" in factors:
        ref, data = _reference_first(data)
        notes.append(f"condition effects are relative to {ref}")
    formula = "gap ~ " + " + ".join(use + factors or ["1"])
    n_lang = data["language"].nunique()
    result = {"ok": False, "formula": formula, "n": len(data), "n_languages": n_lang, "notes": notes, "data": data,
              "coefficients": None, "mixed": None, "r2": np.nan, "r2_adj": np.nan}
    if not use:
        return result | {"message": "no usable predictor (all missing or constant): " + "; ".join(notes)}
    if n_lang < len(use) + 2:
        return result | {"message": f"too few languages: {n_lang} with usable predictors for {len(use)} "
                                    f"predictor(s); need at least {len(use) + 2}"}
    fit = smf.ols(formula, data).fit()
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        return result | {"message": f"predictors are collinear over these {n_lang} languages: {formula}"}
    if len(data) > n_lang:
        notes.append("languages repeat across conditions/tasks: OLS errors treat rows as independent; "
                     "see the mixed model")
    result |= {"ok": True, "message": "", "r2": float(fit.rsquared), "r2_adj": float(fit.rsquared_adj),
               "coefficients": _coefficients(fit, list(fit.params.index))}
    if mixed:
        result["mixed"] = _mixed(formula, data, n_lang)
    return result


def _mixed(formula: str, data: pd.DataFrame, n_lang: int) -> dict:
    """Random intercept per language (same fixed part); needs repeated rows and enough languages."""
    import statsmodels.formula.api as smf

    if len(data) <= n_lang or n_lang < MIN_MIXED_LANGUAGES:
        return {"ok": False, "message": f"mixed model skipped: needs several rows per language and at least "
                                        f"{MIN_MIXED_LANGUAGES} languages ({len(data)} rows, {n_lang} languages)"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = smf.mixedlm(formula, data, groups=data["language"]).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return {"ok": False, "message": f"mixed model failed: {exc}"}
    return {"ok": True, "message": "; ".join(sorted({str(w.message) for w in caught})),
            "converged": bool(fit.converged), "language_var": float(fit.cov_re.iloc[0, 0]),
            "coefficients": _coefficients(fit, list(fit.fe_params.index))}


def condition_matrices(examples: pd.DataFrame, metric: str) -> dict[tuple, tuple[tuple, dict[str, np.ndarray]]]:
    """(task, model, method, intermediate) -> (seeds, language -> seeds x examples) of one per-example metric."""
    return _matrices(examples_for(examples, metric))


def pick_condition(keys, task: str, spec: dict) -> tuple | None:
    """The key of `condition_matrices` for the one condition of `task` that `spec` names (None if none)."""
    return _pick(keys, task, spec)
