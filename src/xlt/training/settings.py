"""What a run is made of: the settings that decide its numbers vs those that only decide how fast.

`TrainSettings` is the scientific half: every field can change a score, so the whole object (with
`precision` resolved to what the hardware runs) enters the run's identity and every cache key derived
from it. `Runtime` is the other half (device, threads, progress bars, compilation, evaluation batch
budget): it never enters a key, so moving a study from a laptop to a GPU reuses nothing it should not
and recomputes nothing it need not. There is no list of "fields that do not count" anywhere: a field's
class says which half it is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def _s(default, low=-math.inf, high=math.inf, *, above: bool = False, choices: tuple = ()):
    """A setting with its valid range (`above`: strictly greater than `low`) or its choices."""
    return field(default=default, metadata={"low": low, "high": high, "above": above, "choices": choices})


POOLING = ("auto", "cls", "mean")
PRECISION = ("auto", "fp32", "bf16", "fp16")  # fp16: CUDA only, with loss scaling
SAVE = ("none", "best")


@dataclass(frozen=True)
class TrainSettings:
    """Fine-tuning settings (YAML `train:`); all of them define the run's numbers."""

    epochs: float = _s(3.0, 0, above=True)
    max_steps: int = _s(0, 0)  # > 0 caps optimizer steps (overrides epochs)
    batch_size: int = _s(32, 1)  # examples per forward pass
    grad_accum: int = _s(1, 1)  # forward passes per optimizer step
    lr: float = _s(2e-5, 0, above=True)
    head_lr: float = _s(0.0, 0)  # 0 = same as lr; a faster head helps short runs
    weight_decay: float = _s(0.01, 0)
    warmup_ratio: float = _s(0.1, 0, 1)
    max_grad_norm: float = _s(1.0, 0)  # 0 = no clipping
    max_length: int = _s(128, 8, 100_000)  # tokens, truncation only (padding is per batch)
    max_train_examples: int = _s(0, 0)  # > 0 subsamples English train (deterministic per seed)
    eval_every: int = _s(0, 0)  # optimizer steps between dev evaluations; 0 = end of each epoch
    pooling: str = _s("auto", choices=POOLING)  # auto = what the model was pretrained for (cls / mean)
    dropout: float = _s(0.1, 0, 0.99)
    freeze_embeddings: bool = False  # freeze the word-embedding table (250k rows on XLM-R vocab)
    precision: str = _s("auto", choices=PRECISION)  # a run's identity holds the resolved one


@dataclass(frozen=True)
class Runtime:
    """How a run is executed (YAML `runtime:`); never part of a run's identity."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N (checked against the machine by `check_device`)
    threads: int = _s(0, 0)  # torch CPU threads; 0 = torch default
    progress: bool = True
    compile: bool = False  # torch.compile the model (dynamic shapes); pays off on long GPU runs
    # recompute activations in backward: far less memory, same numbers (xlt.training.checkpointing)
    gradient_checkpointing: bool = False
    eval_max_tokens: int = _s(16384, 1)  # token budget per evaluation batch
    eval_max_batch: int = _s(256, 1)
    # best: write each trained run's selected (best English dev) checkpoint to <save_dir>/<study>/<run id>/
    # (encoder + tokenizer via save_pretrained, head, model card; `xlt.load_model`); the numbers do not change
    save: str = _s("none", choices=SAVE)
    save_dir: str = "xlt-results/models"
    # experiment trackers every finished run is logged to (xlt.trackers): tensorboard, mlflow, wandb
    trackers: tuple[str, ...] = ()
    tracker_dir: str = ""  # where they write; "" = `trackers/` next to a SQLite results DB (else ./xlt-trackers)

    def __post_init__(self):
        # YAML gives one name or a list; a tuple keeps the frozen object hashable
        t = self.trackers
        object.__setattr__(self, "trackers", () if t is None else (t,) if isinstance(t, str) else tuple(t))


def out_of_range(f, value) -> str:
    """Why `value` is not valid for the settings field `f` ('' when it is)."""
    meta = f.metadata
    if meta.get("choices"):
        return "" if value in meta["choices"] else f"must be one of {', '.join(meta['choices'])}"
    if not meta or isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    low, high, above = meta["low"], meta["high"], meta["above"]
    if math.isnan(value) or value < low or (above and value == low) or value > high:
        if high < math.inf:
            return f"must be between {low:g} and {high:g}"
        return f"must be {'>' if above else '>='} {low:g}"
    return ""


def check_device(device: str) -> str:
    """Why `device` cannot be used on this machine ('' when it can)."""
    import re

    import torch

    if device in ("auto", "cpu"):
        return ""
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not m:
        return "must be auto, cpu, cuda or cuda:N"
    if not torch.cuda.is_available():
        return "asks for a CUDA GPU, but none is visible on this machine (use auto or cpu)"
    if m.group(1) is not None and int(m.group(1)) >= torch.cuda.device_count():
        return f"names GPU {m.group(1)}, but this machine has {torch.cuda.device_count()}"
    return ""
