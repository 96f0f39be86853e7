"""What a run is made of: the settings that decide its numbers vs those that only decide how fast.

`TrainSettings` is the scientific half: every field can change a score, so the whole object (with
`precision` resolved to what the hardware runs) enters the run's identity and every cache key derived
from it. `Runtime` is the other half (device, threads, progress bars, compilation, evaluation batch
budget): it never enters a key, so moving a study from a laptop to a GPU reuses nothing it should not
and recomputes nothing it need not. There is no list of "fields that do not count" anywhere: a field's
class says which half it is in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainSettings:
    """Fine-tuning settings (YAML `train:`); all of them define the run's numbers."""

    epochs: float = 3.0
    max_steps: int = 0  # > 0 caps optimizer steps (overrides epochs)
    batch_size: int = 32  # examples per forward pass
    grad_accum: int = 1  # forward passes per optimizer step
    lr: float = 2e-5
    head_lr: float = 0.0  # 0 = same as lr; a faster head helps short runs
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    max_length: int = 128  # tokens, truncation only (padding is per batch)
    max_train_examples: int = 0  # > 0 subsamples English train (deterministic per seed)
    eval_every: int = 0  # optimizer steps between dev evaluations; 0 = end of each epoch
    pooling: str = "auto"  # auto = what the model was pretrained for (cls / mean)
    dropout: float = 0.1
    freeze_embeddings: bool = False  # freeze the word-embedding table (250k rows on XLM-R vocab)
    precision: str = "auto"  # auto | fp32 | bf16; a run's identity holds the resolved one


@dataclass(frozen=True)
class Runtime:
    """How a run is executed (YAML `runtime:`); never part of a run's identity."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads; 0 = torch default
    progress: bool = True
    compile: bool = False  # torch.compile the model (dynamic shapes); pays off on long GPU runs
    eval_max_tokens: int = 16384  # token budget per evaluation batch
    eval_max_batch: int = 256


POOLING = ("auto", "cls", "mean")
PRECISION = ("auto", "fp32", "bf16")
