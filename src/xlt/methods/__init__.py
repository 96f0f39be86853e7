"""Training methods: how a run turns its task kind's loss into the loss it trains on.

    methods: [finetune, lora, epar, epar-no-push, epar-no-pull, epar-no-robust, epar-random-push]
    method_settings:
      epar: {push_norm: 0.25, w_virtual: 1.0, w_pull: 1.0}   # settings of the epar* methods
      lora: {r: 8, alpha: 16, dropout: 0.1, target_modules: [query, value]}

A method's name is part of its run id. A method with settings declares their type (a frozen
dataclass, `settings_type`) and their key under `method_settings` (`settings_key`; the EPAR
ablations share `epar`); `parse_method_settings` checks that section when a study is loaded and
`settings_for` picks the object a run uses. `finetune` is the task kind's own loss and has none.
A method may also change the model before training (`prepare`: LoRA injects adapters and freezes the
encoder's weights) and check its settings against a model before any run (`check`).
Intermediate-task training is a separate axis of the grid (`intermediate:`), not a method.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from xlt.errors import ConfigError
from xlt.methods.settings import SECTION, EparSettings, LoraSettings, parse


def _epar_loss(kind, model, train, settings, special_ids, **switches):
    from xlt.methods.epar import EparLoss  # torch: imported once a run trains with EPAR

    return EparLoss(kind, model, train, settings, special_ids=special_ids, **switches)


def _lora(hook: str):
    def call(*args):
        from xlt.methods import lora  # torch and peft: imported once a run uses LoRA

        return getattr(lora, hook)(*args)

    return call


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    settings_key: str | None = None  # its key under method_settings (shared by a method's variants)
    settings_type: type | None = None  # frozen dataclass of its settings
    # (kind, model, train, settings, special_ids, **switches) -> loss_fn; None: the kind's own loss
    build: Callable | None = None
    switches: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))  # fixed per variant
    prepare: Callable | None = None  # (model, settings) -> model, before training (None: the model as built)
    check: Callable | None = None  # (settings, model ref) -> None or ConfigError, before any run


_EPAR = {  # name -> (description, what the ablation switches off; same settings otherwise)
    "epar": ("EPAR: Embedding-Push, Attention-Pull, Robust targets (Ding et al., 2022)", {}),
    "epar-no-push": ("EPAR ablation: virtual input without the push (noise only)", {"push": False}),
    "epar-no-pull": ("EPAR ablation: no attention pull", {"pull": False}),
    "epar-no-robust": ("EPAR ablation: virtual input trained on the one-hot gold label", {"robust": False}),
    "epar-random-push": ("EPAR ablation: push of the same length in a random direction", {"direction": "random"}),
}
REGISTRY: dict[str, Method] = {
    "finetune": Method("finetune", "plain fine-tuning on English (the task kind's loss)"),
    "lora": Method("lora", "LoRA: low-rank adapters on the encoder, head in full (Hu et al., 2022; via peft)",
                   "lora", LoraSettings, prepare=_lora("prepare"), check=_lora("check")),
    **{name: Method(name, text, "epar", EparSettings, _epar_loss, MappingProxyType(switches))
       for name, (text, switches) in _EPAR.items()},
}
METHODS = tuple(REGISTRY)
_TYPES = {m.settings_key: m.settings_type for m in REGISTRY.values() if m.settings_key}


def _method(name: str, where: str = "") -> Method:
    if name not in REGISTRY:
        raise ConfigError(f"{where}unknown method {name!r} (valid: {', '.join(METHODS)})")
    return REGISTRY[name]


def parse_method_settings(methods, raw, where: Callable[..., str] = lambda *key: SECTION) -> dict[str, object]:
    """A study's `method_settings` mapping -> {settings key: typed settings}, with defaults for every
    method in `methods` that has settings; ConfigError on the first unknown method, unknown key or
    bad value. `where(*key)` locates a key below method_settings (file:line in a study file)."""
    used = {_method(m, f"{where()}: ").settings_key for m in methods} - {None}
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where()}: {SECTION} must be a mapping of settings per method "
                          f"(e.g. epar: {{push_norm: 0.25}}), got {raw!r}")
    for key in raw:
        if key not in _TYPES:
            close = difflib.get_close_matches(str(key), _TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where(str(key))}: no method has settings {key!r}{hint} "
                              f"(valid: {', '.join(_TYPES)})")
    return {key: parse(_TYPES[key], raw.get(key), f"{SECTION}.{key}", lambda *k, key=key: where(key, *k))
            for key in _TYPES if key in raw or key in used}


def settings_for(method: str, parsed: Mapping[str, object]):
    """The typed settings a run of `method` uses (its defaults when `parsed` lacks them), or None."""
    m = _method(method)
    if m.settings_key is None:
        return None
    return parsed[m.settings_key] if m.settings_key in parsed else m.settings_type()


def make_loss(method: str, kind, model, train, settings=None, special_ids=()):
    """The `loss_fn(model, batch)` a run of `method` trains with (built after the head, before training).

    `train` is the encoded English training set (EPAR reads its token ids), `settings` the method's
    typed settings (`settings_for`; None: defaults), `special_ids` the tokenizer's special token ids
    (never pushed)."""
    m = _method(method)
    if m.settings_type is None:
        if settings is not None:
            raise TypeError(f"method {method!r} takes no settings, got {settings!r}")
    elif settings is None:
        settings = m.settings_type()
    elif not isinstance(settings, m.settings_type):
        raise TypeError(f"method {method!r} needs {m.settings_type.__name__}, got {type(settings).__name__}")
    if m.build is None:
        return kind.loss
    return m.build(kind, model, train, settings, special_ids, **m.switches)


def prepare(method: str, model, settings=None):
    """The model a run of `method` trains: as built, or changed by the method (LoRA's adapters).
    Call it after the head is built and before `make_loss`."""
    m = _method(method)
    if m.prepare is None:
        return model
    return m.prepare(model, settings if settings is not None else m.settings_type())


def check(method: str, settings, ref) -> None:
    """Check a method's settings against a model (`ref`, resolved) before any run; ConfigError if bad."""
    m = _method(method)
    if m.check is not None:
        m.check(settings if settings is not None else m.settings_type(), ref)


def parameter_counts(model) -> dict[str, int]:
    """What a run stores about its model's size: parameters that trained, and all of them."""
    params = list(model.parameters())
    return {"trainable_params": sum(p.numel() for p in params if p.requires_grad),
            "total_params": sum(p.numel() for p in params)}


__all__ = ["METHODS", "REGISTRY", "Method", "check", "make_loss", "parameter_counts", "parse_method_settings",
           "prepare", "settings_for"]
