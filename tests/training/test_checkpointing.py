"""Gradient checkpointing (`runtime.gradient_checkpointing`): really on during training, off after, and
the same numbers as without it — the claim that keeps it out of a run's identity (a Runtime field)."""

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModel

from xlt.errors import ConfigError
from xlt.models.heads import SequenceClassifier
from xlt.training import checkpointing, loop
from xlt.training.batching import Encoded
from xlt.training.settings import Runtime, TrainSettings

CPU = torch.device("cpu")


def _loss(m, b):
    return nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]), b["labels"])


def _train(model_dir, gradient_checkpointing: bool, calls: list | None = None, **train):
    torch.manual_seed(0)
    encoder = AutoModel.from_pretrained(model_dir, hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    model = SequenceClassifier(encoder, 3, "mean", dropout=0.3)
    if calls is not None:  # every call inside the first layer: forward, and its recomputation in backward
        encoder.encoder.layer[0].attention.register_forward_hook(lambda *_: calls.append(model.training))
    rng = np.random.default_rng(0)
    data = Encoded([rng.integers(5, 700, rng.integers(6, 20)).tolist() for _ in range(24)], None,
                   rng.integers(0, 3, 24))
    cfg = TrainSettings(max_steps=6, batch_size=4, lr=1e-3, eval_every=2, precision="fp32", **train)
    evals = iter(range(100))  # each dev score beats the last: the final weights are the ones kept
    res = loop.fine_tune(model, data, cfg, 1, 0, CPU, _loss, lambda m: next(evals),
                         Runtime(progress=False, gradient_checkpointing=gradient_checkpointing))
    return res, model


@pytest.mark.parametrize("freeze", [False, True])
def test_checkpointing_gives_bit_identical_losses_and_weights_with_dropout_on(tiny_bert, freeze):
    """Dropout (p=0.3 in every layer and the head) draws its masks twice under checkpointing; the
    non-reentrant checkpoint restores the RNG state, so losses and weights match exactly."""
    plain, plain_model = _train(tiny_bert, False, freeze_embeddings=freeze)
    ckpt, ckpt_model = _train(tiny_bert, True, freeze_embeddings=freeze)
    assert [h["train_loss"] for h in ckpt.history] == [h["train_loss"] for h in plain.history]
    a, b = plain_model.state_dict(), ckpt_model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert plain.history[0]["train_loss"] != plain.history[-1]["train_loss"]  # it did train


def test_checkpointing_recomputes_in_training_and_is_off_afterwards(tiny_bert):
    plain, ckpt = [], []
    _train(tiny_bert, False, plain)
    res, model = _train(tiny_bert, True, ckpt)
    # 6 steps: layer 0's attention runs once per step without, twice with (forward + recomputation in backward)
    assert plain.count(True) == 6 and ckpt.count(True) == 12
    assert not any(m.gradient_checkpointing for m in model.modules() if hasattr(m, "gradient_checkpointing"))
    emb = model.encoder.get_input_embeddings()
    assert not emb._forward_hooks  # the input-requires-grad hook HF adds is gone too


def test_a_model_without_a_hugging_face_encoder_is_one_clear_error():
    with pytest.raises(ConfigError, match="runtime.gradient_checkpointing: Linear holds no Hugging Face model"):
        checkpointing.enable(nn.Linear(2, 2))


def test_the_multimodal_stage_model_checkpoints_with_the_same_gradients(tiny_bert):
    """The intermediate stage trains its fusion model through the same loop: its encoder (fed image
    prefix tokens through inputs_embeds) is found and checkpointed, with identical gradients."""
    from xlt.methods.intermediate.fusion import ImageTextClassifier

    grads = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        encoder = AutoModel.from_pretrained(tiny_bert, hidden_dropout_prob=0.3)
        model = ImageTextClassifier(encoder, torch.randn(3, 2, 16), 3, fusion="prefix", prefix_tokens=2,
                                    insert_at=1, pooling="mean", dropout=0.3).train()
        undo = checkpointing.enable(model) if ckpt else None
        ids = torch.randint(5, 700, (3, 12), generator=torch.Generator().manual_seed(1))
        calls = []
        encoder.encoder.layer[1].attention.register_forward_hook(lambda *_: calls.append(1))
        torch.manual_seed(5)
        nn.functional.cross_entropy(model(ids, torch.ones_like(ids), None, torch.arange(3)),
                                    torch.tensor([0, 1, 2])).backward()
        assert len(calls) == (2 if ckpt else 1)
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        if undo:
            undo()
    assert grads[0].keys() == grads[1].keys() and all(torch.equal(grads[0][n], grads[1][n]) for n in grads[0])


def test_checkpointing_is_runtime_so_run_ids_do_not_change(tiny_bert, tmp_path):
    from tests.sib_fixture import write_tiny_sib200
    from xlt.store.db import Store
    from xlt.study.config import parse_study
    from xlt.study.runner import Runner

    sib = write_tiny_sib200(tmp_path / "sib", n=8)

    def ids(**runtime):
        raw = {"name": "gc", "models": [str(tiny_bert)], "seeds": [1, 2], "train": {"precision": "fp32"},
               "tasks": [{"name": "sib200", "data_dir": str(sib), "languages": "available"}],
               "runtime": {"device": "cpu", "progress": False, **runtime}}
        return [r.run_id for r in Runner(parse_study(raw), Store("sqlite://"), progress=False).specs()]

    assert ids(gradient_checkpointing=True) == ids() == ids(gradient_checkpointing=False)
