"""Which precision a run computes in: bf16 autocast where the hardware runs bf16 natively, fp16 with
loss scaling on CUDA GPUs without bf16, else fp32.

    resolve("auto", torch.device("cpu"))   # "bf16" on AVX512-BF16 / AMX CPUs, "fp32" elsewhere
    resolve("auto", torch.device("cuda"))  # "bf16" on Ampere and newer, "fp16" on V100 / T4 / RTX 20xx
    with autocast(device, resolve(cfg.precision, device)):
        loss = loss_fn(model, batch)

`auto` picks bf16 on CUDA GPUs that support it (Ampere and newer) and on CPUs with native bf16
matmuls (x86 AVX512-BF16 or AMX-BF16, Arm BF16): there the embedded encoder's forward runs ~3x and
its training steps ~2.4x faster than fp32 at measured accuracy parity (bench/parity.py). On CUDA
GPUs without bf16 but with fp16 tensor cores (compute capability 7.x: V100, T4, RTX 20xx) `auto` is
fp16 autocast with a GradScaler (`scaler`, `optimizer_step`): fp16's 5 exponent bits underflow small
gradients unless the loss is scaled up before backward and the gradients unscaled before clipping.
Elsewhere `auto` is fp32, because emulated bf16 (convert, fp32 matmul, convert back) is slower than
plain fp32. fp16 on a CPU is refused: CPU autocast fp16 is not a training path (no loss scaling
is needed there because bf16 exists, and its fp16 kernels are emulated).

An explicit `bf16` on a CPU without native bf16 is emulated: the same rounding, so the same numbers
as on native hardware, only slower (a warning says so). An explicit `bf16` on a GPU without bf16 is
an error: CUDA has no emulation path. Only the resolved value ("bf16" / "fp16" / "fp32") belongs in a
run's identity and provenance: `auto` means different numbers on different machines.

XLT_CPU_BF16=1 / 0 overrides the CPU detection (tests; a CPU whose flags the detection misreads).
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import subprocess
from pathlib import Path

import torch

from xlt.errors import ConfigError

log = logging.getLogger("xlt")
CHOICES = ("auto", "fp32", "bf16", "fp16")
FP16_CAPABILITY = (7, 0)  # fp16 tensor cores (Volta); older GPUs run fp16 no faster, or (6.1) far slower
ENV = "XLT_CPU_BF16"
# CPU feature names that mean bf16 dot products in hardware: x86 flags (/proc/cpuinfo, torch's cpuinfo)
# and Arm's (/proc/cpuinfo "Features", macOS sysctl FEAT_BF16)
_NATIVE = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16", "feat_bf16")


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (not by converting to fp32 and back)."""
    env = os.environ.get(ENV, "").strip().lower()
    if env in ("1", "true", "yes"):
        return True
    if env in ("0", "false", "no"):
        return False
    if env:
        raise ConfigError(f"{ENV} must be 1 or 0, got {os.environ[ENV]!r}")
    return _detected()


@functools.cache
def _detected() -> bool:
    return bool(_cpu_flags() & set(_NATIVE))


def _cpu_flags() -> set[str]:
    """Lower-case CPU feature names from every source this platform has (each may be missing)."""
    flags: set[str] = set()
    try:  # torch's own cpuinfo (torch >= 2.6): the same on Linux, Windows and macOS
        flags |= {k.lower() for k, v in torch.cpu.get_capabilities().items() if v is True}
    except Exception:  # older torch, or cpuinfo failed to initialise
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() in ("flags", "features"):  # x86 / Arm
                flags |= set(value.lower().split())
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True,
                                 timeout=5).stdout.strip()
            if out == "1":
                flags.add("feat_bf16")
        except (OSError, subprocess.SubprocessError):
            pass
    return flags


def resolve(requested: str, device: torch.device) -> str:
    """The precision a run on `device` computes in: "bf16", "fp16" or "fp32" (what a run's identity records)."""
    if requested not in CHOICES:
        raise ConfigError(f"precision must be one of {', '.join(CHOICES)}, got {requested!r}")
    if requested == "fp32":
        return "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise ConfigError(f"precision fp16: {device.type} autocast fp16 is not a training path; fp16 with loss "
                          f"scaling is for CUDA GPUs without bf16 (use bf16 or fp32 on {device.type})")
    if device.type == "cuda":
        gpu = torch.cuda.is_available()
        ok = gpu and torch.cuda.is_bf16_supported(including_emulation=False)
        if requested == "bf16" and not ok:
            raise ConfigError(f"precision bf16: {device} does not support bfloat16 (use precision=fp16, fp32 or auto)")
        if requested == "fp16":
            if not gpu:
                raise ConfigError(f"precision fp16: no CUDA GPU is visible for {device}")
            return "fp16"
        if ok:
            return "bf16"
        return "fp16" if gpu and torch.cuda.get_device_capability(device) >= FP16_CAPABILITY else "fp32"
    if device.type == "cpu":
        native = cpu_has_bf16()
        if requested == "bf16" and not native:
            _warn_emulated()
        return "bf16" if native or requested == "bf16" else "fp32"
    return "bf16" if requested == "bf16" else "fp32"  # other backends (mps, xpu): only on request


@functools.cache
def _warn_emulated() -> None:
    log.warning("precision bf16: this CPU has no native bf16 (no AVX512-BF16/AMX/Arm BF16); it is emulated, "
                "with the same numbers but slower than fp32")


_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, resolved: str):
    """The autocast context for a resolved precision ("bf16", "fp16", "fp32"; "auto" is resolved here too)."""
    if resolved not in ("bf16", "fp16", "fp32"):
        resolved = resolve(resolved, device)
    return torch.autocast(device.type, dtype=_DTYPES.get(resolved, torch.bfloat16), enabled=resolved != "fp32")


def scaler(device: torch.device, resolved: str) -> torch.amp.GradScaler:
    """The loss scaler for a resolved precision: active for fp16 only. Disabled, it passes the loss and
    the optimizer step through unchanged, so bf16 and fp32 runs compute exactly what they did without it."""
    return torch.amp.GradScaler(device.type, enabled=resolved == "fp16")


def optimizer_step(opt: torch.optim.Optimizer, scale: torch.amp.GradScaler, params, max_grad_norm: float) -> bool:
    """Unscale the gradients, clip them to `max_grad_norm` (0: no clipping) and step; False when the
    step was skipped because a gradient overflowed in fp16 (the scaler then lowers its scale).

    Clipping must see the true gradients, hence unscale before clip (the order torch's AMP recipe gives)."""
    scale.unscale_(opt)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    before = scale.get_scale() if scale.is_enabled() else None
    scale.step(opt)  # skips opt.step() when any gradient is inf/nan
    scale.update()
    return before is None or scale.get_scale() >= before  # the scale only drops after an overflow


def describe(requested: str, device: torch.device) -> str:
    """One line for --dry-run and provenance: what was asked, what is used and why."""
    used = resolve(requested, device)
    if device.type == "cpu":
        why = "native bf16 on this CPU" if cpu_has_bf16() else "no native bf16 on this CPU"
        if requested == "bf16" and not cpu_has_bf16():
            why += ", emulated"
    elif device.type == "cuda":
        why = {"bf16": "bf16-capable GPU", "fp16": "GPU without bf16, fp16 with loss scaling"}.get(used, "GPU without bf16 or fp16 tensor cores")
    else:
        why = device.type
    if requested == used and "emulated" not in why:  # asked for and got it: nothing to explain
        return f"precision {used}"
    return f"precision {used} ({requested}: {why})"
