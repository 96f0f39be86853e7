"""LoRA: settings parsing, which parameters train, the stored counts, target checks, tiny studies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sqlalchemy import select
from transformers import AutoModel

from tests.sib_fixture import write_tiny_sib200
from tests.tiny_models import HIDDEN_SIZE
from xlt.errors import ConfigError
from xlt.methods import METHODS, lora, parameter_counts, parse_method_settings, prepare, settings_for
from xlt.methods.intermediate import stage
from xlt.methods.settings import LoraSettings
from xlt.models import registry
from xlt.models.heads import SequenceClassifier
from xlt.store.db import Store, runs, scores
from xlt.study.config import parse_study
from xlt.study.runner import Runner
from xlt.training import loop
from xlt.training.batching import Encoded
from xlt.training.settings import Runtime, TrainSettings

CPU = torch.device("cpu")
TRAIN = {"max_steps": 4, "batch_size": 8, "lr": 5e-3, "head_lr": 5e-2, "pooling": "mean", "max_length": 32,
         "precision": "fp32"}
RUNTIME = {"device": "cpu", "progress": False, "threads": 1}


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(tiny_bert, labels=3):
    torch.manual_seed(0)
    return SequenceClassifier(AutoModel.from_pretrained(tiny_bert, add_pooling_layer=False), labels, "mean")


# --- settings ----------------------------------------------------------------------------------------


def test_lora_is_a_method_with_typed_defaults():
    assert "lora" in METHODS
    parsed = parse_method_settings(["finetune", "lora"], None)
    assert parsed == {"lora": LoraSettings()} and settings_for("lora", parsed) == LoraSettings()
    assert LoraSettings() == LoraSettings(r=8, alpha=16.0, dropout=0.1, target_modules=("query", "value"))
    got = parse_method_settings(["lora"], {"lora": {"r": 4, "alpha": 8, "target_modules": ["query", "key", "value"]}})
    assert got["lora"] == LoraSettings(r=4, alpha=8.0, target_modules=("query", "key", "value"))
    assert parse_method_settings(["lora"], {"lora": {"target_modules": "dense"}})["lora"].target_modules == ("dense",)


@pytest.mark.parametrize("raw, message", [
    ({"r": 0}, "method_settings.lora.r must be an integer >= 1, got 0"),
    ({"r": 2.5}, "method_settings.lora.r must be an integer >= 1, got 2.5"),
    ({"r": True}, "method_settings.lora.r must be an integer >= 1, got True"),
    ({"alpha": 0}, "method_settings.lora.alpha must be > 0, got 0"),
    ({"dropout": 1.5}, "method_settings.lora.dropout must be between 0 and 0.99, got 1.5"),
    ({"target_modules": []}, "method_settings.lora.target_modules must be a non-empty list of names, got []"),
    ({"target_modules": ["query", 3]}, "must be a non-empty list of names, got ['query', 3]"),
    ({"target_modules": ["query", "query"]}, "method_settings.lora.target_modules lists a name twice"),
    ({"rank": 4}, "unknown LoRA setting 'rank'"),
])
def test_bad_settings_are_one_line(raw, message):
    with pytest.raises(ConfigError) as err:
        parse_method_settings(["lora"], {"lora": raw})
    assert message in str(err.value) and "\n" not in str(err.value)


# --- what trains ---------------------------------------------------------------------------------------


def test_only_the_adapters_and_the_head_train_and_the_counts_say_so(tiny_bert):
    model = prepare("lora", _model(tiny_bert), LoraSettings(r=4, target_modules=("query", "value")))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"head.weight", "head.bias"} | {
        f"encoder.encoder.layer.{i}.attention.self.{m}.lora_{ab}.default.weight"
        for i in (0, 1) for m in ("query", "value") for ab in "AB"}
    # 2 layers x 2 projections x r (in + out), plus the head (hidden x 3 + 3)
    lora_params = 2 * 2 * 4 * (HIDDEN_SIZE + HIDDEN_SIZE)
    full = parameter_counts(_model(tiny_bert))
    assert parameter_counts(model) == {"trainable_params": lora_params + HIDDEN_SIZE * 3 + 3,
                                       "total_params": full["total_params"] + lora_params}
    assert prepare("finetune", _model(tiny_bert)) is not None  # methods without a hook: the model as built


def test_training_moves_adapters_and_head_and_leaves_the_encoder_alone(tiny_bert):
    model = prepare("lora", _model(tiny_bert), LoraSettings(r=4))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rng = np.random.default_rng(0)
    data = Encoded([rng.integers(5, 700, rng.integers(6, 20)).tolist() for _ in range(16)], None,
                   rng.integers(0, 3, 16))

    def loss(m, b):
        return torch.nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]), b["labels"])

    evals = iter(range(100))  # each dev score beats the last: the final weights are kept
    cfg = TrainSettings(max_steps=4, batch_size=4, lr=1e-2, eval_every=4, precision="fp32")
    loop.fine_tune(model, data, cfg, 1, 0, CPU, loss, lambda m: next(evals), Runtime(progress=False))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed == {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(".lora_B." in n for n in changed) and "head.weight" in changed


def test_lora_trains_under_gradient_checkpointing_with_the_same_numbers(tiny_bert):
    """Frozen encoder weights + checkpointing: the adapters still get their gradients, identical ones."""
    out = []
    for ckpt in (False, True):
        model = prepare("lora", _model(tiny_bert), LoraSettings(r=4))
        rng = np.random.default_rng(0)
        data = Encoded([rng.integers(5, 700, 12).tolist() for _ in range(8)], None, rng.integers(0, 3, 8))
        cfg = TrainSettings(max_steps=2, batch_size=4, lr=1e-2, eval_every=2, precision="fp32")
        loop.fine_tune(model, data, cfg, 1, 0, CPU,
                       lambda m, b: torch.nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]),
                                                                      b["labels"]),
                       lambda m: 0.0, Runtime(progress=False, gradient_checkpointing=ckpt))
        out.append({n: p.detach() for n, p in model.named_parameters() if ".lora_B." in n})
    assert all(torch.equal(out[0][n], out[1][n]) for n in out[0]) and any(v.abs().sum() > 0 for v in out[0].values())


# --- target modules ----------------------------------------------------------------------------------


def test_every_target_must_name_a_layer(tiny_bert):
    encoder = AutoModel.from_pretrained(tiny_bert, add_pooling_layer=False)
    lora.check_targets(LoraSettings(target_modules=("attention.self.query", "dense")), encoder)  # suffixes match
    with pytest.raises(ConfigError) as err:  # peft alone would adapt `query` and say nothing about `qkv`
        lora.check_targets(LoraSettings(target_modules=("query", "qkv")), encoder)
    assert str(err.value) == ("method_settings.lora.target_modules: 'qkv' is no linear layer of BertModel "
                              "(its layers: dense, key, position_embeddings, query, token_type_embeddings, "
                              "value, word_embeddings)")


def test_a_study_with_a_bad_target_fails_validation_before_any_run(tiny_bert, tmp_path):
    sib = write_tiny_sib200(tmp_path / "sib", n=16)
    raw = {"name": "bad", "models": [str(tiny_bert)], "methods": ["finetune", "lora"], "seeds": [1],
           "method_settings": {"lora": {"target_modules": ["q_proj"]}},
           "tasks": [{"name": "sib200", "data_dir": str(sib), "languages": "available"}],
           "train": TRAIN, "runtime": RUNTIME}
    store = Store(str(tmp_path / "r.sqlite"))
    with pytest.raises(ConfigError, match="'q_proj' is no linear layer of BertModel"):
        Runner(parse_study(raw), store, progress=False).validate()
    with pytest.raises(ConfigError, match="'q_proj'"):
        Runner(parse_study(raw), store, progress=False).run()
    assert store.run_status() == {}  # nothing claimed


# --- tiny studies --------------------------------------------------------------------------------------


def test_lora_runs_end_to_end_beside_finetune_and_after_an_intermediate_stage(tiny_bert, tmp_path, monkeypatch):
    """methods [finetune, lora] x intermediate [none, text:digits-nli]: one stage checkpoint serves both
    methods, LoRA adapts the encoder the run starts from (pretrained or after the stage), the counts are
    stored per run."""
    stages, starts = [], []
    real_stage, real_prepare = stage.train_stage, lora.prepare
    monkeypatch.setattr(stage, "train_stage", lambda *a, **k: stages.append(a[0].label) or real_stage(*a, **k))
    monkeypatch.setattr(lora, "prepare", lambda model, s: starts.append(
        {k: v.clone() for k, v in model.encoder.state_dict().items()}) or real_prepare(model, s))
    sib = write_tiny_sib200(tmp_path / "sib", n=16)
    raw = {"name": "lora", "models": [str(tiny_bert)], "methods": ["finetune", "lora"], "seeds": [1],
           "method_settings": {"lora": {"r": 4, "alpha": 8}}, "cache_dir": str(tmp_path / "cache"),
           "intermediate": ["none", "text:digits-nli"],
           "tasks": [{"name": "sib200", "data_dir": str(sib), "languages": "available"}],
           "train": TRAIN, "runtime": RUNTIME}
    store = Store(str(tmp_path / "r.sqlite"))
    assert Runner(parse_study(raw), store, progress=False).run() == {"runs": 4, "skipped": 0, "ran": 4}
    assert stages == ["text:digits-nli"]  # trained once, shared by finetune and lora
    with store.engine.connect() as c:
        rows = {(r.method, r.intermediate): r for r in c.execute(select(runs))}
        n_scores = len(c.execute(select(scores)).fetchall())
    assert {r.status for r in rows.values()} == {"done"} and n_scores >= 4 * 3
    for inter in ("none", "text:digits-nli"):
        full, low = rows["finetune", inter], rows["lora", inter]
        assert full.trainable_params > 10 * low.trainable_params > 0
        assert low.trainable_params == 2 * 2 * 4 * 2 * HIDDEN_SIZE + HIDDEN_SIZE * 7 + 7  # adapters + 7-label head
        assert low.total_params == full.total_params + 2 * 2 * 4 * 2 * HIDDEN_SIZE
        assert low.config["run"]["method_settings"]["r"] == 4
    pretrained = registry.load_encoder(registry.resolve(str(tiny_bert))).state_dict()
    by_start = [all(torch.equal(s[k], pretrained[k]) for k in pretrained) for s in starts]
    assert sorted(by_start) == [False, True]  # one LoRA run on the pretrained encoder, one on the stage's
