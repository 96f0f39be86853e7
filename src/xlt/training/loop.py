"""The training loop: fine-tune on English, select on English dev, predict anything.

Run it through a study (the loop itself has no CLI):

    # CPU (laptop):            xlt study my_study.yaml
    # one GPU (bf16 autocast): xlt study my_study.yaml runtime.device=cuda
    # quick check of a change: xlt study my_study.yaml train.max_steps=20 seeds=[1]
    # several GPUs (data parallel, see xlt.training.distributed):
    #   accelerate launch --multi_gpu --num_processes 4 -m xlt.cli.main study my_study.yaml

One optimizer step = `batch_size x grad_accum x processes` examples, each batch padded only to its own longest
sequence. Model selection evaluates English dev every `eval_every` steps (0 = once per epoch) and
restores the best weights: the target languages are never looked at (true zero-shot).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import transformers
from torch import nn
from tqdm.auto import tqdm

from xlt.errors import XltError
from xlt.training import checkpointing, distributed
from xlt.training import precision as _precision
from xlt.training.batching import Encoded, collate, eval_batches, first_of_equal, train_batches
from xlt.training.settings import Runtime, TrainSettings


@dataclass
class TrainResult:
    best_dev: float
    best_step: int
    steps: int
    seconds: float
    examples_seen: int
    history: list[dict]  # the curve: {step, epoch, dev (None between evaluations), train_loss, lr} per point


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU): the same draws as HF Trainer's seeding."""
    transformers.set_seed(seed)


def pick_device(name: str) -> torch.device:
    if distributed.device() is not None:  # under a launcher each rank has its own device
        return distributed.device()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast(device: torch.device, precision: str):
    """bf16 autocast or none, as `precision` (auto / fp32 / bf16) resolves on `device` (see xlt.training.precision)."""
    return _precision.autocast(device, _precision.resolve(precision, device))


def _param_groups(model: nn.Module, cfg: TrainSettings):
    decay, no_decay, head = [], [], []
    own = getattr(model, "lr_by_prefix", {})  # {name prefix: lr} a model sets for some parameters
    own_groups: dict[str, list] = {prefix: [] for prefix in own}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if prefix := next((k for k in own if name.startswith(k)), None):
            own_groups[prefix].append(p)
        elif name.startswith("head.") and cfg.head_lr > 0:
            head.append(p)
        elif p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name:
            no_decay.append(p)  # biases and norms are not decayed (BERT convention)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if head:
        groups.append({"params": head, "weight_decay": cfg.weight_decay, "lr": cfg.head_lr})
    groups += [{"params": ps, "weight_decay": cfg.weight_decay, "lr": own[k]} for k, ps in own_groups.items() if ps]
    return groups


def _batch_to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def fine_tune(model: nn.Module, train: Encoded, cfg: TrainSettings, seed: int, pad_id: int,
              device: torch.device, loss_fn: Callable[[nn.Module, dict], torch.Tensor],
              dev_score: Callable[[nn.Module], float], runtime: Runtime = Runtime()) -> TrainResult:
    """Train `model` in place; on return it holds the weights that scored best on English dev.

    `loss_fn(model, batch)` is the task type's loss (methods such as EPAR wrap it);
    `dev_score(model)` is the task's main metric on English dev (higher is better).
    """
    seed_everything(seed)
    rng = np.random.default_rng(seed)
    if cfg.freeze_embeddings:
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    model.to(device)
    undo_checkpointing = checkpointing.enable(model) if runtime.gradient_checkpointing else None
    scaler = _precision.scaler(device, _precision.resolve(cfg.precision, device))  # active for fp16 only
    world, rank = distributed.world_size(), distributed.rank()
    steps_per_epoch = math.ceil(math.ceil(len(train) / cfg.batch_size) / (cfg.grad_accum * world))
    total = cfg.max_steps or max(1, math.ceil(steps_per_epoch * cfg.epochs))
    eval_every = cfg.eval_every or steps_per_epoch
    # fused: one kernel over all tensors (CPU too since torch 2.4; the default per-tensor loop is
    # ~1.5x slower on CPU and foreach ~4x slower there)
    opt = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr, fused=device.type in ("cuda", "cpu"))
    step_model = _compiled(model, runtime)
    warmup = int(cfg.warmup_ratio * total)
    # linear warmup then linear decay to 0. Warmup is HF get_linear_schedule_with_warmup shifted by one
    # step (ours(s) == HF(s + 1) for s < warmup, the decay is the same): HF's first step has lr 0, a
    # wasted step that matters in short runs (the demo warms up for 8 steps); kept, and tested
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )
    lengths = train.lengths
    best = (-math.inf, 0, None)
    history, step, seen, t0 = [], 0, 0, time.perf_counter()
    bar = tqdm(total=total, desc="fine-tune", unit="step", disable=not runtime.progress, leave=False)

    def batches():
        while True:  # epochs until `total` optimizer steps are done
            epoch = list(train_batches(lengths, cfg.batch_size, rng))
            if not epoch:  # would loop forever without a step: fail with the reason instead
                raise XltError(f"no training batches: {len(train)} training examples, batch_size {cfg.batch_size}")
            yield from epoch

    stream = batches()  # the same seeded stream on every rank; rank r takes every world-th batch
    trainable = [p for p in model.parameters() if p.requires_grad]
    # curve points: train loss every `log_every` steps (about 10 per evaluation interval) and at every
    # evaluation; the loss is summed on the device and read once per point (one host sync, not one per step)
    log_every, loss_sum, loss_steps = max(1, eval_every // 10), torch.zeros((), device=device), 0
    while step < total:
        model.train()
        lr = opt.param_groups[0]["lr"]  # the rate this step applies (the scheduler moves it after the step)
        for _ in range(cfg.grad_accum):
            idx = [next(stream) for _ in range(world)][rank]
            batch = _batch_to(collate(train, idx, pad_id), device)
            with autocast(device, cfg.precision):
                loss = loss_fn(step_model, batch) / cfg.grad_accum
            scaler.scale(loss).backward()
            seen += len(idx)
            loss_sum += loss.detach().float()  # / grad_accum already: the sum over micro-batches is the step's mean
        distributed.average_gradients(trainable)
        if _precision.optimizer_step(opt, scaler, model.parameters(), cfg.max_grad_norm):
            sched.step()  # an fp16 step skipped for overflow does not advance the schedule (as HF Trainer)
        opt.zero_grad(set_to_none=True)
        step += 1
        bar.update(1)
        loss_steps += 1
        evaluate = step % eval_every == 0 or step == total
        if evaluate or step % log_every == 0:  # mean train loss over the steps since the previous point
            history.append({"step": step, "epoch": round(step / steps_per_epoch, 4), "dev": None,
                            "train_loss": loss_sum.item() / loss_steps, "lr": lr})
            loss_sum.zero_()
            loss_steps = 0
        if evaluate:
            score = dev_score(model)
            history[-1]["dev"] = score
            bar.set_postfix(dev=f"{score:.3f}")
            if score > best[0]:
                best = (score, step, _trainable_state(model))
    bar.close()
    if undo_checkpointing:
        undo_checkpointing()
    model.load_state_dict(best[2], strict=False)
    return TrainResult(best[0], best[1], step, time.perf_counter() - t0, seen, history)


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the parameters that training changes (frozen ones need no snapshot)."""
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def _compiled(model: nn.Module, runtime: Runtime) -> nn.Module:
    """What to call: the model, or with `runtime.compile` its torch.compile'd wrapper (made once per model;
    dynamic shapes because every batch has its own width)."""
    if not runtime.compile:
        return model
    compiled = model.__dict__.get("_xlt_compiled")
    if compiled is None:
        compiled = torch.compile(model, dynamic=True)
        object.__setattr__(model, "_xlt_compiled", compiled)  # not a submodule: stays out of state_dict
    return compiled


@torch.inference_mode()
def forward_rows(model: nn.Module, data: Encoded, pad_id: int, device: torch.device, *, precision: str,
                 runtime: Runtime = Runtime(), desc: str = "evaluate") -> list[np.ndarray]:
    """Model outputs per row, in the original row order; batches are length-sorted for speed.

    Rows with the same inputs run once (`first_of_equal`) and share the output. Token-level outputs are cut
    to the row's own length (padding dropped). On a GPU the outputs stay on the device until `_SYNC_EVERY`
    batches are pending, so the host never waits for each batch.
    """
    model.eval()
    call = _compiled(model, runtime)
    out: list = [None] * len(data)
    lengths = data.lengths  # tokens per row (choice rows: ndim-2 outputs, never cut)
    first = first_of_equal(data)
    unique = np.flatnonzero(first == np.arange(len(data)))
    batches = [unique[b] for b in eval_batches(lengths[unique], runtime.eval_max_tokens, runtime.eval_max_batch)]
    batches = batches[distributed.rank()::distributed.world_size()]  # dealt round-robin to ranks
    # only large evaluations get a bar (dev checks during training would flood the terminal)
    show = runtime.progress and len(data) >= 2000
    pending: list[tuple[np.ndarray, torch.Tensor]] = []
    for idx in tqdm(batches, desc=desc, unit="batch", disable=not show, leave=False):
        batch = _batch_to(collate(data, idx, pad_id), device)
        batch.pop("labels")
        with autocast(device, precision):
            pending.append((idx, call(**batch).float()))
        if device.type == "cpu" or len(pending) >= _SYNC_EVERY:
            _unload(pending, out, lengths)
    _unload(pending, out, lengths)
    if distributed.world_size() > 1:  # every rank gets every row (same dev score, same predictions)
        mine = [(i, o) for b in batches for i, o in zip(b.tolist(), (out[j] for j in b))]
        for i, o in distributed.gather_rows(mine):
            out[i] = o
    for i in np.flatnonzero(first != np.arange(len(data))):
        out[i] = out[first[i]]
    return out


_SYNC_EVERY = 64  # GPU batches whose outputs may wait on the device (bounded memory, few syncs)


def _unload(pending: list, out: list, lengths: np.ndarray) -> None:
    """Move pending outputs to the host and file them under their rows."""
    for idx, logits in pending:
        logits = logits.cpu().numpy()
        if logits.ndim == 3:  # token-level: drop the padding positions
            for row, i in enumerate(idx):
                out[i] = logits[row, : lengths[i]]
        else:
            for row, i in enumerate(idx):
                out[i] = logits[row]
    pending.clear()
