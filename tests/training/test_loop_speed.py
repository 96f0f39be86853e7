"""The loop's speed options: torch.compile wrapping, fused AdamW on CPU, GPU-style deferred outputs."""

import numpy as np
import pytest
import torch
from transformers import AutoModel

from xlt.models.heads import SequenceClassifier
from xlt.training import loop
from xlt.training.batching import Encoded
from xlt.training.settings import Runtime, TrainSettings


@pytest.fixture
def model(tiny_bert):
    torch.manual_seed(0)
    return SequenceClassifier(AutoModel.from_pretrained(tiny_bert), 3, "mean")


def test_compile_wraps_once_and_leaves_the_weights_alone(model):
    keys = set(model.state_dict())
    assert loop._compiled(model, Runtime()) is model  # off by default
    cfg = Runtime(compile=True)
    first, again = loop._compiled(model, cfg), loop._compiled(model, cfg)
    assert first is again and first is not model and first._orig_mod is model
    assert set(model.state_dict()) == keys  # the wrapper is not registered as a submodule
    assert first.encoder is model.encoder  # losses (EPAR) reach the encoder through the wrapper


def test_fine_tune_uses_a_fused_optimizer_on_cpu(model, monkeypatch):
    made = []
    real = torch.optim.AdamW

    def spy(*args, **kwargs):
        made.append(kwargs.get("fused"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    rng = np.random.default_rng(0)
    data = Encoded([rng.integers(5, 90, rng.integers(3, 9)).tolist() for _ in range(12)], None,
                   rng.integers(0, 3, 12))
    loss = lambda m, b: torch.nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]), b["labels"])
    res = loop.fine_tune(model, data, TrainSettings(max_steps=2, batch_size=4, freeze_embeddings=True),
                         1, 0, torch.device("cpu"), loss, lambda m: 0.5, Runtime(progress=False))
    assert made == [True] and res.steps == 2 and res.examples_seen == 8
    assert not model.encoder.get_input_embeddings().weight.requires_grad


def test_deferred_outputs_are_filed_under_their_rows():
    """What forward_rows does after a GPU run: many pending batches moved to the host at once."""
    out = [None] * 5
    lengths = np.array([2, 3, 1, 3, 2])
    pending = [(np.array([1, 3]), torch.arange(2 * 3 * 2.0).view(2, 3, 2)),
               (np.array([0, 4, 2]), torch.arange(3 * 2 * 2.0).view(3, 2, 2))]
    loop._unload(pending, out, lengths)
    assert not pending
    assert [o.shape for o in out] == [(2, 2), (3, 2), (1, 2), (3, 2), (2, 2)]
    assert out[3][0].tolist() == [6.0, 7.0] and out[2].tolist() == [[8.0, 9.0]]
