"""The measured configurations of bench/speed.py, one per process (run by it, not by hand).

    python bench/speed_phases.py PHASE SETTINGS.json RESULT.json

Protocol with the parent (bench/speed.py) on the original stdout/stdin: the child loads its model
and data, prints `ready`, and from then on runs only while it holds the baton: it waits for `go`,
works until its next forward call, prints `yield` and waits again; `done` at the end. Only time
inside its own turns counts, so the load of a shared machine falls on all configurations alike.
Anything else the child prints goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

PROTO_OUT = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # libraries that print (Trainer's log printer) must not corrupt the protocol
sys.stdout = sys.stderr


def vm_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS now, VmHWM = peak resident memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only)")


class Turns:
    """Baton passing with the parent; `seconds` = time spent in timed turns."""

    def __init__(self, device: torch.device, warmup_calls: int = 0):
        self.device, self.seconds, self.timing, self.t0 = device, 0.0, True, 0.0
        self.calls, self.warmup_calls = 0, warmup_calls
        self.turn_s: list[float] = []  # every turn's length (step times in training), for inspection
        self.rows = 0  # rows fed to the model in timed forward calls

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # a turn ends when its GPU work has ended

    def _wait(self) -> None:
        if sys.stdin.readline().strip() != "go":
            raise SystemExit("parent went away")
        self.t0 = time.perf_counter()

    def start(self) -> None:
        self.rss_ready_kib = vm_kib("VmRSS")
        print("ready", file=PROTO_OUT)
        self._wait()

    def switch(self, module, args, kwargs) -> None:
        """Forward pre-hook: end this turn, let the others run, start the next turn."""
        self._sync()
        self.turn_s.append(round(time.perf_counter() - self.t0, 3))
        if self.timing:
            self.seconds += time.perf_counter() - self.t0
        self.calls += 1
        if self.calls == self.warmup_calls + 1:
            self.seconds = 0.0  # warm-up over: count from the start of this forward call on
        if self.timing and self.calls > self.warmup_calls:
            self.rows += len((kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]))
        print("yield", file=PROTO_OUT)
        self._wait()

    @contextmanager
    def untimed(self):
        """Work that must not overlap the others (it still yields) but does not count."""
        self._sync()
        self.seconds += time.perf_counter() - self.t0
        self.timing = False
        try:
            yield
        finally:
            self._sync()
            self.timing, self.t0 = True, time.perf_counter()

    def stop(self) -> float:
        self._sync()
        self.seconds += time.perf_counter() - self.t0
        self.timing = False
        return self.seconds


class HFStyle(nn.Module):
    """xlt's SequenceClassifier behind the AutoModelForSequenceClassification interface (labels in,
    loss + logits out) so Trainer runs exactly the same network as xlt."""

    def __init__(self, clf: nn.Module):
        super().__init__()
        self.clf = clf

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.clf(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


class Setup:
    """Model, tokenizer, task data and xlt's kind, as every phase needs them."""

    def __init__(self, s: dict, with_model: bool = True):
        from xlt.models import registry
        from xlt.tasks import get_task
        from xlt.training.loop import pick_device, seed_everything
        from xlt.training.settings import Runtime, TrainSettings
        from xlt.training.kinds import kind_for

        self.s = s
        if s["threads"]:
            torch.set_num_threads(s["threads"])
        self.device = pick_device(s["device"])
        self.ref = registry.resolve(s["model"])
        self.tok = registry.load_tokenizer(self.ref)
        self.task = get_task("sib200", s["data"])
        self.kind = kind_for(self.task.spec)
        self.l2i = {l: i for i, l in enumerate(self.task.spec.labels)}
        self.pad_id = self.tok.pad_token_id
        self.cfg = TrainSettings(max_steps=s["steps"], batch_size=s["batch_size"], lr=s["lr"], warmup_ratio=0.1,
                                 weight_decay=0.01, max_length=s["max_length"], eval_every=s["steps"],
                                 freeze_embeddings=s["freeze_embeddings"], precision=s.get("precision", "fp32"))
        self.rt = Runtime(device=s["device"], progress=False, compile=s["compile"],
                          **({"eval_max_tokens": s["eval_max_tokens"]} if s.get("eval_max_tokens") else {}))
        if not with_model:
            return
        seed_everything(s["seed"])  # the same head initialisation in every configuration
        self.model = self.kind.build(registry.load_encoder(self.ref), len(self.l2i), self.ref.pooling, 0.1)
        if s.get("checkpoint"):
            self.model.load_state_dict(torch.load(s["checkpoint"]), strict=False)
        self.model.to(self.device)

    def examples(self, split: str, lang: str = "eng_Latn", capped: bool = True) -> list:
        """A split; test sets cut to --per-language rows unless `capped` is False."""
        exs, n = self.task.load(split, lang), self.s["per_language"]
        if split == "test" and capped and n:  # spread over the file: its rows are grouped by topic
            exs = exs[:: max(1, len(exs) // n)][:n]
        return exs

    def quality(self) -> dict:
        """English dev accuracy (and test, in full mode) of the trained model, scored the same way for
        every configuration (xlt's forward: padding does not change a masked model's outputs)."""
        if self.s["quick"]:
            return {}
        return {"dev_acc": self.xlt_accuracy(self.examples("dev")),
                "en_test_acc": self.xlt_accuracy(self.examples("test", capped=False))}

    def encoded(self, examples: list):
        from xlt.training.cache import encode_cached

        return encode_cached(self.kind, examples, self.tok, self.l2i, self.s["max_length"],
                             self.ref.input_prefix, self.s["token_cache"])

    def xlt_accuracy(self, examples: list) -> float:
        from xlt.training.loop import forward_rows

        enc = self.encoded(examples)
        out = forward_rows(self.model, enc, self.pad_id, self.device, precision=self.cfg.precision, runtime=self.rt)
        return float(np.mean([int(np.argmax(o)) == l for o, l in zip(out, enc.labels)]))

    def hf_dataset(self, examples: list, pad_to_max: bool):
        """What the example scripts build: tokenised rows, padded to max_length or left ragged."""
        from datasets import Dataset

        enc = self.tok([self.ref.input_prefix + ex.text for ex in examples], truncation=True,
                       max_length=self.s["max_length"], padding="max_length" if pad_to_max else False)
        return Dataset.from_dict({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                                  "labels": [self.l2i[ex.label] for ex in examples]})

    def trainer(self, model: nn.Module, dynamic: bool, out_dir: str):
        from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, default_data_collator

        s, fields = self.s, TrainingArguments.__dataclass_fields__
        grouping = {}
        if dynamic:  # transformers 5 names it train_sampling_strategy; 4.x group_by_length
            grouping = ({"train_sampling_strategy": "group_by_length"} if "train_sampling_strategy" in fields
                        else {"group_by_length": True})
        args = TrainingArguments(
            output_dir=out_dir, per_device_train_batch_size=s["batch_size"], per_device_eval_batch_size=s["eval_batch"],
            learning_rate=s["lr"], weight_decay=0.01, warmup_steps=int(0.1 * s["steps"]), max_steps=s["steps"],
            lr_scheduler_type="linear", max_grad_norm=1.0, seed=s["seed"], report_to="none", save_strategy="no",
            eval_strategy="no", logging_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
            use_cpu=self.device.type == "cpu", bf16=s.get("precision", "fp32") == "bf16",  # Trainer's own autocast
            **grouping)
        collator = DataCollatorWithPadding(self.tok) if dynamic else default_data_collator
        return Trainer(model=model, args=args, data_collator=collator)


def _accuracy(trainer, ds) -> float:
    pred = trainer.predict(ds)
    return float((pred.predictions.argmax(-1) == np.asarray(ds["labels"])).mean())


def train_hf(st: Setup, turns: Turns, dynamic: bool) -> dict:
    import tempfile

    model = HFStyle(st.model)
    with tempfile.TemporaryDirectory() as out:
        trainer = st.trainer(model, dynamic, out)
        trainer.train_dataset = st.hf_dataset(st.examples("train"), pad_to_max=not dynamic)
        model.register_forward_pre_hook(turns.switch, with_kwargs=True)
        turns.start()
        trainer.train()
        seconds = turns.stop()
    return {"seconds": seconds, "samples": turns.rows, **st.quality()}


def train_xlt(st: Setup, turns: Turns) -> dict:
    from xlt.training.loop import fine_tune

    train = st.encoded(st.examples("train"))
    dev = st.examples("dev")

    def dev_score(model) -> float:
        with turns.untimed():
            return st.xlt_accuracy(dev)

    st.model.register_forward_pre_hook(turns.switch, with_kwargs=True)
    turns.start()
    res = fine_tune(st.model, train, st.cfg, st.s["seed"], st.pad_id, st.device, st.kind.loss, dev_score, st.rt)
    seconds = turns.stop()
    if st.s.get("save"):
        state = {n: p.detach().cpu() for n, p in st.model.named_parameters() if p.requires_grad}
        torch.save(state, st.s["save"])
    return {"seconds": seconds, "samples": turns.rows, "examples_seen": res.examples_seen, **st.quality()}


def eval_base(st: Setup, turns: Turns) -> dict:
    """The example-script route: per language, tokenise padded to max_length, Trainer.predict."""
    import tempfile

    model = HFStyle(st.model)
    acc, n = {}, 0
    with tempfile.TemporaryDirectory() as out:
        trainer = st.trainer(model, dynamic=False, out_dir=out)
        tests = {lang: st.examples("test", lang) for lang in st.s["languages"]}
        model.register_forward_pre_hook(turns.switch, with_kwargs=True)
        turns.start()
        for lang, exs in tests.items():
            acc[lang] = _accuracy(trainer, st.hf_dataset(exs, pad_to_max=True))
            n += len(exs)
        return {"seconds": turns.stop(), "samples": n, "acc": acc}


def eval_xlt(st: Setup, turns: Turns) -> dict:
    """xlt's route: all languages in one length-sorted pass (tokens from the cache), decode, score."""
    from xlt.training.loop import forward_rows

    tests = {lang: st.examples("test", lang) for lang in st.s["languages"]}
    flat = [ex for exs in tests.values() for ex in exs]
    st.model.register_forward_pre_hook(turns.switch, with_kwargs=True)
    inside = _forward_clock(st.model, turns)
    turns.start()
    enc = st.encoded(flat)  # a cache hit: the parent tokenised once before
    preds = st.kind.decode(enc, forward_rows(st.model, enc, st.pad_id, st.device, precision=st.cfg.precision, runtime=st.rt), list(st.l2i), flat)
    acc, at = {}, 0
    for lang, exs in tests.items():
        acc[lang] = st.kind.score(preds[at : at + len(exs)], exs, lang).values["accuracy"]
        at += len(exs)
    return {"seconds": turns.stop(), "samples": len(flat), "acc": acc, "forward_s": inside[0]}


def _forward_clock(model: nn.Module, turns: Turns) -> list:
    """[seconds spent inside `model`'s forward calls], kept up to date by hooks."""
    clock, t0 = [0.0], [0.0]

    def begin(*_):
        turns._sync()
        t0[0] = time.perf_counter()

    def end(*_):
        turns._sync()
        clock[0] += time.perf_counter() - t0[0]

    model.register_forward_pre_hook(begin)
    model.register_forward_hook(end)
    return clock


def eval_raw(st: Setup, turns: Turns) -> dict:
    """The limit: only the model's forward over xlt's sorted batches, collated beforehand."""
    from xlt.training.batching import collate, eval_batches
    from xlt.training.loop import autocast

    flat = [ex for lang in st.s["languages"] for ex in st.examples("test", lang)]
    enc = st.encoded(flat)
    batches = []
    for idx in eval_batches(enc.lengths, st.rt.eval_max_tokens, st.rt.eval_max_batch):
        b = collate(enc, idx, st.pad_id)
        b.pop("labels")
        batches.append({k: v.to(st.device) for k, v in b.items()})
    st.model.to(st.device).eval()
    st.model.register_forward_pre_hook(turns.switch, with_kwargs=True)
    turns.start()
    with torch.inference_mode(), autocast(st.device, st.cfg.precision):
        for b in batches:
            st.model(**b)
    return {"seconds": turns.stop(), "samples": len(flat), "batches": len(batches)}


def prepare(st: Setup) -> dict:
    """Tokenise once into xlt's cache (a miss, timed), then read it back (a hit, timed)."""
    flat = [ex for lang in st.s["languages"] for ex in st.examples("test", lang)]
    parts = [st.examples("train"), st.examples("dev"), st.examples("test"), flat]
    t0 = time.perf_counter()
    for exs in parts:
        st.encoded(exs)
    t1 = time.perf_counter()
    from xlt.training import cache

    cache._VERIFIED.clear()  # a fresh process verifies every file once: count that too
    for exs in parts:
        st.encoded(exs)
    return {"cache_miss_s": t1 - t0, "cache_hit_s": time.perf_counter() - t1, "test_rows": len(flat),
            "mean_tokens": float(st.encoded(flat).lengths.mean()), "train_rows": len(parts[0]),
            "train_tokens": float(st.encoded(parts[0]).lengths.mean())}


PHASES = {
    "train_a": lambda st, t: train_hf(st, t, dynamic=False),
    "train_b": lambda st, t: train_hf(st, t, dynamic=True),
    "train_c": lambda st, t: train_hf(st, t, dynamic=True),  # b with bf16=True (settings' precision)
    "train_xlt": train_xlt,
    "eval_base": eval_base,
    "eval_xlt": eval_xlt,
    "eval_raw": eval_raw,
}


def main() -> None:
    phase, settings, result = sys.argv[1], json.loads(Path(sys.argv[2]).read_text()), Path(sys.argv[3])
    st = Setup(settings, with_model=phase != "prepare")
    if phase == "prepare":
        out = prepare(st)
    elif phase == "profile":
        from speed_profile import profile  # bench/ (the script's folder) is on sys.path

        out = profile(st)
    else:
        turns = Turns(st.device, warmup_calls=1 if phase.startswith("train") else 0)
        out = PHASES[phase](st, turns)
        out.update(rss_ready_mb=turns.rss_ready_kib / 1024, peak_rss_mb=vm_kib("VmHWM") / 1024, turns=turns.turn_s)
        out["phase_peak_mb"] = out["peak_rss_mb"] - out["rss_ready_mb"]
    result.write_text(json.dumps(out))
    print("done", file=PROTO_OUT)


if __name__ == "__main__":
    main()
