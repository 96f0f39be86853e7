"""Where xlt's time goes (bench/speed.py --profile): wall time per phase of a training step and of
the evaluation, measured by wrapping the calls xlt makes, plus the top kernels from torch.profiler.
Runs in a child process of bench/speed.py (see bench/speed_phases.py), alone on the machine."""

from __future__ import annotations

import time
from collections import defaultdict

import torch


def profile(st) -> dict:
    """Where xlt's time goes (`st`: a speed_phases.Setup): wall time per phase of a step (wrapped
    calls) and the top kernels."""
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
    from torch.profiler import profile as torch_profile

    from xlt.training import loop

    spent: dict[str, float] = defaultdict(float)
    started: dict[str, float] = {}
    paused = [False]  # inside the dev evaluation: its parts are counted as one

    def timed(name, fn, pause=False):
        def wrapper(*a, **k):
            t, paused[0] = time.perf_counter(), pause or paused[0]
            try:
                return fn(*a, **k)
            finally:
                paused[0] = paused[0] and not pause
                if pause or not paused[0]:
                    spent[name] += time.perf_counter() - t
        return wrapper

    def begin(name):
        return lambda *_: started.__setitem__(name, time.perf_counter())

    def end(name):
        return lambda *_: None if paused[0] else spent.__setitem__(name, spent[name] + time.perf_counter() - started[name])

    loop.collate = timed("collate (numpy padding)", loop.collate)
    torch.Tensor.backward = timed("backward", torch.Tensor.backward)
    torch.nn.utils.clip_grad_norm_ = timed("clip grad norm", torch.nn.utils.clip_grad_norm_)
    register_optimizer_step_pre_hook(begin("optimizer (fused AdamW)"))
    register_optimizer_step_post_hook(end("optimizer (fused AdamW)"))
    st.model.register_forward_pre_hook(begin("forward"))
    st.model.register_forward_hook(end("forward"))
    out = {}
    train, dev = st.encoded(st.examples("train")), st.examples("dev")
    dev_score = timed("dev evaluation", lambda m: st.xlt_accuracy(dev), pause=True)
    with torch_profile() as prof:
        t = time.perf_counter()
        loop.fine_tune(st.model, train, st.cfg, st.s["seed"], st.pad_id, st.device, st.kind.loss, dev_score, st.rt)
        total = time.perf_counter() - t
    out["train"] = _breakdown(f"{st.cfg.max_steps} steps x {st.cfg.batch_size}", total, spent, prof)
    spent.clear()
    flat = [ex for lang in st.s["languages"] for ex in st.examples("test", lang)]
    with torch_profile() as prof:
        t = time.perf_counter()
        enc = timed("read token cache", st.encoded)(flat)
        outputs = loop.forward_rows(st.model, enc, st.pad_id, st.device, precision=st.cfg.precision, runtime=st.rt)
        timed("decode + score", lambda: st.kind.score(st.kind.decode(enc, outputs, list(st.l2i), flat),
                                                         flat, "all"))()
        total = time.perf_counter() - t
    out["eval"] = _breakdown(f"{len(flat)} rows", total, spent, prof)
    return out


def _breakdown(what: str, total: float, spent: dict, prof) -> dict:
    phases = dict(sorted(spent.items(), key=lambda kv: -kv[1]))
    phases["rest (loop, scheduler, python)"] = total - sum(spent.values())
    ops = sorted(((e.key, e.self_cpu_time_total / 1e6) for e in prof.key_averages()), key=lambda kv: -kv[1])
    return {"what": what, "total_s": total, "phases": phases, "ops": [(k, round(v, 2)) for k, v in ops[:8]]}
