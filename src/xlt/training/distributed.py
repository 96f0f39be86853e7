"""Data parallelism over several processes (GPUs, or CPU processes with gloo), through `accelerate`.

    accelerate launch --multi_gpu --num_processes 4 -m xlt.cli.main study my.yaml   # 4 GPUs
    torchrun --nproc_per_node 2 -m xlt.cli.main study my.yaml                       # 2 CPU processes

`accelerate` sets up the process group and each rank's device. Every rank runs the same study; rank
0 alone claims runs in the results DB and tells the others which one to run (`broadcast`), and only
rank 0 writes results. Inside a run:

- training: each optimizer step takes `world x grad_accum` batches from the same seeded stream,
  rank r using every world-th one; gradients are averaged with one bucketed all-reduce per optimizer
  step (`average_gradients`). That is what DDP computes, done by hand because methods such as EPAR
  run several forward passes per step, which DDP's per-forward hooks do not allow;
- evaluation: the length-sorted batches are dealt round-robin to the ranks and the outputs gathered
  on every rank (`gather_rows`), so dev-based checkpoint selection is identical everywhere and
  each test example is encoded exactly once.

With one process (the default) every function here is a no-op and accelerate is never imported.
"""

from __future__ import annotations

import os
from functools import lru_cache

import torch


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


@lru_cache(maxsize=1)
def accelerator():
    """The process's Accelerator (initialises the process group once), or None when single-process."""
    if world_size() == 1:
        return None
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available())


def device() -> torch.device | None:
    """This rank's device under a launcher; None = let the study's train.device decide."""
    acc = accelerator()
    return acc.device if acc is not None else None


def broadcast(obj):
    """Rank 0's `obj` on every rank."""
    if accelerator() is None:
        return obj
    import torch.distributed as dist

    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(pairs: list[tuple[int, object]]) -> list[tuple[int, object]]:
    """Every rank's (row index, output) pairs, on every rank."""
    if accelerator() is None:
        return pairs
    import torch.distributed as dist

    everyone: list = [None] * world_size()
    dist.all_gather_object(everyone, pairs)
    return [p for part in everyone for p in part]


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Mean of each gradient over the ranks, in one flat all-reduce (parameters without a gradient
    on a rank count as zero there, so every rank issues the same collective)."""
    if accelerator() is None:
        return
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset : offset + n].view_as(p).to(p.dtype)
        offset += n
