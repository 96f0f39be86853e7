"""The study stored with a run, written back as a study file (`bundle.raw_study`), parses to the same study:
what `study.yaml` in a bundle and `xlt verify` rely on (conditions with settings, method settings)."""

from __future__ import annotations

import json

import yaml

from xlt.repro.bundle import pip_freeze, raw_study
from xlt.study.config import parse_study, to_dict


def test_stored_study_round_trips_with_condition_and_method_settings():
    raw = {"name": "rt", "models": ["me5-small-q4", "/models/x"], "seeds": [1, 3],
           "tasks": [{"name": "sib200", "data_dir": "/data/sib", "languages": ["fra_Latn", "rus_Cyrl"]},
                     "cldr-names"],
           "methods": ["finetune", "epar"], "method_settings": {"epar": {"push_norm": 0.3}},
           "intermediate": ["none", {"condition": "text:digits-nli", "steps": 7, "lr": 1e-3},
                            {"condition": "multimodal:digits-ve", "fusion": "late"}],
           "train": {"lr": 3e-5, "precision": "fp32"}, "runtime": {"threads": 1, "save": "best"}}
    first = parse_study(raw)
    stored = json.loads(json.dumps(to_dict(first), default=list))  # as the runs table keeps it (JSON)
    again = parse_study(yaml.safe_load(yaml.safe_dump(raw_study(stored))))  # as study.yaml is read
    assert json.loads(json.dumps(to_dict(again), default=list)) == stored
    assert again.intermediate == first.intermediate and any("@" in label for label in again.intermediate)


def test_pip_freeze_lists_the_installed_libraries():
    import torch
    import transformers

    lines = pip_freeze()
    assert f"torch=={torch.__version__}" in lines and f"transformers=={transformers.__version__}" in lines
    assert lines == sorted(lines, key=lambda l: l.split("==")[0].lower()) and len(lines) == len({l.split("==")[0].lower() for l in lines})
