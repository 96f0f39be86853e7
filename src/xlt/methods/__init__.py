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


def parse_method_settings(methods, raw: dict, where: Callable[..., str] = lambda *key: "method_settings") -> dict:
    """`method_settings:` -> {settings key: typed settings}, defaults filled for every method in use;
    ConfigError on the first bad key or value. `where(*key)` locates a key (file:line in a study file)."""
    from xlt.methods import epar

    for m in methods:
        if m not in REGISTRY:
            raise ConfigError(f"{where()}: unknown method {m!r} (valid: {', '.join(METHODS)})")
    for key in raw:
        if key not in {m.settings for m in REGISTRY.values() if m.settings}:
            raise ConfigError(f"{where(str(key))}: no method has settings {key!r} (valid: epar)")
    used = {REGISTRY[m].settings for m in methods if REGISTRY[m].settings} | set(raw)
    return {"epar": epar.parse_settings(raw.get("epar"), lambda *key: where("epar", *key))} if "epar" in used else {}


def settings_for(method: str, parsed: dict):
    """The typed settings a run of `method` trains with (None for methods without settings)."""
    key = REGISTRY[method].settings
    return parsed.get(key) if key else None


def make_loss(method: str, kind, model, train, settings=None, special_ids=()):
    """The `loss_fn(model, batch)` a run of `method` trains with (built after the head, before training).

    `train` is the encoded English training set (EPAR reads its token ids), `settings` the method's
    typed settings, `special_ids` the tokenizer's special token ids (never pushed)."""
    if method not in REGISTRY:
        raise ConfigError(f"unknown method {method!r} (valid: {', '.join(METHODS)})")
    if method == "finetune":
        return kind.loss
    from xlt.methods import epar

    return epar.make(method, kind, model, train, settings or epar.EparSettings(), special_ids)


__all__ = ["METHODS", "REGISTRY", "Method", "make_loss", "parse_method_settings", "settings_for"]
