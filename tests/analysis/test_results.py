"""Result tables from hand-made score rows: per-language mean/std over seeds and the summaries."""

from __future__ import annotations

import csv
import io
import math
import statistics

import pandas as pd
import pytest

from xlt.analysis.results import build_tables, to_csv, to_markdown, to_text

# seed -> language -> accuracy, for model m1 (3 seeds); English is the source
M1 = {
    1: {"eng_Latn": 0.90, "fra_Latn": 0.70, "rus_Cyrl": 0.50},
    2: {"eng_Latn": 0.80, "fra_Latn": 0.60, "rus_Cyrl": 0.60},
    3: {"eng_Latn": 0.85, "fra_Latn": 0.65, "rus_Cyrl": 0.40},
}
# model m2: one seed, no rus_Cyrl
M2 = {7: {"eng_Latn": 0.50, "fra_Latn": 0.30}}


def _rows(model, per_seed, task="sib200", method="finetune", intermediate="none", metric="accuracy"):
    """Score rows as `Store.scores_frame` returns them (concatenate several with +, then `_frame`)."""
    return [
        {"study": "s", "model": model, "task": task, "method": method, "intermediate": intermediate,
         "protocol": "zero-shot", "seed": seed, "run_id": f"{model}-{seed}", "language": lang, "metric": metric, "value": v, "n": 10}
        for seed, langs in per_seed.items() for lang, v in langs.items()
    ]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


@pytest.fixture
def table():
    [t] = build_tables(_frame(_rows("m1", M1) + _rows("m2", M2)))
    return t


def _cell(t, model, key):
    i = [c.model for c in t.conditions].index(model)
    return t.cells[(i, key)]


def test_table_shape(table):
    assert table.task == "sib200" and table.metric == "accuracy" and table.source == "eng_Latn"
    assert table.languages == ["eng_Latn", "fra_Latn", "rus_Cyrl"]  # source first, then sorted
    assert [c.model for c in table.conditions] == ["m1", "m2"]


@pytest.mark.parametrize("lang", ["eng_Latn", "fra_Latn", "rus_Cyrl"])
def test_per_language_mean_and_sample_std(table, lang):
    xs = [M1[s][lang] for s in M1]
    mean, std, n = _cell(table, "m1", lang)
    assert n == 3
    assert mean == pytest.approx(statistics.mean(xs))
    assert std == pytest.approx(statistics.stdev(xs))  # ddof=1


def test_literal_values(table):
    assert _cell(table, "m1", "eng_Latn") == pytest.approx((0.85, 0.05, 3))
    assert _cell(table, "m1", "avg_incl_src") == pytest.approx((2 / 3, 1 / 30, 3))
    assert _cell(table, "m1", "avg_excl_src")[0] == pytest.approx(0.575)
    assert _cell(table, "m1", "transfer_gap")[0] == pytest.approx(0.275)


def test_averages_include_and_exclude_the_source(table):
    incl = [statistics.mean(M1[s].values()) for s in M1]
    excl = [statistics.mean(v for l, v in M1[s].items() if l != "eng_Latn") for s in M1]
    assert _cell(table, "m1", "avg_incl_src") == pytest.approx((statistics.mean(incl), statistics.stdev(incl), 3))
    assert _cell(table, "m1", "avg_excl_src") == pytest.approx((statistics.mean(excl), statistics.stdev(excl), 3))
    # m2 (one seed): std is 0, and the averages use only the languages it has
    assert _cell(table, "m2", "avg_incl_src") == pytest.approx((0.4, 0.0, 1))
    assert _cell(table, "m2", "avg_excl_src") == pytest.approx((0.3, 0.0, 1))


def test_transfer_gap_per_seed_then_averaged(table):
    gaps = [M1[s]["eng_Latn"] - statistics.mean(v for l, v in M1[s].items() if l != "eng_Latn") for s in M1]
    mean, std, n = _cell(table, "m1", "transfer_gap")
    assert (mean, std, n) == pytest.approx((statistics.mean(gaps), statistics.stdev(gaps), 3))
    # the mean equals source mean - avg_excl mean ...
    assert mean == pytest.approx(_cell(table, "m1", "eng_Latn")[0] - _cell(table, "m1", "avg_excl_src")[0])
    # ... but the std is that of the per-seed gaps, not of either term
    assert std == pytest.approx(0.0661437828)
    assert std != pytest.approx(_cell(table, "m1", "eng_Latn")[1])
    assert std != pytest.approx(_cell(table, "m1", "avg_excl_src")[1])


def test_missing_language_is_an_empty_cell(table):
    mean, std, n = _cell(table, "m2", "rus_Cyrl")
    assert n == 0 and math.isnan(mean)
    assert _cell(table, "m2", "transfer_gap") == pytest.approx((0.2, 0.0, 1))


def test_one_table_per_task_and_metric_and_condition_labels():
    rows = (_rows("m1", M1) + _rows("m1", M1, method="epar") + _rows("m1", M1, intermediate="mlm")
            + _rows("m1", {1: {"en": 0.9, "de": 0.5}}, task="other-task")
            + _rows("m1", {1: {"eng_Latn": 0.2, "fra_Latn": 0.1}}, metric="f1"))
    tables = build_tables(_frame(rows))
    assert [(t.task, t.metric) for t in tables] == [("other-task", "accuracy"), ("sib200", "accuracy"),
                                                    ("sib200", "f1")]
    other, sib, _ = tables
    assert other.source == "en" and other.languages == ["en", "de"]  # unregistered task: "en" source
    assert sorted(c.label for c in sib.conditions) == ["m1 / epar / none", "m1 / finetune / mlm",
                                                      "m1 / finetune / none"]


def test_markdown(table):
    md = to_markdown([table])
    lines = md.splitlines()
    assert "### sib200 — accuracy" in lines[0]
    assert "| language | m1 / finetune / none | m2 / finetune / none |" in lines
    assert lines[2].startswith("Scores x100, mean ± std over seeds")
    assert "|---|---:|---:|" in lines
    assert "| eng_Latn | 85.0 ± 5.0 | 50.0 |" in lines
    assert "| fra_Latn | 65.0 ± 5.0 | 30.0 |" in lines
    assert "| rus_Cyrl | 50.0 ± 10.0 | - |" in lines
    assert "| **avg (incl. eng_Latn)** | **66.7 ± 3.3** | **40.0** |" in lines
    assert "| **avg (excl. eng_Latn)** | **57.5 ± 4.3** | **30.0** |" in lines
    assert "| **transfer gap (eng_Latn - avg excl.)** | **27.5 ± 6.6** | **20.0** |" in lines
    assert "| seeds | 3 | 1 |" in lines


def test_text(table):
    text = to_text([table])
    assert "sib200 — accuracy" in text
    assert "(x100, mean ± std over seeds; zero-shot from eng_Latn)" in text
    eng = next(l for l in text.splitlines() if l.startswith("eng_Latn"))
    assert eng.split() == ["eng_Latn", "85.0", "±", "5.0", "50.0"]


def test_csv(table):
    records = list(csv.DictReader(io.StringIO(to_csv([table]))))
    assert list(records[0]) == ["task", "metric", "model", "method", "intermediate", "protocol", "row_type",
                                "language", "mean_x100", "std_x100", "n_seeds"]
    assert len(records) == 2 * (3 + 3)  # 2 conditions x (3 languages + 3 summaries)
    by = {(r["model"], r["language"]): r for r in records}
    eng = by[("m1", "eng_Latn")]
    assert eng["row_type"] == "language" and eng["task"] == "sib200" and eng["method"] == "finetune"
    assert float(eng["mean_x100"]) == pytest.approx(85.0) and float(eng["std_x100"]) == pytest.approx(5.0)
    assert int(eng["n_seeds"]) == 3
    gap = by[("m1", "transfer_gap")]
    assert gap["row_type"] == "summary" and float(gap["mean_x100"]) == pytest.approx(27.5)
    assert by[("m2", "rus_Cyrl")]["n_seeds"] == "0"
    assert float(by[("m2", "avg_incl_src")]["mean_x100"]) == pytest.approx(40.0)
