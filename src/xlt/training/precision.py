"""Which floating-point precision a run computes in (placeholder until the CPU-bf16 work lands)."""

from __future__ import annotations

import torch


def resolve(requested: str, device: torch.device) -> str:
    """`auto` -> bf16 on GPUs that support it, else fp32; explicit values as given."""
    if requested != "auto":
        return requested
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"


def autocast(device: torch.device, precision: str):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=resolve(precision, device) == "bf16")
