"""LoRA (Hu et al., 2022) through peft: low-rank adapters on the encoder, the task head in full.

    methods: [finetune, lora]
    method_settings:
      lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}

`prepare` injects adapters into the encoder of a built task model, in place (peft's
`inject_adapter_in_model`: the encoder stays the same Hugging Face module, so heads, EPAR-style
`inputs_embeds` calls, gradient checkpointing and the loop see no wrapper): each targeted linear layer
W x becomes W x + (alpha / r) B A dropout(x), with A [r, in] random and B [out, r] zero, so training
starts from the pretrained function. Every other encoder weight is frozen; everything outside the
encoder (the head; the fusion model's projection) trains as in fine-tuning. The loop then trains and
snapshots only what requires grad, and evaluation runs the unmerged adapters (the very function that
was selected on English dev).

An intermediate stage stays full fine-tuning: LoRA is a way of adapting to the target task, and the
stage's checkpoint is shared by every method of a study (its key has no method), so `finetune` and
`lora` runs start from the same intermediate encoder and differ only in how they fine-tune.
"""

from __future__ import annotations

import importlib.util

from torch import nn

from xlt.errors import ConfigError, XltError
from xlt.methods.settings import LoraSettings

_AT = "method_settings.lora.target_modules"


def adaptable_layers(encoder: nn.Module) -> dict[str, str]:
    """{module path: class name} of the encoder's layers LoRA can adapt (linear, embedding, conv)."""
    from transformers.pytorch_utils import Conv1D

    kinds = (nn.Linear, nn.Embedding, nn.Conv1d, nn.Conv2d, Conv1D)
    return {name: type(m).__name__ for name, m in encoder.named_modules() if name and isinstance(m, kinds)}


def check_targets(settings: LoraSettings, encoder: nn.Module) -> None:
    """Every target names at least one adaptable layer (as peft matches: the full path or a dotted
    suffix); peft itself only complains when *no* target matches, and would train fewer layers silently."""
    layers = adaptable_layers(encoder)
    for target in settings.target_modules:
        if not any(path == target or path.endswith("." + target) for path in layers):
            leaves = sorted({path.rsplit(".", 1)[-1] for path in layers})
            raise ConfigError(f"{_AT}: {target!r} is no linear layer of {type(encoder).__name__} "
                              f"(its layers: {', '.join(leaves)})")


def check(settings: LoraSettings, ref) -> None:
    """Validate `settings` against the model `ref` before any run: peft importable, every target found.
    Builds the encoder's skeleton on the meta device from its config (no weights read)."""
    if importlib.util.find_spec("peft") is None:  # importing it would take seconds: only look
        _peft()
    import torch
    from transformers import AutoConfig, AutoModel

    from xlt.models import registry

    with registry._loading(ref) as kw:  # the same one-line error as loading the model would give
        config = AutoConfig.from_pretrained(ref.location, **kw)
    with torch.device("meta"):
        skeleton = AutoModel.from_config(config)
    check_targets(settings, skeleton)


def prepare(model: nn.Module, settings: LoraSettings) -> nn.Module:
    """Inject the adapters into `model.encoder` in place and freeze the rest of the encoder."""
    peft = _peft()
    encoder = model.encoder
    check_targets(settings, encoder)
    config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                             target_modules=list(settings.target_modules), bias="none")
    peft.inject_adapter_in_model(config, encoder)  # also marks only the adapters of `encoder` trainable
    return model


def _peft():
    try:
        import peft
    except ImportError as exc:
        raise XltError("method lora needs the peft package: pip install 'peft>=0.13'") from exc
    return peft
