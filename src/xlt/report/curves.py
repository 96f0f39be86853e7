"""Fine-tuning curves in the report: per task, English dev score and training loss vs optimizer step,
one line per condition (mean over seeds) with a band of ± 1 std over seeds.

The points come from `Store.curves_frame` (one row per run and curve point: `dev` at evaluations,
NaN between them; `train_loss` = mean over the steps since the run's previous point). Tasks whose runs
stored no curve (retrieval, which does not train; runs of an xlt that did not store curves) get no figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xlt.analysis.condition import FIELDS, Condition
from xlt.analysis.units import SCALE, UNIT
from xlt.report import plots
from xlt.report.document import Block, Figure, Heading


def add_curves(blocks: list[Block], curves: pd.DataFrame) -> list[Block]:
    """`blocks` with a curves figure at the end of each task's section (`Heading(2, anchor='task-<task>')`)
    whose runs stored curve points."""
    out = list(blocks)
    for task, g in sorted(curves.groupby("task"), reverse=True):  # from the end: earlier indices stay valid
        start = next((i for i, b in enumerate(out) if isinstance(b, Heading) and b.anchor == f"task-{task}"), None)
        if start is None:  # a task the report does not show (no test scores)
            continue
        end = next((i for i in range(start + 1, len(out)) if isinstance(out[i], Heading) and out[i].level <= 2),
                   len(out))
        out[end:end] = [Heading(3, "Fine-tuning curves"), curve_figure(task, g)]
    return out


def summarize(curves: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean, std and number of seeds of `value` per condition and step (rows where it is present)."""
    g = curves.dropna(subset=[value]).groupby([*FIELDS, "step"], sort=True)[value]
    return g.agg(mean="mean", std="std", n="count").reset_index()


def curve_figure(task: str, curves: pd.DataFrame) -> Figure:
    metric = _main_metric(task)
    n_seeds = curves.groupby(list(FIELDS))["seed"].nunique()
    seeds = (f"{n_seeds.min()}" if n_seeds.min() == n_seeds.max() else f"{n_seeds.min()}-{n_seeds.max()}")
    log = bool((curves["train_loss"].dropna() > 0).all())  # a loss that can be <= 0 (some method's) stays linear
    return Figure(f"curves-{task}", f"{task}: fine-tuning curves",
                  f"Left: English dev {metric} ({UNIT}) at each evaluation vs optimizer step; right: mean training "
                  f"loss over the steps between points{' (log scale)' if log else ''}. Lines: mean over seeds ({seeds} per condition); "
                  "bands: ± 1 std over seeds. Each run keeps the weights of its best dev point.",
                  plot(task, curves, metric, log))


def plot(task: str, curves: pd.DataFrame, metric: str, log: bool = True):
    dev, loss = summarize(curves, "dev"), summarize(curves, "train_loss")
    fig = plots.Figure(figsize=(10, 3.8), layout="constrained")
    ax_dev, ax_loss = fig.subplots(1, 2)
    for c, cond in enumerate(sorted({Condition(*k) for k in curves[list(FIELDS)].itertuples(index=False)})):
        color = plots.COLORS[c % len(plots.COLORS)]
        for ax, frame, scale in ((ax_dev, dev, SCALE), (ax_loss, loss, 1.0)):
            g = frame[(frame[list(FIELDS)] == pd.Series(cond._asdict())).all(axis=1)]
            if g.empty:
                continue
            x, mean = g["step"].to_numpy(), g["mean"].to_numpy() * scale
            std = np.nan_to_num(g["std"].to_numpy()) * scale  # one seed: no band
            ax.plot(x, mean, color=color, lw=1.3, marker="o" if ax is ax_dev else None, ms=3,
                    label=cond.label if ax is ax_dev else None)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.18, lw=0)
    ax_dev.set_ylabel(f"English dev {metric} ({UNIT})")
    ax_loss.set_ylabel("training loss")
    if log and len(loss):
        ax_loss.set_yscale("log")
    for ax in (ax_dev, ax_loss):
        ax.set_xlabel("optimizer step")
        ax.grid(alpha=0.3)
    ax_dev.set_title(f"dev {metric}", fontsize=9)
    ax_loss.set_title("training loss", fontsize=9)
    fig.suptitle(f"{task}: fine-tuning curves (mean ± std over seeds)", fontsize=10)
    fig.legend(loc="outside lower center", ncol=min(3, len(ax_dev.lines) or 1), fontsize=plots.FONT, frameon=False)
    return fig


def _main_metric(task: str) -> str:
    from xlt.tasks import find_spec

    spec = find_spec(task)  # None: a task stored by another xlt version
    return spec.main_metric if spec else "score"
