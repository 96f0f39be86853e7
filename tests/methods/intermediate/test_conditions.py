"""Intermediate conditions in study files, and the intermediate tasks' data (digits twins, SNLI-VE files)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from xlt.errors import ConfigError, DataError
from xlt.methods.intermediate import condition_from_label, parse_conditions
from xlt.methods.intermediate.conditions import stage_settings
from xlt.methods.intermediate.data import MULTIMODAL_TASKS
from xlt.study.config import load_study, parse_study
from xlt.tasks import get_task
from xlt.tasks.digits import WORDS, digits, pairs
from xlt.training.settings import TrainSettings

FOUR = ["none", "text:digits-nli", "multimodal:digits-ve", "multimodal-shuffled:digits-ve"]


def _study(intermediate) -> dict:
    return {"name": "s", "models": ["me5-small-q4"], "tasks": ["cldr-names"], "intermediate": intermediate}


def test_plain_conditions_keep_readable_labels():
    cfg = parse_study(_study(FOUR))
    assert cfg.intermediate == FOUR
    assert [c.kind for c in cfg.intermediate_setup.values()] == ["none", "text", "multimodal", "multimodal-shuffled"]
    assert condition_from_label("multimodal:digits-ve") == cfg.intermediate_setup["multimodal:digits-ve"]


def test_stage_settings_are_shared_by_all_conditions_and_change_the_labels():
    conds = parse_conditions(["none", "text:digits-nli", {"condition": "multimodal:digits-ve", "steps": 40,
                                                          "lr": "3e-4", "fusion": "late"},
                              "multimodal-shuffled:digits-ve"], "s.yaml:3")
    labels = list(conds)
    assert labels[0] == "none" and all("@" in label for label in labels[1:])
    text, mm, shuffled = (conds[label] for label in labels[1:])
    assert text.stage == {"steps": 40, "lr": 3e-4}  # fusion concerns multimodal conditions only
    assert mm.stage == shuffled.stage == {"steps": 40, "lr": 3e-4, "fusion": "late"}
    assert labels[2].split("@")[1] == labels[3].split("@")[1]  # same settings, same digest
    # unset stage settings come from the study's train section
    cfg = stage_settings(mm, TrainSettings(lr=1e-5, batch_size=16, max_steps=7, max_train_examples=50))
    assert (cfg.max_steps, cfg.lr, cfg.batch_size, cfg.max_train_examples) == (40, 3e-4, 16, 0)
    assert stage_settings(condition_from_label("text:digits-nli"), TrainSettings(max_steps=7)).max_steps == 7
    # a different value of a stage setting is a different condition, hence a different run id
    other = parse_conditions([{"condition": "multimodal:digits-ve", "steps": 41}], "s.yaml:3")
    assert list(other)[0] != labels[2]


def test_conflicting_settings_are_an_error():
    with pytest.raises(ConfigError, match=r"s.yaml:3: .*steps is given twice"):
        parse_conditions([{"condition": "text:digits-nli", "steps": 10},
                          {"condition": "multimodal:digits-ve", "steps": 20}], "s.yaml:3")
    with pytest.raises(ConfigError, match="data_dir is given twice"):
        parse_conditions([{"condition": "multimodal:snli-ve", "data_dir": "/a", "features": "/f.npz"},
                          {"condition": "multimodal-shuffled:snli-ve", "data_dir": "/b"}], "s.yaml:3")


def test_data_settings_apply_to_every_condition_of_the_task(tmp_path):
    study = tmp_path / "s.yaml"
    study.write_text("name: s\nmodels: [me5-small-q4]\ntasks: [cldr-names]\nintermediate:\n"
                     "  - {condition: multimodal:snli-ve, data_dir: snli, features: feats.safetensors}\n"
                     "  - multimodal-shuffled:snli-ve\n")
    a, b = load_study(study).intermediate_setup.values()
    assert a.data == b.data == {"data_dir": str(tmp_path / "snli"), "features": str(tmp_path / "feats.safetensors")}
    assert a.label.split("@")[1] == b.label.split("@")[1]


@pytest.mark.parametrize("entry, message", [
    ("text:nope", "unknown task 'nope'"),
    ("text:digits-ve", "digits-ve is multimodal: use multimodal:digits-ve"),
    ("text:tatoeba", "retrieval task"),
    ("multimodal:xnli", "unknown multimodal task 'xnli'"),
    ("image:digits-ve", "unknown intermediate condition 'image:digits-ve'"),
    ("{condition: text:digits-nli, lr: fast}", "lr must be a non-negative float, got 'fast'"),
    ("{condition: text:digits-nli, batch_size: 0}", "batch_size must be a positive int"),
    ("{condition: multimodal:digits-ve, fusion: early}", "fusion must be prefix | late"),
    ("{condition: text:digits-nli, stepz: 3}", "unknown intermediate setting 'stepz'"),
    ("{steps: 3}", "needs 'condition'"),
    ("{condition: none, steps: 3}", "'none' takes no settings"),
    ("{condition: text:digits-nli, features: f.npz}", "takes no image settings"),
    ("{condition: multimodal:snli-ve, data_dir: d}", "give features"),
    ("{condition: multimodal:snli-ve, data_dir: d, images: i}", "images and vision_model go together"),
    ("{condition: text:digits-nli, per_seed: true}", "per_seed was replaced by stage_seed: paired"),
    ("{condition: text:digits-nli, seed: 3}", "seed: 3 sets the one shared stage's seed; add stage_seed: shared"),
    ("{condition: text:digits-nli, stage_seed: each}", "stage_seed must be paired | shared, got 'each'"),
    ("{condition: multimodal:digits-ve, projector_lr: 0}", "projector_lr must be a positive float"),
])
def test_bad_conditions_name_the_file_and_line(tmp_path, entry, message):
    study = tmp_path / "s.yaml"
    study.write_text(f"name: s\nmodels: [me5-small-q4]\ntasks: [cldr-names]\nintermediate:\n  - none\n  - {entry}\n")
    with pytest.raises(ConfigError) as err:
        load_study(study)
    assert str(err.value).startswith(f"{study}:4: ") and message in str(err.value)


def test_intermediate_setup_is_not_a_study_key():
    raw = _study(["none"]) | {"intermediate_setup": {}}
    with pytest.raises(ConfigError, match="unknown key 'intermediate_setup'"):
        parse_study(raw)


def test_digits_twins_share_hypotheses_and_labels():
    text_task, image_task = get_task("digits-nli"), MULTIMODAL_TASKS["digits-ve"]({})
    seen = {}
    for split in ("train", "dev", "test"):
        text, image = text_task.load(split, "en"), image_task.load(split)
        assert [(e.text_pair, e.label) for e in text] == [(e.text, e.label) for e in image]
        assert Counter(e.label for e in text) == {label: len(text) // 3 for label in
                                                   ("entailment", "neutral", "contradiction")}
        seen[split] = {e.image for e in image}
        target = digits()[1]  # the text premise names the digit that the image shows
        assert all(t.text.endswith(f"{WORDS[target[int(i.image)]]}.") or f" {WORDS[target[int(i.image)]]} " in t.text
                   for t, i in zip(text, image))
    assert not (seen["train"] & seen["dev"]) and not (seen["train"] & seen["test"])  # unseen images
    assert sum(map(len, seen.values())) == 1797
    assert pairs("train") == pairs("train") and len(pairs("train")) == 3 * len(seen["train"])


def test_snli_ve_files_give_both_twins(tmp_path):
    rows = [{"Flickr30K_ID": "100", "sentence1": "A dog runs.", "sentence2": "An animal moves.",
             "gold_label": "entailment", "pairID": "100.jpg#0r1e"},
            {"Flickr30K_ID": "101", "sentence1": "Two men talk.", "sentence2": "Nobody is there.",
             "gold_label": "contradiction", "pairID": "101.jpg#0r1c"}]
    (tmp_path / "snli_ve_train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = get_task("snli-ve-text", tmp_path).load("train", "en")
    image = MULTIMODAL_TASKS["snli-ve"]({"data_dir": str(tmp_path)}).load("train")
    assert [(t.text, t.text_pair, t.label) for t in text] == [("A dog runs.", "An animal moves.", "entailment"),
                                                               ("Two men talk.", "Nobody is there.", "contradiction")]
    assert [(i.image, i.text, i.label) for i in image] == [("100", "An animal moves.", "entailment"),
                                                          ("101", "Nobody is there.", "contradiction")]
    (tmp_path / "snli_ve_dev.jsonl").write_text(json.dumps(rows[0] | {"gold_label": "maybe"}) + "\n")
    with pytest.raises(DataError, match=r"snli_ve_dev.jsonl:1: gold_label 'maybe'"):
        MULTIMODAL_TASKS["snli-ve"]({"data_dir": str(tmp_path)}).load("dev")


def test_image_caption_pairs_every_caption_with_its_image_and_another(tmp_path):
    images = [{"filename": f"{i}.jpg", "split": "train", "sentences": [{"raw": f"caption {i} a"},
                                                                        {"raw": f"caption {i} b"}]}
              for i in range(4)]
    (tmp_path / "dataset_flickr30k.json").write_text(json.dumps({"images": images}))
    exs = MULTIMODAL_TASKS["image-caption"]({"data_dir": str(tmp_path)}).load("train")
    assert len(exs) == 16 and Counter(e.label for e in exs) == {"match": 8, "mismatch": 8}
    for e in exs:
        assert (e.text.split()[1] == e.image) == (e.label == "match")


def test_stage_seed_policy_and_projector_lr_settings():
    train = TrainSettings(lr=2e-5, head_lr=3e-3)
    paired = condition_from_label("text:digits-nli")
    shared = parse_conditions([{"condition": "text:digits-nli", "stage_seed": "shared", "seed": 7}], "s")
    (shared,) = shared.values()
    assert [paired.stage_seed(s) for s in (1, 2, 3)] == [1, 2, 3]  # default: one stage per target seed
    assert [shared.stage_seed(s) for s in (1, 2, 3)] == [7, 7, 7]
    assert condition_from_label("none").stage_seed(2) is None
    # the projector trains at the encoder's lr unless told; the text twin has no projector
    text, mm = parse_conditions(["text:digits-nli", {"condition": "multimodal:digits-ve", "projector_lr": 1e-3}],
                                "s").values()
    assert text.projector_lr(train) is None and "projector_lr" not in text.stage
    assert mm.projector_lr(train) == 1e-3
    assert condition_from_label("multimodal:digits-ve").projector_lr(train) == 2e-5
    assert condition_from_label("multimodal:digits-ve").projector_lr(TrainSettings(lr=2e-5, head_lr=0)) == 2e-5
