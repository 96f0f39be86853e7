"""The xlt CLI with what the optimizer sees recorded, for the data-parallel test:

    torchrun --standalone --nproc_per_node 2 tests/study/dp_spy.py OUT -q study s.yaml

writes OUT.rank<r>.pt on every rank: each optimizer step's gradient norm before clipping (after the
all-reduce) and the trainable weights after each step. `install()` records the same in-process.
"""

from __future__ import annotations

import os
import sys

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook


def install() -> tuple[dict, callable]:
    """Start recording into the returned dict; the callable stops it."""
    record = {"grad_norms": [], "weights": []}
    real_clip = torch.nn.utils.clip_grad_norm_

    def clip(parameters, max_norm, *args, **kwargs):
        norm = real_clip(parameters, max_norm, *args, **kwargs)
        record["grad_norms"].append(float(norm))
        return norm

    def after_step(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        record["weights"].append(torch.cat([p.detach().reshape(-1).double().cpu() for p in params]))

    torch.nn.utils.clip_grad_norm_ = clip
    handle = register_optimizer_step_post_hook(after_step)

    def stop() -> None:
        torch.nn.utils.clip_grad_norm_ = real_clip
        handle.remove()

    return record, stop


if __name__ == "__main__":
    from xlt.cli.main import main

    out, argv = sys.argv[1], sys.argv[2:]
    record, _ = install()
    code = main(argv)
    torch.save(record, f"{out}.rank{os.environ.get('RANK', '0')}.pt")
    sys.exit(code)
