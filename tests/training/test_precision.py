"""Precision: bf16 where the hardware has it, fp16 + loss scaling on GPUs without bf16, fp32 elsewhere; the
loop's seeding and warmup schedule."""

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, get_linear_schedule_with_warmup

from xlt.errors import ConfigError
from tests.tiny_models import tiny_classifier_and_rows
from xlt.models.heads import SequenceClassifier
from xlt.training import loop, precision
from xlt.training.batching import Encoded
from xlt.training.settings import Runtime, TrainSettings

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    precision._detected.cache_clear()
    precision._warn_emulated.cache_clear()
    yield
    precision._detected.cache_clear()


@pytest.mark.parametrize("flags, native", [
    ({"avx512f", "avx512_bf16"}, True), ({"amx_tile", "amx_bf16"}, True), ({"fp", "asimd", "bf16"}, True),
    ({"avx512f", "avx2"}, False), (set(), False)])
def test_detection_reads_the_native_bf16_flags(monkeypatch, flags, native):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: flags)
    assert precision.cpu_has_bf16() is native
    assert precision.resolve("auto", CPU) == ("bf16" if native else "fp32")


def test_detection_agrees_with_proc_cpuinfo():
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("no /proc/cpuinfo")
    flags = {f for line in info.read_text().splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for f in line.split(":", 1)[1].split()}
    assert precision.cpu_has_bf16() == bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def test_the_environment_overrides_the_detection(monkeypatch):
    monkeypatch.setattr(precision, "_cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setenv(precision.ENV, "0")
    assert precision.resolve("auto", CPU) == "fp32"
    monkeypatch.setattr(precision, "_cpu_flags", set)
    monkeypatch.setenv(precision.ENV, "1")
    assert precision.resolve("auto", CPU) == "bf16"
    monkeypatch.setenv(precision.ENV, "maybe")
    with pytest.raises(ConfigError, match="XLT_CPU_BF16"):
        precision.cpu_has_bf16()


def test_fp32_is_forced_and_bad_names_are_refused(monkeypatch):
    monkeypatch.setenv(precision.ENV, "1")
    assert precision.resolve("fp32", CPU) == "fp32"
    with pytest.raises(ConfigError, match="auto, fp32, bf16, fp16"):
        precision.resolve("fp8", CPU)


def test_explicit_bf16_without_native_support_is_emulated_with_a_warning(monkeypatch, caplog):
    monkeypatch.setenv(precision.ENV, "0")
    with caplog.at_level(logging.WARNING, logger="xlt"):
        assert precision.resolve("bf16", CPU) == "bf16"
        precision.resolve("bf16", CPU)
    assert sum("emulated" in r.message for r in caplog.records) == 1  # once per process
    assert "emulated" in precision.describe("bf16", CPU)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_explicit_bf16_on_an_unusable_gpu_is_an_error():
    with pytest.raises(ConfigError, match="does not support bfloat16"):
        precision.resolve("bf16", torch.device("cuda"))
    assert precision.resolve("auto", torch.device("cuda")) == "fp32"


def test_describe_says_what_was_used_and_why(monkeypatch):
    monkeypatch.setenv(precision.ENV, "1")
    assert precision.describe("auto", CPU) == "precision bf16 (auto: native bf16 on this CPU)"
    monkeypatch.setenv(precision.ENV, "0")
    assert precision.describe("auto", CPU) == "precision fp32 (auto: no native bf16 on this CPU)"
    assert precision.describe("fp32", CPU) == "precision fp32"


@pytest.mark.parametrize("env, requested, dtype", [("1", "auto", torch.bfloat16), ("0", "auto", torch.float32),
                                                   ("1", "fp32", torch.float32), ("0", "bf16", torch.bfloat16)])
def test_the_loop_autocasts_as_the_precision_resolves(monkeypatch, env, requested, dtype):
    monkeypatch.setenv(precision.ENV, env)
    a = torch.randn(4, 4)
    with loop.autocast(CPU, requested):
        assert (a @ a).dtype == dtype
    with precision.autocast(CPU, precision.resolve(requested, CPU)):
        assert torch.nn.functional.linear(a, a).dtype == dtype


def test_seed_everything_gives_the_draws_of_plain_seeding():
    loop.seed_everything(7)
    ours = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    plain = (random.random(), np.random.rand(), torch.rand(3))
    assert ours[:2] == plain[:2] and torch.equal(ours[2], plain[2])


def test_warmup_is_hf_linear_schedule_shifted_by_one_step(tiny_bert, monkeypatch):
    """ours(s) == HF(s + 1) during warmup (HF's first step has lr 0), the same linear decay after."""
    made = []
    real = torch.optim.lr_scheduler.LambdaLR

    def spy(opt, fn, *args, **kwargs):
        made.append(fn)
        return real(opt, fn, *args, **kwargs)

    monkeypatch.setattr(torch.optim.lr_scheduler, "LambdaLR", spy)
    torch.manual_seed(0)
    model = SequenceClassifier(AutoModel.from_pretrained(tiny_bert), 3, "mean")
    rng = np.random.default_rng(0)
    data = Encoded([rng.integers(5, 90, rng.integers(3, 9)).tolist() for _ in range(8)], None, rng.integers(0, 3, 8))
    loss = lambda m, b: torch.nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]), b["labels"])
    total, warmup = 20, 5
    cfg = TrainSettings(max_steps=total, warmup_ratio=warmup / total, batch_size=4, freeze_embeddings=True,
                        eval_every=total, precision="fp32")
    loop.fine_tune(model, data, cfg, 1, 0, CPU, loss, lambda m: 0.5, Runtime(progress=False))
    ours = made[0]
    hf_sched = get_linear_schedule_with_warmup(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                                               warmup, total)
    hf = hf_sched.lr_lambdas[0]
    assert hf(0) == 0.0 and ours(0) == 1 / warmup  # the step HF wastes at lr 0
    for s in range(warmup):
        assert ours(s) == pytest.approx(hf(s + 1))
    for s in range(warmup, total + 1):
        assert ours(s) == pytest.approx(hf(s))


# -- fp16 with loss scaling ----------------------------------------------------------------------------
GPU = torch.device("cuda")


def fake_gpu(monkeypatch, bf16: bool, capability: tuple[int, int]):
    """A visible CUDA GPU with these capabilities (A100: bf16, (8, 0); T4: no bf16, (7, 5); P40: (6, 1))."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)


@pytest.mark.parametrize("bf16, capability, auto", [(True, (8, 0), "bf16"), (False, (7, 5), "fp16"),
                                                     (False, (7, 0), "fp16"), (False, (6, 1), "fp32")])
def test_auto_on_a_gpu_is_bf16_else_fp16_on_tensor_cores_else_fp32(monkeypatch, bf16, capability, auto):
    fake_gpu(monkeypatch, bf16, capability)
    assert precision.resolve("auto", GPU) == auto
    assert precision.resolve("fp16", GPU) == "fp16"  # on request on any GPU
    assert precision.resolve("fp32", GPU) == "fp32"


def test_describe_says_fp16_comes_with_loss_scaling(monkeypatch):
    fake_gpu(monkeypatch, False, (7, 5))  # T4
    assert precision.describe("auto", GPU) == "precision fp16 (auto: GPU without bf16, fp16 with loss scaling)"
    with pytest.raises(ConfigError, match="does not support bfloat16 .*fp16"):
        precision.resolve("bf16", GPU)
    fake_gpu(monkeypatch, False, (6, 1))
    assert precision.describe("auto", GPU) == "precision fp32 (auto: GPU without bf16 or fp16 tensor cores)"
    fake_gpu(monkeypatch, True, (9, 0))
    assert precision.describe("fp16", GPU) == "precision fp16"


def test_fp16_on_a_cpu_is_refused_in_one_line(monkeypatch):
    for env in ("0", "1"):  # with or without native bf16
        monkeypatch.setenv(precision.ENV, env)
        with pytest.raises(ConfigError) as err:
            precision.resolve("fp16", CPU)
        assert str(err.value) == ("precision fp16: cpu autocast fp16 is not a training path; fp16 with loss "
                                  "scaling is for CUDA GPUs without bf16 (use bf16 or fp32 on cpu)")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_fp16_without_a_visible_gpu_is_an_error():
    with pytest.raises(ConfigError, match="no CUDA GPU"):
        precision.resolve("fp16", GPU)


def test_the_scaler_is_active_for_fp16_only():
    assert precision.scaler(CPU, "fp16").is_enabled()
    assert not precision.scaler(CPU, "bf16").is_enabled() and not precision.scaler(CPU, "fp32").is_enabled()


def _param_and_opt(grad: float, lr: float = 0.5):
    p = torch.nn.Parameter(torch.tensor([1.0, -1.0]))
    return p, torch.optim.SGD([p], lr=lr)


def test_a_scaled_step_equals_the_unscaled_one_and_clips_the_true_gradients():
    """Loss scaled by 2**10 before backward; the step unscales first, so clipping (max norm 1) sees the
    true gradient norm (0.5 here: no clipping) and the update is the plain SGD update."""
    scale = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    p, opt = _param_and_opt(0.25)
    scale.scale((p * torch.tensor([0.25, 0.25 * 3 ** 0.5])).sum()).backward()  # true grad: norm 0.5
    assert p.grad[0].item() == 0.25 * 2 ** 10
    assert precision.optimizer_step(opt, scale, [p], max_grad_norm=1.0) is True
    assert torch.allclose(p.detach(), torch.tensor([1.0 - 0.125, -1.0 - 0.125 * 3 ** 0.5]))
    assert scale.get_scale() == 2.0 ** 10  # grows only after growth_interval good steps


def test_a_step_with_overflowing_gradients_is_skipped_and_the_scale_lowered():
    scale = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10)
    p, opt = _param_and_opt(0.25)
    scale.scale(p.sum() * torch.tensor(float("inf"))).backward()
    assert precision.optimizer_step(opt, scale, [p], max_grad_norm=1.0) is False
    assert torch.equal(p.detach(), torch.tensor([1.0, -1.0]))  # untouched
    assert scale.get_scale() == 2.0 ** 9


def test_a_disabled_scaler_is_the_plain_clip_and_step():
    p, opt = _param_and_opt(0.0)
    q, opt_q = _param_and_opt(0.0)
    for x, o, scale in ((p, opt, precision.scaler(CPU, "fp32")), (q, opt_q, None)):
        (x * torch.tensor([3.0, 4.0])).sum().backward()  # grad norm 5, clipped to 1
        if scale is None:
            torch.nn.utils.clip_grad_norm_([x], 1.0)
            o.step()
        else:
            assert precision.optimizer_step(o, scale, [x], 1.0) is True
    assert torch.equal(p.detach(), q.detach())


def _tiny_training(tiny_bert, monkeypatch, scale, loss_override=None):
    """Three fp32 steps of the loop with `scale` as its loss scaler; the weights after each step."""
    monkeypatch.setattr(precision, "scaler", lambda device, resolved: scale)
    model, data = tiny_classifier_and_rows(tiny_bert, 12)
    calls = []

    def loss(m, b):
        calls.append(1)
        out = torch.nn.functional.cross_entropy(m(b["input_ids"], b["attention_mask"]), b["labels"])
        return out * loss_override(len(calls)) if loss_override else out

    weights = []
    cfg = TrainSettings(max_steps=3, batch_size=4, eval_every=1, precision="fp32", warmup_ratio=0.0)
    loop.fine_tune(model, data, cfg, 1, 0, CPU, loss, lambda m: weights.append(m.head.weight.detach().clone()) or
                   len(weights), Runtime(progress=False))
    return weights


def test_the_loop_scales_the_loss_and_skips_an_overflowing_step(tiny_bert, monkeypatch):
    """The loop goes through the scaler: a power-of-two scale changes no fp32 number, and a step whose
    loss overflows leaves the weights alone and does not advance the lr schedule."""
    plain = _tiny_training(tiny_bert, monkeypatch, torch.amp.GradScaler("cpu", enabled=False))
    scaled = _tiny_training(tiny_bert, monkeypatch, torch.amp.GradScaler("cpu", init_scale=2.0 ** 8))
    assert all(torch.equal(a, b) for a, b in zip(plain, scaled))
    lrs = []
    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "step",
                        lambda self, *a: lrs.append(1) or torch.optim.lr_scheduler.LRScheduler.step(self, *a))
    overflow = _tiny_training(tiny_bert, monkeypatch, torch.amp.GradScaler("cpu", init_scale=2.0 ** 8),
                              lambda call: float("inf") if call == 2 else 1.0)
    assert torch.equal(overflow[0], plain[0]) and torch.equal(overflow[1], overflow[0])  # step 2 skipped
    assert not torch.equal(overflow[2], overflow[1])
    assert len(lrs) == 3  # the scheduler's own initial step in its constructor, then steps 1 and 3 (not 2)
