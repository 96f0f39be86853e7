"""Report hooks for the typological analyses: groupings beyond the first `--group-by` (word order,
resource class, ...) and the condition x distance interaction regression (xlt.analysis.regression).

    add_typology(ta, examples, groupings, n_boot)   # build.analyse_task: fills ta.groupings, ta.interactions
    typology_blocks(ta, bounds, ...)                # sections.task_blocks: their tables and captions
"""

from __future__ import annotations

from xlt.analysis.families import family_table, paired_comparison
from xlt.analysis.regression import interaction_regression
from xlt.analysis.units import UNIT, points
from xlt.errors import XltError
from xlt.report.document import Block, Bounds, Heading, Para, Table


def add_typology(ta, examples, groupings, n_boot: int) -> None:
    """Per extra grouping: the group table and the comparisons of `ta`; per comparison: the interaction
    regression of A - B on distances to English and resource class."""
    if not ta.metric:
        return
    for by in groupings:
        comps = [(a, b, paired_comparison(examples, a._asdict(), b._asdict(), metric=ta.metric, n_boot=n_boot,
                                          group_by=by)) for a, b, _ in ta.comparisons]
        ta.groupings.append((by, family_table(examples, ta.metric, n_boot=n_boot, group_by=by), comps))
    for a, b, _ in ta.comparisons:
        try:
            ta.interactions += interaction_regression(examples, a._asdict(), b._asdict(), ta.metric, n_boot=n_boot)
        except XltError as exc:
            ta.notes.append(f"{ta.task}: interaction regression {a.label} - {b.label} skipped: {exc}")


def _interaction_table(r: dict) -> Table:
    rows = [[term, points(c["coef"], 1), f"[{points(c['ci_low'], 1)}, {points(c['ci_high'], 1)}]"]
            for term, c in r["coefficients"].iterrows()]
    notes = (" " + "; ".join(r["notes"]) + ".") if r["notes"] else ""
    return Table(f"{r['task']}: OLS {r['formula']} over {r['n_languages']} target languages (R² {r['r2']:.2f}). "
                 f"Each distance coefficient is the condition x distance interaction: points ({UNIT}) that A gains "
                 f"over B per unit of URIEL distance to English (0 = like English, 1 = maximally far), at equal "
                 f"resource class; resource: per Joshi et al. (2020) class (0-5). {r['coverage']}{notes}",
                 ["term", f"coefficient ({UNIT})", "95 % CI"], rows)


def group_heading(col: str) -> Heading:
    """The heading of a grouping's section: "By language family", "All target languages", "By word_order"."""
    return Heading(3, {"family": "By language family", "all": "All target languages"}.get(col, f"By {col}"))


def typology_blocks(ta, bounds: Bounds, family_tables, comparison_table) -> list[Block]:
    """Blocks of `add_typology`'s results, rendered with sections' own table builders (passed in: sections
    imports this module)."""
    out: list[Block] = []
    for by, table, comps in ta.groupings:
        out.append(group_heading(table["group_by"].iloc[0] if len(table) else by))
        if len(table):
            out += family_tables(ta, bounds, table)
        out += [comparison_table(ta, a, b, c, bounds) for a, b, c in comps if len(c)]
    if ta.interactions:
        out.append(Heading(3, "Does the advantage grow with distance from English?"))
        for r in ta.interactions:
            out.append(_interaction_table(r) if r["ok"] else
                       Para(f"{r['a']} - {r['b']}: no interaction regression: {r['message']}."))
        out.append(Para("What this can and cannot claim: " + ta.interactions[0]["claim"] + " The languages are "
                        "those of the benchmark, not a random sample, so the between-language term is an "
                        "approximation.", small=True))
    return out
