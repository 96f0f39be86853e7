"""Training methods: how a run turns its task type's loss into the loss it trains on.

    methods: [finetune, epar, epar-no-push, epar-no-pull, epar-no-robust, epar-random-push]
    train:
      extra:
        epar: {push_norm: 0.25, w_virtual: 1.0, w_pull: 1.0}   # settings of the epar* methods

A method's name is part of its run id; its settings live under `train.extra.<settings>` (recorded
with every run and validated when the study is loaded). `finetune` is the task type's own loss.
Intermediate-task training is a separate axis of the grid (`intermediate:`), not a method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xlt.errors import ConfigError


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    settings: str | None = None  # key under train.extra holding its settings


_EPAR = {
    "epar": "EPAR: Embedding-Push, Attention-Pull, Robust targets (Ding et al., 2022)",
    "epar-no-push": "EPAR ablation: virtual input without the push (noise only)",
    "epar-no-pull": "EPAR ablation: no attention pull",
    "epar-no-robust": "EPAR ablation: virtual input trained on the one-hot gold label",
    "epar-random-push": "EPAR ablation: push of the same length in a random direction",
}
REGISTRY: dict[str, Method] = {
    "finetune": Method("finetune", "plain fine-tuning on English (the task type's loss)"),
    **{name: Method(name, text, "epar") for name, text in _EPAR.items()},
}
METHODS = tuple(REGISTRY)


def validate_settings(methods, extra: dict, where: Callable[..., str] = lambda *key: "train.extra") -> None:
    """Check `train.extra.<settings>` of every method settings key (present or used); ConfigError on
    the first bad one. `where(*key)` locates a key below train.extra (file:line in a study file)."""
    from xlt.methods import epar

    for m in methods:
        if m not in REGISTRY:
            raise ConfigError(f"{where()}: unknown method {m!r} (valid: {', '.join(METHODS)})")
    if "epar" in (extra or {}):
        epar.parse_settings(extra["epar"], lambda *key: where("epar", *key))


def make_loss(method: str, kind, model, train, cfg, special_ids=()):
    """The `loss_fn(model, batch)` a run of `method` trains with (built after the head, before training).

    `train` is the encoded English training set (EPAR reads its token ids), `cfg` the TrainConfig,
    `special_ids` the tokenizer's special token ids (never pushed)."""
    if method not in REGISTRY:
        raise ConfigError(f"unknown method {method!r} (valid: {', '.join(METHODS)})")
    if method == "finetune":
        return kind.loss
    from xlt.methods import epar

    settings = epar.parse_settings((cfg.extra or {}).get("epar"))
    return epar.make(method, kind, model, train, settings, special_ids)


__all__ = ["METHODS", "REGISTRY", "Method", "make_loss", "validate_settings"]
