"""family_table / paired_comparison grouped by each registry column (real registry), and `xlt families
--group-by` through the CLI's argument parser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xlt import languages
from xlt.analysis import families
from xlt.errors import XltError

LANGS = ["eng_Latn", "deu_Latn", "jpn_Jpan", "hin_Deva", "swh_Latn", "arb_Arab", "zul_Latn", "tur_Latn"]


def _examples(n=40, seeds=(1, 2)):
    rng, rows = np.random.default_rng(0), []
    for model in ("mbert", "xlmr"):
        for seed in seeds:
            for lang in LANGS:
                rows.append({"task": "sib200", "model": model, "method": "finetune", "intermediate": "none", "protocol": "zero-shot",
                             "language": lang, "seed": seed, "metric": "accuracy",
                             "scores": (rng.random(n) < 0.6).astype(float)})
    return pd.DataFrame(rows)


@pytest.mark.filterwarnings("ignore:language registry has no")
@pytest.mark.parametrize("by", [*languages.GROUPINGS, "word_order_source", "iso639_1"])
def test_family_table_groups_by_each_registry_column(by):
    table = families.family_table(_examples(), n_boot=100, group_by=by)
    targets = [l for l in LANGS if l != "eng_Latn"]
    expected = families.language_groups(targets, by)
    assert set(table["group_by"]) == {languages.group_column(by)}
    for _, r in table.iterrows():
        members = r["languages"].split(",")
        assert {expected[l] for l in members} == {r["family"]}, "every language sits in its own group"
    assert sorted(l for ls in table[table["model"] == "xlmr"]["languages"] for l in ls.split(",")) == sorted(targets)
    text = families.to_text(table)
    assert languages.group_column(by) in text.splitlines()[0] and "seed(s)" in text


def test_resource_groups_are_named_joshi_classes():
    groups = families.language_groups(["deu_Latn", "swh_Latn", "zul_Latn", "hin_Deva"], "resource")
    assert groups == {"deu_Latn": "5 Winners", "swh_Latn": "2 Hopefuls", "zul_Latn": "2 Hopefuls",
                      "hin_Deva": "4 Underdogs"}


def test_word_order_groups():
    groups = families.language_groups(["deu_Latn", "jpn_Jpan", "arb_Arab"], "word-order")
    assert groups == {"deu_Latn": "SVO", "jpn_Jpan": "SOV", "arb_Arab": "VSO"}


def test_paired_comparison_by_word_order_and_its_coverage_note():
    table = families.paired_comparison(_examples(), {"model": "xlmr"}, {"model": "mbert"}, n_boot=100,
                                       group_by="word-order")
    assert set(table["family"]) == {"SVO", "SOV", "VSO"}
    assert (table["n_perm"] >= 1).all() and (table["p_min"] <= 0.05 / (20 * len(table))).all()
    note = families.coverage(table)
    assert "2 seed(s)" in note and f"Holm over the {len(table)} rows" in note and "not resampled" in note


def test_all_pools_every_target_language_into_one_group():
    table = families.paired_comparison(_examples(), {"model": "xlmr"}, {"model": "mbert"}, n_boot=100, group_by="all")
    [row] = table.to_dict("records")
    assert row["family"] == "all targets" and row["n_languages"] == len(LANGS) - 1  # the source is not a target
    per_language = families.paired_comparison(_examples(), {"model": "xlmr"}, {"model": "mbert"}, n_boot=100,
                                              level="language")
    assert row["diff"] == pytest.approx(per_language["diff"].mean())  # the unweighted mean over the languages


def test_unknown_grouping_is_one_line_listing_the_valid_ones():
    with pytest.raises(XltError) as e:
        families.family_table(_examples(), n_boot=100, group_by="continent")
    assert "continent" in str(e.value) and "word-order" in str(e.value) and "\n" not in str(e.value)
