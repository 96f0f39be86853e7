"""Gradient (activation) checkpointing: keep only each layer's input in the forward pass and recompute
the layer in backward. Activation memory drops from ~layers x (attention maps + hidden states) to one
layer's worth, for one extra forward per step (bench/memory.py measures both on XQuAD-shaped batches).

It is a `Runtime` setting, not a `TrainSettings` one, because it gives the same numbers: torch's
non-reentrant checkpoint saves and restores the RNG state around the recomputation, so dropout draws
the same masks twice, and the recomputed activations are bit-identical (tests/training/test_memory.py
trains with and without it, dropout on, and compares losses and weights exactly).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from xlt.errors import ConfigError


def enable(model: nn.Module) -> Callable[[], None]:
    """Checkpoint every layer of each Hugging Face encoder inside `model` (a task head or fusion model
    around one); returns the function that switches it off again."""
    from transformers import PreTrainedModel

    outer: dict[str, PreTrainedModel] = {}
    for name, module in model.named_modules():  # outermost HF models only (one may nest another)
        if isinstance(module, PreTrainedModel) and not any(name.startswith(f"{n}.") or not n for n in outer):
            outer[name] = module
    if not outer:
        raise ConfigError(f"runtime.gradient_checkpointing: {type(model).__name__} holds no Hugging Face model")
    for module in outer.values():
        if not module.supports_gradient_checkpointing:
            raise ConfigError(f"runtime.gradient_checkpointing: {type(module).__name__} does not support it "
                              "(set runtime.gradient_checkpointing=false)")
        kwargs = {"use_reentrant": False}  # non-reentrant: restores RNG state, works with frozen inputs
        if hasattr(module, "activation_checkpointing_enable"):  # transformers >= 5 (the old name warns)
            module.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            module.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)

    def disable() -> None:
        for module in outer.values():
            if hasattr(module, "activation_checkpointing_disable"):
                module.activation_checkpointing_disable()
            else:
                module.gradient_checkpointing_disable()
            # HF hooks the input embeddings so their output requires grad (a need of reentrant
            # checkpointing only); drop the hook so evaluation afterwards runs as it would without
            module.disable_input_require_grads()

    return disable
