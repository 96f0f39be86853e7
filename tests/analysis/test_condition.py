"""One condition type: its label, the --compare argument that names it, and the default comparison pairs."""

from __future__ import annotations

import pandas as pd
import pytest

from xlt.analysis.condition import Condition, conditions_of, default_pairs, parse_condition, resolve
from xlt.errors import XltError

CONDS = [Condition("m1", "finetune", "none"), Condition("m2", "finetune", "none"), Condition("m1", "epar", "none"),
         Condition("m2", "epar", "text:xnli")]


def test_label_spells_out_every_part_and_parses_back():
    assert Condition("xlmr-base", "finetune", "none").label == "xlmr-base / finetune / none"
    for c in CONDS:
        assert Condition(**parse_condition(c.label, CONDS)) == c
    path = Condition("/models/bert", "finetune", "none")  # a model given as a directory keeps its slashes
    assert parse_condition(path.label, [path]) == path._asdict()


def test_conditions_of_a_frame_are_sorted_and_distinct():
    frame = pd.DataFrame([c._asdict() | {"seed": s} for c in CONDS for s in (1, 2)])
    assert conditions_of(frame) == sorted(CONDS) and all(isinstance(c, Condition) for c in conditions_of(frame))


def test_zero_shot_comes_first_then_few_shot_by_k_then_translate_train():
    protos = ["translate-train", "few-shot:100", "zero-shot", "few-shot:10"]
    frame = pd.DataFrame([Condition("m1", "finetune", "none", p)._asdict() for p in protos])
    assert [c.protocol for c in conditions_of(frame)] == ["zero-shot", "few-shot:10", "few-shot:100", "translate-train"]


def test_resolve_names_one_condition_or_says_why_not():
    assert resolve({"model": "m2", "method": "epar"}, CONDS, "t") == CONDS[3]
    assert resolve({"model": "m3"}, CONDS, "t") is None
    with pytest.raises(XltError, match="finetune matches several conditions in t: m1 / finetune / none; m2"):
        resolve({"method": "finetune"}, CONDS, "t")
    with pytest.raises(XltError, match=r"condition keys \['modle'\] unknown"):
        resolve({"modle": "m1"}, CONDS, "t")


def test_default_pairs_differ_in_one_part():
    assert default_pairs(CONDS) == [(CONDS[2], CONDS[0]), (CONDS[0], CONDS[1])]
