"""`runtime.save: best`: the selected checkpoint of every run, loadable with plain transformers and with
`xlt.load_model`, predicting what the run stored; not part of the run identity; sized by the dry run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

import xlt
from xlt.cli.main import main
from xlt.errors import XltError
from xlt.repro import saved
from xlt.store.db import Store
from xlt.study.config import TaskEntry, load_study
from xlt.study.data import TaskData

from tests.repro.conftest import write_study
from tests.sib_fixture import SOURCE, TARGETS


def _runs(study) -> dict[str, dict]:
    return {r["run_id"]: r for r in Store(study["db"]).runs(study["name"])}


def test_every_run_saves_its_model_and_the_db_says_where(tiny_study):
    runs, models = _runs(tiny_study), Store(tiny_study["db"], read_only=True).saved_models(tiny_study["name"])
    assert set(models) == set(runs) and len(runs) == 4
    for rid, m in models.items():
        path = saved.Path(m["path"])
        assert path.is_dir() and path.name == rid and path.parent.name == tiny_study["name"]
        assert m["bytes"] == saved.folder_bytes(path) > 0
        meta = json.loads((path / saved.META_FILE).read_text())
        assert (meta["run_id"], meta["seed"], meta["model"]) == (rid, runs[rid]["seed"], runs[rid]["model"])
        assert meta["kind"] == "sequence-classification" and meta["pooling"] == "mean" and len(meta["labels"]) == 7


def test_plain_transformers_loads_encoder_tokenizer_and_head(tiny_study):
    path = next(iter(Store(tiny_study["db"]).saved_models().values()))["path"]
    encoder, tokenizer = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    head = load_file(f"{path}/{saved.HEAD_FILE}")
    assert head["weight"].shape == (7, encoder.config.hidden_size) and head["bias"].shape == (7,)
    assert tokenizer("a sentence")["input_ids"]


def _test_examples(tiny_study) -> dict[str, list]:
    data = TaskData(TaskEntry("sib200", str(tiny_study["data"]), "available"), progress=False)
    return data.splits["test"]


def test_reloaded_model_predicts_what_the_run_stored(tiny_study):
    store = Store(tiny_study["db"])
    test = _test_examples(tiny_study)
    for rid, m in store.saved_models().items():
        model = xlt.load_model(m["path"])
        stored = store.predictions(rid)
        assert set(stored) == {SOURCE, *TARGETS}
        for lang, examples in test.items():
            assert model.predict([ex.text for ex in examples]) == stored[lang], (rid, lang)


def test_the_saved_checkpoint_is_the_selected_one(tiny_study):
    """Its English dev score is the stored best dev score, also for runs whose last checkpoint was worse
    (fine_tune restores the best weights before evaluation and saving)."""
    store = Store(tiny_study["db"])
    data = TaskData(TaskEntry("sib200", str(tiny_study["data"]), "available"), progress=False)
    dev = data.splits["dev"]
    runs, restored = _runs(tiny_study), 0
    for rid, m in store.saved_models().items():
        model = xlt.load_model(m["path"])
        preds = model.predict([ex.text for ex in dev])
        score = float(np.mean([p == ex.label for p, ex in zip(preds, dev)]))
        assert score == pytest.approx(runs[rid]["dev_score"], abs=1e-12), rid
        restored += runs[rid]["best_step"] < 8  # the best was not the last of the 8 steps
    assert restored >= 1, "no run selected an earlier checkpoint: the restore is not exercised"


def test_model_card_names_the_run_and_its_scores(tiny_study):
    runs = _runs(tiny_study)
    scores = Store(tiny_study["db"]).score_rows(study=tiny_study["name"])
    rid, m = next(iter(Store(tiny_study["db"]).saved_models().items()))
    card = (saved.Path(m["path"]) / "README.md").read_text()
    row = runs[rid]
    for text in (f"| study | {tiny_study['name']} |", "| task | sib200 |", f"| seed | {row['seed']} |",
                 "| method | finetune |", "| intermediate | none |", row["model"],
                 f"| English dev accuracy (x100) | {100 * row['dev_score']:.2f} (step {row['best_step']}"):
        assert text in card, text
    for s in scores:
        if s["run_id"] == rid and s["metric"] == "accuracy":
            assert f"| {s['language']} | " in card and f" {100 * s['value']:.2f} |" in card


def test_saving_is_not_part_of_the_run_identity(tiny_study, tmp_path):
    with_save = load_study(tiny_study["path"])
    without = load_study(tiny_study["path"], ["runtime.save=none"])
    from xlt.study.runner import Runner

    ids = [{r.run_id for r in Runner(s, progress=False).validate()} for s in (with_save, without)]
    assert ids[0] == ids[1] == set(_runs(tiny_study))


def test_save_in_the_train_section_says_where_it_belongs(tiny_study, capsys):
    assert main(["validate", str(tiny_study["path"]), "train.save=best"]) == 2
    err = capsys.readouterr().err
    assert "train.save belongs under runtime: (runtime.save)" in err and len(err.strip().splitlines()) == 1
    assert main(["validate", str(tiny_study["path"]), "runtime.save=all"]) == 2
    assert "runtime.save must be one of none, best" in capsys.readouterr().err


def test_dry_run_shows_the_size_of_the_models_to_save(tiny_study, tmp_path, capsys):
    path = write_study(tmp_path, tiny_study["models"], tiny_study["data"], name="repro-size",
                       runtime={"device": "cpu", "progress": False, "save": "best", "save_dir": str(tmp_path / "m")})
    assert main(["-q", "study", str(path), "--dry-run"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("saved models"))
    # 4 runs to do; the estimate is within 5 % of what the finished study wrote for the same models
    actual = sum(m["bytes"] for m in Store(tiny_study["db"]).saved_models().values())
    estimate = float(line.split("≈ ")[1].split(" MB")[0]) * 1e6  # tiny models: MB
    assert "4 run(s)" in line and abs(estimate - actual) / actual < 0.05, (line, actual)
    off = write_study(tmp_path, tiny_study["models"], tiny_study["data"], name="repro-nosave")
    assert main(["-q", "study", str(off), "--dry-run"]) == 0
    assert "saved models" not in capsys.readouterr().out


def test_not_a_saved_model_is_one_error(tmp_path):
    with pytest.raises(XltError, match="is not a saved xlt model"):
        xlt.load_model(tmp_path)
    (tmp_path / saved.META_FILE).write_text('{"format": "other"}')
    with pytest.raises(XltError, match="not an xlt head description"):
        xlt.load_model(tmp_path)
