"""The report's section on the intermediate stages: seed policy, learning rates, and how far each
stage moved the encoder (per-layer relative weight change, linear CKA on the probe set).

Reads only the runs frame: every finished run that started from a stage holds that stage's record
in its `stage` column (`xlt.methods.intermediate.checkpoint.stage_record`). Runs that share a stage
(every task and method of one model, condition and stage seed) share one record; it is counted once.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as MplFigure

from xlt.methods.intermediate.diagnostics import group_order
from xlt.report.document import Block, Figure, Heading, Para, Table


def stage_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct stage of the finished runs: model, intermediate, checkpoint, seed, policy,
    run_seeds (target seeds that started from it), lrs, steps, dev, weight_change, cka_en, cka_targets."""
    cols = ["model", "intermediate", "checkpoint", "seed", "seed_policy", "run_seeds", "lr", "head_lr",
            "projector_lr", "steps", "dev", "weight_change", "cka", "cka_en", "cka_targets", "probe"]
    if "stage" not in runs or runs.empty:
        return pd.DataFrame(columns=cols)
    stages: dict[tuple, dict] = {}
    done = runs[runs["status"] == "done"]
    for model, inter, seed, rec in done[["model", "intermediate", "seed", "stage"]].itertuples(index=False):
        rec = json.loads(rec) if isinstance(rec, str) else rec
        if not isinstance(rec, dict):
            continue
        row = stages.setdefault((model, inter, rec.get("checkpoint")), {
            "model": model, "intermediate": inter, "checkpoint": rec.get("checkpoint"), "seed": rec.get("seed"),
            "seed_policy": rec.get("seed_policy"), "run_seeds": set(), "lr": rec.get("lr"),
            "head_lr": rec.get("head_lr"), "projector_lr": rec.get("projector_lr"), "steps": rec.get("steps"),
            "dev": rec.get("dev"), **_diagnostics(rec.get("diagnostics") or {})})
        row["run_seeds"].add(int(seed))
    return pd.DataFrame(list(stages.values()), columns=cols)


def _diagnostics(d: dict) -> dict:
    return {"weight_change": d.get("weight_change") or {}, "cka": d.get("cka") or {}, "cka_en": d.get("cka_en"),
            "cka_targets": d.get("cka_targets"), "probe": d.get("probe")}


def seed_policy(stages: pd.DataFrame) -> str:
    """'paired' when every run started from the stage trained with its own seed, else 'shared'
    (read from the seeds, not the policy's name: shared seed 1 with target seed 1 is paired too)."""
    paired = all(r.seed in r.run_seeds and len(r.run_seeds) == 1 for r in stages.itertuples())
    return "paired" if paired else "shared"


def _pct(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def _mean(values) -> float:
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(vals)) if vals else float("nan")


def _lr(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:g}"


def layer_groups(groups: list[str], moved_words: bool = False) -> list[tuple[str, list[str]]]:
    """Table columns: embeddings (and the word table when it moved), lower and upper half of the layers."""
    layers = [g for g in groups if g.startswith("layer.")]
    half = (len(layers) + 1) // 2
    out = [("word embeddings", ["word_embeddings"])] if moved_words else []
    out.append(("embeddings", ["embeddings"]))
    for part in (layers[:half], layers[half:]):
        if part:
            a, b = part[0].split(".")[1], part[-1].split(".")[1]
            out.append((f"layers {a}-{b}" if a != b else f"layer {a}", part))
    return out


def stage_blocks(runs: pd.DataFrame) -> list[Block]:
    """Heading, seed-policy and lr paragraphs, the diagnostics table and figure ([] without stages)."""
    stages = stage_frame(runs)
    if stages.empty:
        return []
    policy = seed_policy(stages)
    if policy == "paired":
        seeds = ("Stage seeds: paired (`stage_seed: paired`). Each target seed s starts from its own intermediate "
                 "stage, trained with seed s; the seed unit of every confidence interval is the pair (stage seed, "
                 "target seed), so the intervals include the variance of the intermediate stage.")
    else:
        shared = ", ".join(str(s) for s in sorted({int(s) for s in stages["seed"]}))
        seeds = (f"Stage seeds: shared (`stage_seed: shared`, stage seed {shared}). Every target seed starts from "
                 "the same intermediate stage, so the confidence intervals cover the target fine-tuning's seed "
                 "variance only and do NOT include the variance of the intermediate stage: a difference between "
                 "conditions is a statement about this one stage run.")
    lrs = sorted({(r.lr, r.head_lr, r.projector_lr) for r in stages.itertuples()}, key=str)
    mm = [p for _, _, p in lrs if p is not None and not (isinstance(p, float) and math.isnan(p))]
    lr_text = ("Stage learning rates: encoder " + "/".join(sorted({_lr(a) for a, _, _ in lrs}))
               + ", classifier head " + "/".join(sorted({_lr(b) for _, b, _ in lrs}))
               + (", image projector " + "/".join(sorted({_lr(p) for p in mm})) + " (multimodal stages; "
                  "default: the encoder's lr, so the image side does not adapt faster than the text it is "
                  "compared with)" if mm else "") + ".")
    out: list[Block] = [Heading(2, "Intermediate stages", "stages"), Para(seeds), Para(lr_text)]
    have = stages[stages["weight_change"].map(bool)]
    if have.empty:
        return out + [Para("No stage diagnostics stored (runs computed before xlt recorded them).", small=True)]
    groups = group_order({g for wc in have["weight_change"] for g in wc})
    cols = layer_groups(groups, any(w.get("word_embeddings", 0) > 0 for w in have["weight_change"]))
    probe = next((p for p in have["probe"] if p), {}) or {}
    langs = [lang for lang in probe.get("languages", []) if lang != "en"]
    rows = []
    for (model, inter), g in have.groupby(["model", "intermediate"], sort=True):
        wc = [_mean([np.mean([w.get(m, np.nan) for m in members]) for w in g["weight_change"]])
              for _, members in cols]
        rows.append([model, inter, str(len(g)), str(int(_mean(g["steps"]))) if g["steps"].notna().any() else "-",
                     _pct(_mean(g["dev"])), *[_pct(v) for v in wc], f"{_mean(g['cka_en']):.3f}",
                     f"{_mean(g['cka_targets']):.3f}"])
    caption = (f"How far each intermediate stage moved the encoder, mean over its {'paired ' if policy == 'paired' else ''}"
               "stage seeds. Relative weight change ||W_after - W_before|| / ||W_before|| in % (embeddings: "
               "positions, segments and embedding LayerNorm; layers: mean over the transformer blocks' own "
               "changes). Linear CKA (Kornblith et al. 2019) between the pooled embeddings of the pretrained and "
               f"the trained encoder on the probe set ({probe.get('size', '?')} {probe.get('task', '?')} test names "
               f"per language, parallel across languages): 1 = same geometry; 'targets' = mean over "
               f"{', '.join(langs) or 'none'}. Stage dev: the stage's own English dev accuracy.")
    out.append(Table(caption, ["model", "intermediate", "stages", "steps", "stage dev", *(f"{n} change %" for n, _ in cols),
                               "CKA en", "CKA targets"], rows, left=2))
    out.append(Figure("stage-weight-change", "Relative weight change per layer, per intermediate condition",
                      "Mean over stage seeds of ||W_after - W_before|| / ||W_before|| per parameter group of the "
                      "encoder (input side on the left); the band spans the stage seeds' minimum to maximum.",
                      weight_change_plot(have, groups)))
    return out


def stage_notes(runs: pd.DataFrame) -> list[str]:
    """The report notes' line on the seed unit of the CIs ([] without intermediate stages)."""
    stages = stage_frame(runs)
    if stages.empty:
        return []
    if seed_policy(stages) == "paired":
        return ["Intermediate stages: paired stage seeds (one stage per target seed); the seed unit of the "
                "confidence intervals is stage seed + target seed, so they include the stage's variance."]
    return ["Intermediate stages: one shared stage for every target seed (stage_seed: shared); the confidence "
            "intervals do NOT include the variance of the intermediate stage."]


def weight_change_plot(stages: pd.DataFrame, groups: list[str]) -> MplFigure:
    from xlt.report.plots import COLORS, FONT

    fig = MplFigure(figsize=(max(5.0, 0.45 * len(groups) + 2), 3.4), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(groups))
    models = stages["model"].nunique()
    for i, ((model, inter), g) in enumerate(stages.groupby(["model", "intermediate"], sort=True)):
        vals = np.array([[w.get(grp, np.nan) for grp in groups] for w in g["weight_change"]]) * 100
        color = COLORS[i % len(COLORS)]
        label = f"{model} / {inter}" if models > 1 else inter
        ax.plot(x, np.nanmean(vals, 0), marker="o", ms=3, lw=1.2, color=color, label=f"{label} ({len(g)})")
        if len(g) > 1:
            ax.fill_between(x, np.nanmin(vals, 0), np.nanmax(vals, 0), color=color, alpha=0.15, lw=0)
    ax.set_xticks(x, [g.replace("word_embeddings", "word emb.").replace("embeddings", "emb.") for g in groups],
                  rotation=45, ha="right", fontsize=FONT)
    ax.set_ylabel("relative weight change (%)")
    ax.set_xlabel("encoder parameter group")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT, frameon=False)
    return fig
