"""The report's intermediate-stage section from the runs frame: seed policy, lrs, diagnostics table, figure."""

from __future__ import annotations

import pandas as pd

from xlt.report.document import Figure, Para, Table
from xlt.report.stage import seed_policy, stage_blocks, stage_frame, stage_notes


def _record(seed, run_seed, shift, projector=None, words=0.0):
    return {"checkpoint": f"ck-{seed}-{shift}", "seed": seed, "run_seed": run_seed, "lr": 1e-4, "head_lr": 3e-3,
            "projector_lr": projector, "steps": 100, "dev": 0.5 + shift,
            "diagnostics": {"weight_change": {"word_embeddings": words, "embeddings": 0.01 * shift,
                                              "layer.0": 0.02 * shift, "layer.1": 0.04 * shift,
                                              "layer.2": 0.06 * shift},
                            "cka": {"en": 1 - shift, "de": 1 - 2 * shift, "ja": 1 - 4 * shift},
                            "cka_en": 1 - shift, "cka_targets": 1 - 3 * shift,
                            "probe": {"task": "cldr-names", "languages": ["en", "de", "ja"], "size": 128}}}


def _runs(shared: bool, words: float = 0.0) -> pd.DataFrame:
    rows = []
    for task in ("sib200", "xcopa"):  # two tasks start from the same stages: counted once
        for seed in (1, 2):
            rows.append({"model": "m", "intermediate": "none", "seed": seed, "status": "done", "stage": None})
            for inter, shift, proj in (("text:x", 0.1, None), ("multimodal:x", 0.2, 1e-4)):
                stage_seed = 1 if shared else seed
                s = shift * (1 if stage_seed == 1 else 3)  # stage seed 2 moved the encoder 3x as far
                rows.append({"model": "m", "intermediate": inter, "seed": seed, "status": "done", "task": task,
                             "stage": {**_record(stage_seed, seed, s, proj, words), "checkpoint": f"{inter}-{stage_seed}"}})
    rows.append({"model": "m", "intermediate": "text:x", "seed": 3, "status": "failed", "stage": None})
    return pd.DataFrame(rows)


def test_paired_stages_are_counted_once_and_averaged_over_stage_seeds():
    runs = _runs(shared=False)
    stages = stage_frame(runs)
    assert len(stages) == 4 and seed_policy(stages) == "paired"  # 2 conditions x 2 stage seeds
    blocks = stage_blocks(runs)
    text = " ".join(b.text for b in blocks if isinstance(b, Para))
    assert "Stage seeds: paired" in text and "include the variance of the intermediate stage" in text
    assert "encoder 0.0001, classifier head 0.003, image projector 0.0001" in text
    (table,) = [b for b in blocks if isinstance(b, Table)]
    assert table.header == ["model", "intermediate", "stages", "steps", "stage dev", "embeddings change %",
                            "layers 0-1 change %", "layer 2 change %", "CKA en", "CKA targets"]
    rows = {r[1]: r for r in table.rows}
    # text: shifts 0.1 (seed 1) and 0.3 (seed 2): mean 0.2; layers 0-1 = mean(0.02, 0.04) * shift
    assert rows["text:x"][2:] == ["2", "100", "70.00", "0.20", "0.60", "1.20", "0.800", "0.400"]
    assert rows["multimodal:x"][7:] == ["2.40", "0.600", "-0.200"]
    assert any(isinstance(b, Figure) and b.key == "stage-weight-change" for b in blocks)
    assert len(stage_notes(runs)) == 1 and "stage seed + target seed" in stage_notes(runs)[0]


def test_shared_stage_is_reported_as_not_covering_stage_variance():
    runs = _runs(shared=True, words=0.003)
    stages = stage_frame(runs)
    assert len(stages) == 2 and seed_policy(stages) == "shared"
    blocks = stage_blocks(runs)
    text = " ".join(b.text for b in blocks if isinstance(b, Para))
    assert "Stage seeds: shared" in text and "stage seed 1" in text and "do NOT include the variance" in text
    assert "do NOT include" in stage_notes(runs)[0]
    (table,) = [b for b in blocks if isinstance(b, Table)]
    assert "word embeddings change %" in table.header  # shown once the word table moved
    assert [r[2] for r in table.rows] == ["1", "1"]


def test_no_stages_no_section():
    runs = _runs(shared=False)
    runs = runs[runs["intermediate"] == "none"]
    assert stage_blocks(runs) == [] and stage_notes(runs) == []
    assert stage_blocks(runs.drop(columns="stage")) == []  # a frame from before the column existed
