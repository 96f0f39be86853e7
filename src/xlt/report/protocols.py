"""Score vs K per language family: how zero-shot, few-shot:K and translate-train compare.

For each task and each (model, method, intermediate) trained under more than one protocol, a table
(family x protocol) and a figure (one line per family over K = 0 (zero-shot), the study's Ks, and
translate-train at the right). A cell is the unweighted mean over the family's target languages of each
language's mean over seeds; the source language is left out (few-shot and translate-train runs are
scored on their target only). Only languages every protocol of the condition scored are averaged, so
the columns compare the same languages. Few-shot checkpoints are selected on English dev: the target
dev split is never read (xlt.study.protocols).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from xlt.analysis.condition import ZERO_SHOT, Condition, protocol_key
from xlt.analysis.families import language_families
from xlt.analysis.results import source_language
from xlt.analysis.units import SCALE, UNIT, points
from xlt.report.document import Block, Figure, Heading, Para, Table

BASE = ["model", "method", "intermediate"]
PROTOCOLS_NOTE = (
    "Protocols: zero-shot runs are fine-tuned on the source language (English) only; few-shot:K runs continue "
    "that model on K training examples of their one target language, and translate-train runs train on the target "
    "language's own (translated) training split instead (section 'Transfer protocols'). Every checkpoint is the one "
    "with the best source-language dev score: no target-language dev data is used. Retrieval tasks use the "
    "pretrained encoder without fine-tuning (no dev score).")


def protocol_order(protocols) -> list[str]:
    """zero-shot, few-shot:K by K, then the others (translate-train) by name."""
    return sorted(set(protocols), key=protocol_key)


def score_vs_k(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Long table: task, model, method, intermediate, family, protocol, n_languages, n_seeds, mean (in
    [0, 1]), for every base condition with more than one protocol; empty when there is none."""
    rows = []
    df = scores[(scores["metric"] == metric)]
    for (task, *base), g in df.groupby(["task", *BASE], sort=True):
        if g["protocol"].nunique() < 2:
            continue
        src = source_language(task)
        g = g[g["language"] != src]
        per_lang = g.groupby(["protocol", "language"]).agg(value=("value", "mean"), n_seeds=("seed", "nunique"))
        shared = set.intersection(*g.groupby("protocol")["language"].agg(set))  # scored under every protocol
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown code is 'unknown' here; the family table says so
            families = language_families(sorted(shared))
        for (protocol, lang), r in per_lang.iterrows():
            if lang in shared:
                rows.append({"task": task, **dict(zip(BASE, base)), "protocol": protocol, "language": lang,
                             "family": families[lang], "value": r["value"], "n_seeds": r["n_seeds"]})
    if not rows:
        return pd.DataFrame(columns=["task", *BASE, "family", "protocol", "n_languages", "n_seeds", "mean"])
    long = pd.DataFrame(rows)
    out = long.groupby(["task", *BASE, "family", "protocol"], sort=True).agg(
        n_languages=("language", "nunique"), n_seeds=("n_seeds", "min"), mean=("value", "mean")).reset_index()
    return out


def protocol_blocks(scores: pd.DataFrame) -> list[Block]:
    """The report's 'Transfer protocols' section (nothing when every run is zero-shot)."""
    if "protocol" not in scores or scores["protocol"].nunique() < 2:
        return []
    from xlt.tasks import find_spec

    out: list[Block] = [Heading(2, "Transfer protocols: score vs K", "protocols"), Para(
        "few-shot:K continues the English fine-tuned model on K target-language training examples (sampled per "
        "seed, stratified by label) and selects the checkpoint on English dev (the target dev split is never "
        "used); translate-train trains on the target language's own (translated) training split instead of "
        "English. Each cell: mean over the family's target languages (the source language excluded) of the "
        "per-language mean over seeds; only languages scored under every protocol.")]
    for task in sorted(scores["task"].unique()):
        spec = find_spec(task)
        metric = spec.main_metric if spec else sorted(scores["metric"].unique())[0]
        table = score_vs_k(scores[scores["task"] == task], metric)
        for base, g in table.groupby(BASE, sort=True):
            label = Condition(*base).label
            order = protocol_order(g["protocol"])
            wide = g.pivot(index="family", columns="protocol", values="mean").reindex(columns=order)
            n_lang = g.groupby("family")["n_languages"].max()
            rows = [[fam, str(n_lang[fam]), *(points(v) if pd.notna(v) else "-" for v in wide.loc[fam])]
                    for fam in wide.index]
            mean = wide.mean(axis=0)  # families weighted equally
            rows.append(["mean over families", "", *(points(v) if pd.notna(v) else "-" for v in mean)])
            seeds = int(g["n_seeds"].min())
            out.append(Table(f"{label}, {task}: {metric} ({UNIT}) per family and protocol, "
                             f"{seeds}+ seed(s) per language.", ["family", "languages", *order], rows,
                             strong_rows={len(rows) - 1}, rules_after={len(rows) - 2}))
            key = "protocols-" + "-".join(str(x) for x in (task, *base)).replace("/", "_").replace(" ", "_")
            out.append(Figure(key, f"{task}: score vs K, {label}",
                              f"{metric} ({UNIT}) by family over K target examples (0 = zero-shot); "
                              "translate-train at the right.", plot=score_vs_k_plot(wide, metric, f"{task}, {label}")))
    return out


def score_vs_k_plot(wide: pd.DataFrame, metric: str, title: str):
    """One line per family over the protocols in column order (categorical x: 0, K..., translate-train)."""
    from xlt.report.plots import COLORS, FONT, Figure as MplFigure

    fig = MplFigure(figsize=(6.5, 3.6), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(wide.columns))
    few = [i for i, p in enumerate(wide.columns) if p == ZERO_SHOT or p.startswith("few-shot:")]
    for i, (family, row) in enumerate(wide.iterrows()):
        y, color = row.to_numpy(dtype=float) * SCALE, COLORS[i % len(COLORS)]
        ax.plot(x[few], y[few], marker="o", color=color, label=family)  # the K curve
        rest = [j for j in range(len(x)) if j not in few]
        ax.plot(x[rest], y[rest], marker="s", ls="none", color=color)
    ticks = ["0 (zero-shot)" if p == ZERO_SHOT else p.removeprefix("few-shot:") if p.startswith("few-shot:") else p
             for p in wide.columns]
    ax.set_xticks(x, ticks, fontsize=FONT + 0.5)
    ax.set_xlabel("K target-language training examples (few-shot), then other protocols")
    ax.set_ylabel(f"{metric} ({UNIT})")
    ax.set_ylim(0, SCALE)
    ax.set_title(f"Score vs K per family: {title}", fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right center", fontsize=FONT, frameon=False)
    return fig
