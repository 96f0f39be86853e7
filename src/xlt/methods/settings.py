"""Typed settings of the training methods and their parsing from a study file's `method_settings:`.

A settings type is a frozen dataclass whose fields say how they are checked (`number`, `integer`,
`choice`, `names`);
`parse` turns one YAML mapping into it with one clear ConfigError per bad key or value. Kept free
of torch so that loading a study validates settings without importing the training code.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from xlt.errors import ConfigError

SECTION = "method_settings"  # the study-file key holding {settings key: mapping}
PULL_ON = ("attention", "hidden", "both")


def number(default: float, high: float = math.inf, *, above_zero: bool = False):
    """A float field in [0, high] ((0, high] with `above_zero`)."""
    return dataclasses.field(default=default, metadata={"range": (0.0, high), "above_zero": above_zero})


def integer(default: int, low: int = 0):
    """An integer field >= low."""
    return dataclasses.field(default=default, metadata={"integer": low})


def names(default: tuple[str, ...]):
    """A non-empty list of distinct non-empty strings (a tuple once parsed: settings stay hashable)."""
    return dataclasses.field(default=default, metadata={"names": True})


def choice(default: str, options: tuple[str, ...]):
    """A field holding one of `options`."""
    return dataclasses.field(default=default, metadata={"choice": options})


@dataclass(frozen=True)
class EparSettings:
    """`method_settings.epar` (see xlt.methods.epar); lengths are in units of the mean norm of the
    English embedding rows."""

    title: ClassVar[str] = "EPAR"
    push_norm: float = number(0.25)  # length of the push (me5-small: the centroid gap is 0.21)
    noise_norm: float = number(0.05)  # length of the per-token random noise
    w_virtual: float = number(1.0)  # weight of the virtual input's loss
    w_pull: float = number(1.0)  # weight of the pull loss
    gold_weight: float = number(0.7, high=1.0)  # share of the gold label in the robust target (1 = one-hot)
    pull_on: str = choice("attention", PULL_ON)  # attention (KL) | hidden (MSE) | both


@dataclass(frozen=True)
class LoraSettings:
    """`method_settings.lora` (see xlt.methods.lora): low-rank adapters on the encoder's linear layers
    named in `target_modules` (a layer's last name, or a dotted suffix); everything else in the encoder
    stays frozen, the task head trains in full."""

    title: ClassVar[str] = "LoRA"
    r: int = integer(8, low=1)  # rank of the update B @ A
    alpha: float = number(16.0, above_zero=True)  # the update is scaled by alpha / r
    dropout: float = number(0.1, high=0.99)  # on the adapter's input only
    target_modules: tuple[str, ...] = names(("query", "value"))  # BERT / XLM-R attention projections


def _value(field: dataclasses.Field, value, at: str, name: str):
    if "integer" in field.metadata:
        if isinstance(value, bool) or not isinstance(value, int) or value < field.metadata["integer"]:
            raise ConfigError(f"{at}: {name} must be an integer >= {field.metadata['integer']}, got {value!r}")
        return value
    if "names" in field.metadata:
        if isinstance(value, str):
            value = [value]
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(v, str) and v.strip() for v in value)):
            raise ConfigError(f"{at}: {name} must be a non-empty list of names, got {value!r}")
        if len(set(value)) < len(value):
            raise ConfigError(f"{at}: {name} lists a name twice: {value!r}")
        return tuple(value)
    if "choice" in field.metadata:
        options = field.metadata["choice"]
        if value not in options:
            raise ConfigError(f"{at}: {name} must be one of {', '.join(options)}, got {value!r}")
        return value
    try:
        if isinstance(value, bool):  # float(True) would pass as 1.0
            raise ValueError
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{at}: {name} must be a number, got {value!r}") from None
    low, high = field.metadata["range"]
    above = field.metadata.get("above_zero", False)
    if not low <= x <= high or (above and x == low):
        bound = f"between {low:g} and {high:g}" if math.isfinite(high) else f"{'>' if above else '>='} {low:g}"
        raise ConfigError(f"{at}: {name} must be {bound}, got {value!r}")
    return x


def parse(settings_type: type, raw, section: str, where: Callable[..., str]):
    """One settings mapping -> `settings_type` (defaults where a key is absent; None = all defaults).

    `section` names the mapping in messages (method_settings.epar); `where(*key)` gives the location
    prefix of a key below it (file:line in a study file)."""
    if raw is None:
        return settings_type()
    if not isinstance(raw, dict):
        raise ConfigError(f"{where()}: {section} must be a mapping of {settings_type.title} settings, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(settings_type)}
    out = {}
    for key, value in raw.items():
        at = where(str(key))
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{at}: unknown {settings_type.title} setting {key!r}{hint} "
                              f"(valid: {', '.join(fields)})")
        out[key] = _value(fields[key], value, at, f"{section}.{key}")
    return settings_type(**out)
