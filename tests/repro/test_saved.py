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
        assert all(f.stat().st_mode & 0o044 == 0o044 for f in path.iterdir())  # readable on a shared disk
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
    """Its English dev score is the stored best dev score (fine_tune restores the best weights before
    evaluation and saving; see the next test for a run whose last checkpoint is worse)."""
    store = Store(tiny_study["db"])
    data = TaskData(TaskEntry("sib200", str(tiny_study["data"]), "available"), progress=False)
    dev = data.splits["dev"]
    runs = _runs(tiny_study)
    for rid, m in store.saved_models().items():
        preds = xlt.load_model(m["path"]).predict([ex.text for ex in dev])
        score = float(np.mean([p == ex.label for p, ex in zip(preds, dev)]))
        assert score == pytest.approx(runs[rid]["dev_score"], abs=1e-12), rid


def test_fine_tune_restores_the_best_dev_weights_and_those_are_saved(tiny_bert, tmp_path):
    """Dev scores that only get worse: the best checkpoint is the first; the model in hand after
    fine_tune, and the saved and reloaded one, hold exactly its weights (not the last step's)."""
    import torch

    from xlt.models import registry
    from xlt.models.heads import SequenceClassifier
    from xlt.training.batching import Encoded
    from xlt.training.loop import fine_tune
    from xlt.training.settings import Runtime, TrainSettings

    ref = registry.resolve(str(tiny_bert))
    tok = registry.load_tokenizer(ref)
    texts = [f"the teacher reads book {i}" for i in range(16)]
    data = Encoded(tok(texts)["input_ids"], None, np.arange(16) % 3)
    model = SequenceClassifier(registry.load_encoder(ref), 3, "mean", 0.1)
    snapshots, script = [], iter([0.9, 0.5, 0.2, 0.1])

    def dev_score(m) -> float:
        snapshots.append({k: v.detach().clone() for k, v in m.state_dict().items()})
        return next(script)

    def loss(m, batch):
        return torch.nn.functional.cross_entropy(m(**{k: v for k, v in batch.items() if k != "labels"}),
                                                 batch["labels"])

    cfg = TrainSettings(max_steps=4, eval_every=1, batch_size=8, lr=1e-2, precision="fp32")
    res = fine_tune(model, data, cfg, 1, tok.pad_token_id, torch.device("cpu"), loss, dev_score,
                    Runtime(progress=False))
    assert (res.best_step, res.best_dev, len(snapshots)) == (1, 0.9, 4)
    best, last = snapshots[0], snapshots[-1]
    assert any(not torch.equal(best[k], last[k]) for k in best)  # training moved the weights
    assert all(torch.equal(v, best[k]) for k, v in model.state_dict().items())
    meta = {"format": saved.FORMAT, "kind": "sequence-classification", "labels": ["a", "b", "c"],
            "pooling": "mean", "input_prefix": "", "max_length": 32, "precision": "fp32", "dropout": 0.1}
    saved.write(tmp_path / "m", model, tok, meta, "card")
    reloaded = xlt.load_model(tmp_path / "m").module.state_dict()
    assert set(reloaded) == set(best) and all(torch.equal(reloaded[k], best[k]) for k in best)


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


def test_a_database_from_before_saved_models_stays_readable_and_gains_the_table(tiny_study, tmp_path):
    import sqlite3

    from sqlalchemy import inspect

    old = tmp_path / "old.sqlite"
    with sqlite3.connect(tiny_study["db"]) as src, sqlite3.connect(old) as c:
        src.backup(c)  # the file and its write-ahead log as one
        c.execute("DROP TABLE saved_models")
    src.close()
    c.close()
    ro = Store(str(old), read_only=True)
    assert ro.saved_models() == {} and len(ro.runs("repro-tiny")) == 4
    assert not inspect(ro.engine).has_table("saved_models")  # reading never upgrades
    assert inspect(Store(str(old)).engine).has_table("saved_models")  # a write open does
