"""The report's figures (matplotlib, Agg backend; no pyplot state): each function returns a Figure
with a title and labelled axes, sized in inches from the number of rows so 100 languages stay legible.

Score intervals are clipped to [0, 100] as in the tables (see document.Bounds)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless: never open a window, whatever MPLBACKEND says

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from xlt.analysis.condition import FIELDS, conditions_of  # noqa: E402
from xlt.analysis.units import SCALE, UNIT  # noqa: E402

ROW = 0.17  # inches per heatmap row: 7 pt labels with a little air
FONT = 7
CMAP = colormaps["viridis"]
COLORS = colormaps["tab10"].colors
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "xlt", "font.size": 8})  # text stays text


def save(fig: Figure, svg, pdf) -> None:
    fig.savefig(svg, format="svg", bbox_inches="tight")
    fig.savefig(pdf, format="pdf", bbox_inches="tight")


def _wrap(label: str) -> str:
    return label.replace(" / ", "\n")


def heatmap(table, names: dict[str, str], families: dict[str, str]) -> Figure:
    """Languages (rows, grouped by family, source first) x conditions (columns), values in points."""
    src = table.source
    order = [src] if src in table.languages else []
    groups = [("source", [src])] if order else []
    for fam in sorted({families[l] for l in table.languages if l != src}):
        langs = sorted((l for l in table.languages if l != src and families[l] == fam), key=lambda l: names[l])
        groups.append((fam, langs))
        order += langs
    values = np.array([[table.cells[(i, l)][0] for i in range(len(table.conditions))] for l in order]) * SCALE
    n, k = values.shape
    labels = [c.label for c in table.conditions]
    col_w = max(0.9, 0.06 * max(len(p) for lab in labels for p in lab.split(" / ")))
    rows = [f"{names[l]} ({l})" for l in order]
    name_w = 0.3 + 0.052 * max(len(r) for r in rows)  # 7 pt characters are about 0.05 in wide
    fam_w = 0.3 + 0.052 * max(len(f"{fam} ({len(langs)})") for fam, langs in groups)
    cbar_w, top, bottom = 0.9, 1.1, 0.3
    width, height = fam_w + name_w + k * col_w + cbar_w, n * ROW + top + bottom
    fig = Figure(figsize=(width, height))
    box = lambda x, w: [x / width, bottom / height, w / width, n * ROW / height]
    ax = fig.add_axes(box(fam_w + name_w, k * col_w))
    im = ax.imshow(values, aspect="auto", cmap=CMAP, vmin=0, vmax=SCALE, interpolation="nearest")
    for (i, j), v in np.ndenumerate(values):
        if not np.isnan(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=FONT - 0.5,
                    color="black" if v > 55 else "white")
    ax.set_yticks(range(n), rows, fontsize=FONT)
    ax.set_xticks(range(k), [_wrap(lab) for lab in labels], fontsize=FONT)
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    strip = fig.add_axes(box(0.05, fam_w - 0.1), sharey=ax)
    strip.set_xlim(0, 1)
    strip.axis("off")
    start = 0
    for g, (fam, langs) in enumerate(groups):
        end = start + len(langs)
        strip.axhspan(start - 0.5, end - 0.5, color="#e8e8e8" if g % 2 else "#f7f7f7", lw=0)
        strip.text(0.97, (start + end - 1) / 2, f"{fam} ({len(langs)})" if fam != "source" else "source",
                   ha="right", va="center", fontsize=FONT)
        if start:
            ax.axhline(start - 0.5, color="white", lw=1.5)
        start = end
    ax.set_ylim(n - 0.5, -0.5)  # the strip's spans must not widen the shared axis
    ax.set_title(f"{table.task}: {table.metric} ({UNIT}) per language and condition", fontsize=9, pad=34)
    strip.text(0.97, -1.2, "family (languages)", ha="right", va="bottom", fontsize=FONT, style="italic")
    cax = fig.add_axes([(width - cbar_w + 0.15) / width, bottom / height, 0.12 / width,
                        min(n * ROW, 3.0) / height])
    fig.colorbar(im, cax=cax).set_label(f"{table.metric} ({UNIT})", fontsize=FONT)
    return fig


def family_bars(fam: pd.DataFrame, metric: str) -> Figure:
    """Horizontal bars per family (best mean on top), one bar per condition, CI error bars."""
    conds = conditions_of(fam)
    order = fam.groupby("family")["mean"].mean().sort_values().index.tolist()
    n_lang = fam.groupby("family")["n_languages"].max()
    h = 0.8 / len(conds)
    fig = Figure(figsize=(8, 1.3 + len(order) * (0.12 + 0.16 * len(conds))), layout="constrained")
    ax = fig.add_subplot()
    for c, cond in enumerate(conds):
        g = fam.groupby(list(FIELDS)).get_group(cond).set_index("family").reindex(order)
        y = np.arange(len(order)) + 0.4 - h * (c + 0.5)  # first condition on top, as in the legend
        mean = g["mean"].to_numpy() * SCALE
        lo, hi = np.clip(g["ci_low"], 0, 1) * SCALE, np.clip(g["ci_high"], 0, 1) * SCALE
        color = COLORS[c % len(COLORS)]
        ax.barh(y, mean, height=h * 0.9, color=color, alpha=0.85, label=cond.label)
        ax.errorbar(mean, y, xerr=[mean - lo, hi - mean], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        if g["source_score"].notna().any():
            ax.axvline(g["source_score"].dropna().iloc[0] * SCALE, color=color, ls="--", lw=1)
    ax.set_yticks(range(len(order)), [f"{f} ({n_lang[f]})" for f in order], fontsize=FONT + 0.5)
    ax.set_xlim(0, SCALE)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel(f"{metric} ({UNIT}), mean over the family's languages, 95 % CI")
    ax.set_ylabel("language family (number of languages)")
    ax.set_title(f"{metric} by language family (dashed: source language)", fontsize=9)
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", ncol=min(2, len(conds)), fontsize=FONT, frameon=False)
    return fig


def family_overview(fam: pd.DataFrame, metric: str) -> Figure:
    """Languages per family (bar length), coloured and labelled by the family's mean score."""
    per = fam.groupby("family").agg(n=("n_languages", "max"), mean=("mean", "mean")).sort_values(["n", "mean"])
    fig = Figure(figsize=(8, 1.2 + 0.22 * len(per)))
    ax = fig.add_subplot()
    norm = Normalize(0, SCALE)
    ax.barh(range(len(per)), per["n"], color=CMAP(norm(per["mean"] * SCALE)), edgecolor="#555", lw=0.4)
    for i, (n, m) in enumerate(zip(per["n"], per["mean"])):
        ax.text(n, i, f"  {n} · mean {m * SCALE:.1f}", va="center", fontsize=FONT)
    ax.set_yticks(range(len(per)), per.index, fontsize=FONT + 0.5)
    ax.set_xlim(0, per["n"].max() * 1.25)
    ax.set_xlabel("number of evaluated languages")
    ax.set_ylabel("language family")
    ax.set_title(f"Languages per family, coloured by mean {metric} ({UNIT})", fontsize=9)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm, CMAP), ax=ax, pad=0.02).set_label(f"mean {metric} ({UNIT})")
    return fig


def _fit_band(ax, x: np.ndarray, y: np.ndarray, color) -> None:
    """Least-squares line of y on x with the 95 % CI of the fitted mean (needs 3+ distinct x)."""
    import statsmodels.api as sm

    if len(np.unique(x)) < 3:
        return
    fit = sm.OLS(y, sm.add_constant(x)).fit()
    grid = np.linspace(x.min(), x.max(), 50)
    band = fit.get_prediction(sm.add_constant(grid)).summary_frame(alpha=0.05)
    ax.plot(grid, band["mean"], color=color, lw=1.2)
    ax.fill_between(grid, band["mean_ci_lower"], band["mean_ci_upper"], color=color, alpha=0.18, lw=0)


def gap_scatter(data: pd.DataFrame, task: str) -> Figure:
    """One panel per URIEL distance (gap vs distance, fit + band per condition) and one for script match."""
    from xlt.analysis.families import DISTANCES

    kinds = [d for d in DISTANCES if d in data and data[d].notna().any()]
    fig = Figure(figsize=(10, 6.6), layout="constrained")
    axes = fig.subplots(2, 3, sharey=True).ravel()
    conds = sorted(data["condition"].unique())
    rng = np.random.default_rng(0)  # jitter of the script panel only
    for c, cond in enumerate(conds):
        g, color = data[data["condition"] == cond], COLORS[c % len(COLORS)]
        for ax, kind in zip(axes, kinds):
            ok = g[kind].notna()
            x, y = g.loc[ok, kind].to_numpy(float), g.loc[ok, "gap"].to_numpy(float) * SCALE
            ax.scatter(x, y, s=12, color=color, alpha=0.7, lw=0, label=cond)
            _fit_band(ax, x, y, color)
        if "same_script" in g:
            ax, s = axes[5], g.dropna(subset=["same_script"])
            xs = s["same_script"].to_numpy(float) + (c - (len(conds) - 1) / 2) * 0.15
            ax.scatter(xs + rng.uniform(-0.05, 0.05, len(xs)), s["gap"] * SCALE, s=12, color=color, alpha=0.7, lw=0)
            for v, m in s.groupby("same_script")["gap"].mean().items():
                ax.hlines(m * SCALE, v - 0.25, v + 0.25, color=color, lw=2)
    for ax, kind in zip(axes, kinds):
        ax.set_xlabel(f"{kind} distance to English")
        ax.set_title(kind, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(kinds):5]:
        ax.axis("off")
    axes[5].set_xticks([0, 1], ["other script", "same script"])
    axes[5].set_xlim(-0.6, 1.6)
    axes[5].set_xlabel("script compared with English")
    axes[5].set_title("script match", fontsize=9)
    for ax in axes[::3]:
        ax.set_ylabel(f"transfer gap ({UNIT})")
    fig.suptitle(f"{task}: transfer gap (English minus language) vs distance to English", fontsize=10)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncol=min(3, len(conds)), fontsize=FONT, frameon=False)
    return fig
