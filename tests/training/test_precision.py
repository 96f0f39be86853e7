"""Precision: bf16 where the hardware has it, fp32 elsewhere; the loop's seeding and warmup schedule."""

import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, get_linear_schedule_with_warmup

from xlt.errors import ConfigError
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
    with pytest.raises(ConfigError, match="auto, fp32, bf16"):
        precision.resolve("fp16", CPU)


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
