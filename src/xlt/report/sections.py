"""Report sections per task (per-language table, families, paired comparisons, gap regression) as
document blocks, with their figures; plus the XTREME-R scores and the notes."""

from __future__ import annotations

import warnings

import pandas as pd

from xlt.analysis import xtreme
from xlt.analysis.condition import FIELDS, Condition
from xlt.analysis.families import language_families
from xlt.analysis.results import SUMMARY_ROWS, grid
from xlt.analysis.units import SCALE, UNIT, mean_std_text, points
from xlt.report import plots
from xlt.report.document import Block, Bounds, Figure, Heading, Para, Table, pvalue
from xlt.report.protocols import protocol_blocks
from xlt.report.regression import group_heading, typology_blocks
from xlt.report.settings import settings_blocks
from xlt.report.stage import stage_blocks, stage_notes
from xlt.report.summary import summary_blocks


def language_info(codes) -> tuple[dict[str, str], dict[str, str]]:
    """(code -> English name, code -> family) from the registry; the code itself / 'unknown' if absent."""
    from xlt import languages

    names = {}
    for code in codes:
        try:
            names[code] = languages.lookup(code).name
        except Exception:  # unknown code: family_table already warned about it
            names[code] = code
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return names, language_families(codes)


def _language_table(t, names, families) -> Table:
    header, body = grid(t)
    n = len(t.languages)
    rows = [[lang, names[lang], "source" if lang == t.source else families[lang], *vals]
            for lang, *vals in body[:n]] + [[label, "", "", *vals] for label, *vals in body[n:]]
    return Table(f"{t.task}: {t.metric} per language ({UNIT}, mean ± std over seeds). The averages follow XTREME: "
                 f"'incl.' averages every evaluated language including the source {t.source}, 'excl.' the "
                 "zero-shot languages only; the gap is computed per seed.",
                 ["code", "language", "family", *(c.label for c in t.conditions)],
                 rows, strong_rows=set(range(n, n + len(SUMMARY_ROWS))), rules_after={n - 1}, left=3)


def _family_tables(ta, bounds: Bounds, table: pd.DataFrame | None = None) -> list[Block]:
    out: list[Block] = []
    table = ta.families if table is None else table
    group = table["group_by"].iloc[0] if "group_by" in table else "family"
    for cond, g in table.groupby(list(FIELDS), sort=True):
        r0 = g.iloc[0]
        rows = [[r["family"], str(r["n_languages"]), points(r["mean"]), bounds.ci(r["ci_low"], r["ci_high"]),
                 points(r["gap"]), bounds.ci(r["gap_ci_low"], r["gap_ci_high"], -1.0, 1.0)] for _, r in g.iterrows()]
        out.append(Table(f"{Condition(*cond).label}, {ta.task} ({ta.metric} {UNIT}, {r0['n_seeds']} seed(s)): "
                         f"unweighted mean over each {group} group's languages and the transfer gap "
                         f"{ta.source} ({points(r0['source_score'])}) minus the group mean, with 95 % bootstrap CIs "
                         f"(test examples and seeds; the group's languages fixed).",
                         [group, "languages", "mean", "95 % CI", f"gap ({ta.source} - {group})", "95 % CI"], rows))
    return out


def _comparison_table(ta, a, b, c, bounds: Bounds) -> Table:
    rows = [[r["family"], str(r["n_languages"]), points(r["mean_a"]), points(r["mean_b"]), points(r["diff"]),
             bounds.ci(r["ci_low"], r["ci_high"], -1.0, 1.0), pvalue(r["p_value"]), pvalue(r["p_holm"]),
             f"{r['cohens_d']:.2f}"] for _, r in c.iterrows()]
    seeds = "paired by seed" if c["paired_seeds"].all() else "seeds independent"
    group = c["group_by"].iloc[0] if "group_by" in c else "family"
    resolution = f" (smallest attainable p {c['p_min'].min():.1e})" if "p_min" in c else ""
    return Table(f"A = {a.label} minus B = {b.label}, {ta.task} ({ta.metric} {UNIT}) on the same test examples "
                 f"({seeds}): difference of {group} group means with 95 % bootstrap CI, two-sided sign-flip p{resolution}, "
                 f"Holm-adjusted over the {len(c)} groups of this comparison, and Cohen's d_z.",
                 [group, "languages", "A", "B", "A - B", "95 % CI", "p", "p (Holm)", "d_z"], rows)


def _coefficient_table(caption: str, coefs) -> Table:
    rows = [[term, points(r["coef"], 2), points(r["se"], 2), f"[{points(r['ci_low'], 2)}, {points(r['ci_high'], 2)}]",
             pvalue(r["p"])] for term, r in coefs.iterrows()]
    return Table(caption, ["term", "coefficient", "SE", "95 % CI", "p"], rows)


def _regression_blocks(ta) -> list[Block]:
    reg = ta.regression
    out: list[Block] = [Heading(3, "Transfer gap vs typological distance")]
    if not reg["ok"]:
        out.append(Para(f"No regression: {reg['message']}."))
    else:
        notes = (" " + "; ".join(reg["notes"]) + ".") if reg["notes"] else ""
        out.append(_coefficient_table(
            f"{ta.task}: OLS {reg['formula']} over {reg['n']} rows ({reg['n_languages']} languages), R² "
            f"{reg['r2']:.2f} (adjusted {reg['r2_adj']:.2f}). Gap in points ({UNIT}) per unit of URIEL distance to "
            f"English (0 = same as English, 1 = maximally far); same_script = 1 if written like English.{notes}",
            reg["coefficients"]))
        mixed = reg.get("mixed") or {}
        if mixed.get("ok"):
            out.append(_coefficient_table(f"Same fixed effects with a random intercept per language (REML; language "
                                          f"variance {SCALE ** 2 * mixed['language_var']:.1f} points²).",
                                          mixed["coefficients"]))
        elif mixed:
            out.append(Para(mixed["message"] + ".", small=True))
    if len(reg["data"]):
        out.append(Figure(f"gap-distance-{ta.task}", f"{ta.task}: transfer gap vs distance to English",
                          "Each point is one target language (mean gap over seeds). Lines: least-squares fit of the "
                          "gap on that one distance per condition, band = 95 % CI of the fitted mean (the table "
                          "above fits all distances jointly). Last panel: languages written in a different script "
                          "than English vs the same script; bars = means.",
                          plots.gap_scatter(reg["data"], ta.task)))
    return out


def task_blocks(ta, bounds: Bounds) -> list[Block]:
    out: list[Block] = [Heading(2, f"Task {ta.task}", f"task-{ta.task}"),
                        Para(f"Fine-tuned on {ta.source} only; checkpoint selected on {ta.source} dev; every other "
                             f"language is evaluated zero-shot. Scores {UNIT}." if all(
                                 c.protocol == "zero-shot" for t in ta.tables for c in t.conditions) else
                             f"Checkpoints selected on {ta.source} dev; conditions ending in a protocol (few-shot:K, "
                             f"translate-train) also trained on target-language data. Scores {UNIT}.")]
    codes = sorted({l for t in ta.tables for l in t.languages})
    names, families = language_info(codes)
    out += [Heading(3, "Per-language scores")] + [_language_table(t, names, families) for t in ta.tables]
    shown = next((t for t in ta.tables if t.metric == ta.metric), ta.tables[0])
    out.append(Figure(f"heatmap-{ta.task}", f"{ta.task}: {shown.metric} per language and condition",
                      f"Mean over seeds ({UNIT}) per language (rows, grouped by family; the source {ta.source} on top "
                      "when evaluated) and condition (columns).", plots.heatmap(shown, names, families)))
    if ta.families is not None and len(ta.families):
        group = ta.families["group_by"].iloc[0] if "group_by" in ta.families else "family"
        out += [group_heading(group)] + _family_tables(ta, bounds)
        out.append(Figure(f"family-bars-{ta.task}", f"{ta.task}: {ta.metric} by language family",
                          f"Unweighted mean over the family's languages ({UNIT}) per condition, with 95 % bootstrap CIs "
                          "(test examples and seeds; clipped to [0, 100]); dashed lines: the source-language score. "
                          "(n) = number of languages.", plots.family_bars(ta.families, ta.metric)))
        out.append(Figure(f"family-overview-{ta.task}", f"{ta.task}: languages per family",
                          "Number of evaluated languages per family; colour and label: the family's mean score "
                          f"({UNIT}, averaged over conditions).", plots.family_overview(ta.families, ta.metric)))
    if ta.comparisons:
        out.append(Heading(3, "Paired comparison"))
        out += [_comparison_table(ta, a, b, c, bounds) for a, b, c in ta.comparisons]
    out += typology_blocks(ta, bounds, _family_tables, _comparison_table)
    if ta.regression is not None:
        out += _regression_blocks(ta)
    return out


def _xtreme_blocks(scores: pd.DataFrame) -> list[Block]:
    summary = xtreme.summarize(scores)
    if not any(s["tasks"] for s in summary):
        return []
    tasks = sorted({t for s in summary for t in s["tasks"]})
    cats = [c for c in xtreme.CATEGORIES if any(c in s["categories"] for s in summary)]
    body = [[s["condition"].label]
            + [mean_std_text(s["tasks"][t]) if t in s["tasks"] else "-" for t in tasks]
            + [mean_std_text(s["categories"][c]) if c in s["categories"] else "-" for c in cats]
            + [mean_std_text(s["overall"]) if s["overall"] else "-"] for s in summary]
    return [Heading(2, "XTREME-R scores", "xtreme"),
            Table("XTREME-R task scores (mean over languages incl. English; QA = (F1 + EM) / 2), category scores "
                  f"and the overall score (only with all ten tasks); {UNIT}, mean ± std over seeds.",
                  ["condition", *tasks, *cats, "overall"], body)]


def report_blocks(study: str, runs: pd.DataFrame, scores: pd.DataFrame, analyses, n_boot: int) -> list[Block]:
    bounds = Bounds()
    out: list[Block] = [Heading(1, f"xlt report: study {study}")]
    out += summary_blocks(study, runs, analyses) + settings_blocks(runs)
    for ta in analyses:
        out += task_blocks(ta, bounds)
    out += protocol_blocks(scores)  # score vs K per family (only when the study has several protocols)
    out += _xtreme_blocks(scores)
    out += stage_blocks(runs)  # intermediate stages: seed policy, lrs, how far they moved the encoder
    notes = [
        f"Confidence intervals: 95 % percentile bootstrap ({n_boot} replicates) that resamples test examples and "
        "adds the seed-to-seed variance (xlt.analysis.stats); with one seed they cover test-set sampling only.",
        f"Bounded quantities: score intervals are clipped to [0, 100] and gap/difference intervals to [-100, 100] "
        f"for display ({bounds.moved} bound(s) clipped in this report); a percentile interval can leave the range "
        "for a language near 0 or 1 with few test examples.",
        "Families exclude the source language; family and distances come from xlt's language registry "
        "(URIEL / Glottolog lineage, lang2vec). Permutation p-values: random sign flips of per-example paired "
        "differences, exact enumeration for tests on at most 16 examples, otherwise enough draws for the number of "
        "rows that Holm's strictest threshold is 20x the smallest attainable p (stated in each caption); Holm's "
        "correction is applied within each comparison and task.",
    ]
    if not any(isinstance(b, Heading) and b.anchor == "xtreme" for b in out):
        notes.append("No XTREME-R task in this study: no XTREME-R category or overall score.")
    notes += stage_notes(runs)
    notes += [n for ta in analyses for n in ta.notes]
    out += [Heading(2, "Notes", "notes")] + [Para(n, small=True) for n in notes]
    return out
