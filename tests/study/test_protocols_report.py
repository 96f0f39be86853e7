"""The protocol in conditions and the report's score-vs-K section, from a synthetic store."""

from __future__ import annotations

import pandas as pd
import pytest

from xlt.analysis.condition import Condition, conditions_of, parse_condition
from xlt.analysis.results import build_tables
from xlt.report.protocols import protocol_blocks, protocol_order, score_vs_k
from xlt.store.db import Store

SOURCE = "eng_Latn"
# language -> family in the registry: two Indo-European, one Turkic
TARGETS = {"fra_Latn": "Indo-European", "deu_Latn": "Indo-European", "tur_Latn": "Turkic"}
# protocol -> target score (seed 1; seed 2 adds 0.02); planted: few-shot helps Turkic more
SCORES = {"zero-shot": {"fra_Latn": 0.70, "deu_Latn": 0.60, "tur_Latn": 0.40},
          "few-shot:10": {"fra_Latn": 0.72, "deu_Latn": 0.62, "tur_Latn": 0.50},
          "few-shot:100": {"fra_Latn": 0.76, "deu_Latn": 0.66, "tur_Latn": 0.60},
          "translate-train": {"fra_Latn": 0.74, "deu_Latn": 0.64}}  # tur_Latn: no train split (skipped)


def write(store: Store) -> None:
    for seed in (1, 2):
        for protocol, scores in SCORES.items():
            runs = [(None, {SOURCE: 0.9, **scores})] if protocol == "zero-shot" else \
                [(lang, {lang: v}) for lang, v in scores.items()]
            for target, values in runs:
                rid = f"{protocol}-{target}-{seed}"
                store.start_run(rid, {"study": "p", "model": "m", "task": "sib200", "method": "finetune",
                                      "intermediate": "none", "seed": seed, "protocol": protocol})
                store.finish_run(rid, [{"language": l, "split": "test", "metric": "accuracy",
                                        "value": v + 0.02 * (seed - 1), "n": 204} for l, v in values.items()], [], {})


@pytest.fixture
def scores(tmp_path) -> pd.DataFrame:
    store = Store(str(tmp_path / "r.sqlite"))
    write(store)
    return store.scores_frame("p")


def test_the_protocol_is_part_of_the_condition_and_its_label(scores):
    conds = conditions_of(scores)
    assert [c.label for c in conds] == ["m / finetune / none", "m / finetune / none / few-shot:10",
                                        "m / finetune / none / few-shot:100", "m / finetune / none / translate-train"]
    assert Condition("m", "finetune", "none") == ("m", "finetune", "none", "zero-shot")
    assert parse_condition("m/finetune/none/few-shot:100", conds)["protocol"] == "few-shot:100"
    assert parse_condition("m / finetune / none", conds)["protocol"] == "zero-shot"
    [table] = build_tables(scores)  # the per-language table: one column per protocol, not one mixed column
    assert len(table.conditions) == 4
    few100 = table.conditions.index(Condition("m", "finetune", "none", "few-shot:100"))
    assert table.cells[(few100, "tur_Latn")].mean == pytest.approx(0.61)
    assert table.cells[(few100, SOURCE)].n == 0  # few-shot runs score their target only


def test_score_vs_k_per_family_averages_shared_languages(scores):
    assert protocol_order(["translate-train", "few-shot:100", "zero-shot", "few-shot:10"]) == [
        "zero-shot", "few-shot:10", "few-shot:100", "translate-train"]
    t = score_vs_k(scores, "accuracy").set_index(["family", "protocol"])
    # Turkic is not scored under translate-train: only the languages every protocol scored are averaged
    assert set(t.index.get_level_values("family")) == {"Indo-European"}
    assert t.loc[("Indo-European", "zero-shot"), "mean"] == pytest.approx((0.70 + 0.60) / 2 + 0.01)
    assert t.loc[("Indo-European", "few-shot:100"), "mean"] == pytest.approx((0.76 + 0.66) / 2 + 0.01)
    assert t.loc[("Indo-European", "translate-train"), "n_languages"] == 2
    assert (t["n_seeds"] == 2).all()
    # without translate-train, Turkic comes back with its K curve
    k = score_vs_k(scores[scores["protocol"] != "translate-train"], "accuracy").set_index(["family", "protocol"])
    assert [round(k.loc[("Turkic", p), "mean"], 3) for p in ("zero-shot", "few-shot:10", "few-shot:100")] == [
        0.41, 0.51, 0.61]


def test_the_report_section_has_a_table_and_a_figure_and_only_with_several_protocols(scores):
    blocks = protocol_blocks(scores)
    tables = [b for b in blocks if type(b).__name__ == "Table"]
    figures = [b for b in blocks if type(b).__name__ == "Figure"]
    assert len(tables) == 1 and len(figures) == 1 and figures[0].plot is not None
    assert tables[0].header == ["family", "languages", "zero-shot", "few-shot:10", "few-shot:100", "translate-train"]
    assert tables[0].rows[0] == ["Indo-European", "2", "66.0", "68.0", "72.0", "70.0"]
    assert "target dev split is never used" in blocks[1].text
    assert protocol_blocks(scores[scores["protocol"] == "zero-shot"]) == []
