"""Compute one run: a resolved `RunSpec` in, a `RunResult` out. No database, no claims.

    encoder (pretrained, or after its intermediate stage)
      -> task kind's head, fine-tuned on English with the run's method   (kinds that train)
      -> kind.evaluate: every evaluation language                        (all kinds, retrieval too)
      -> rows: one per language / metric, per-example values, predictions

`Workspace` keeps what several runs of one process share (task examples, tokenizers, token ids);
it holds at most one task's token tensors at a time, so memory stays bounded over a long study.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field

import numpy as np

from xlt.methods import make_loss, parameter_counts, prepare
from xlt.methods.intermediate import encoder_for_run, stage_info
from xlt.models import registry
from xlt.repro.saved import save_run
from xlt.study.config import TaskEntry
from xlt.study.data import TaskData
from xlt.study.protocols import trainer
from xlt.study.spec import RunSpec
from xlt.training.batching import Encoded
from xlt.training.cache import encode_cached
from xlt.training.embeddings import memoize
from xlt.training.kinds import EvalData
from xlt.training.loop import fine_tune, forward_rows, pick_device, seed_everything
from xlt.training.settings import Runtime


@dataclass
class RunResult:
    rows: list[dict]  # {language, split, metric, value, n}
    per_example: list[dict]  # {language, metric, values}
    preds: list[dict]  # {language, values}: what `xlt export` writes
    info: dict  # timings, best dev score and step, revision, peak memory
    curve: list[dict] = field(default_factory=list)  # fine-tuning's points (TrainResult.history); [] if no training


@dataclass
class Workspace:
    """Per-process state shared by runs: conditions and cache dir of the study, the runtime."""

    conditions: dict  # intermediate label -> Condition
    cache_dir: str | None
    runtime: Runtime = field(default_factory=Runtime)
    _tasks: dict = field(default_factory=dict)
    _refs: dict = field(default_factory=dict)
    _models: dict = field(default_factory=dict)
    _encoded: dict = field(default_factory=dict)
    english_checkpoints: dict = field(default_factory=dict)  # few-shot: the last English phase (protocols)
    share_english: bool = False  # the study has few-shot runs: zero-shot runs keep their English phase for them

    def task(self, entry: TaskEntry) -> TaskData:
        if entry not in self._tasks:
            self._tasks[entry] = TaskData(entry, self.runtime.progress)
        return self._tasks[entry]

    def ref(self, name: str):
        """The resolved model reference (nothing downloaded), once per process."""
        if name not in self._refs:
            self._refs[name] = registry.resolve(name, self.cache_dir)
        return self._refs[name]

    def model(self, name: str):
        """(model reference, tokenizer), resolved and loaded once per process."""
        if name not in self._models:
            ref = self.ref(name)
            self._models[name] = (ref, registry.load_tokenizer(ref))
        return self._models[name]

    def encode(self, data: TaskData, ref, tokenizer, max_length: int, examples: list) -> Encoded:
        """Token ids of `examples` (from the on-disk token cache after the first time)."""
        return encode_cached(data.kind, examples, tokenizer, data.label2id, max_length, ref.input_prefix,
                             self.cache_dir)

    def splits(self, run: RunSpec, ref, tokenizer, data: TaskData) -> dict[str, Encoded]:
        key = (ref.location, run.task, run.train.max_length)
        if key not in self._encoded:  # one task's tensors at a time: bounded memory
            self._encoded = {key: {s: self.encode(data, ref, tokenizer, run.train.max_length, data.splits[s])
                                   for s in ("train", "dev")}}
        return self._encoded[key]


def compute(run: RunSpec, ws: Workspace) -> RunResult:
    """Train (if the task kind trains) and evaluate one run."""
    data = ws.task(run.task)
    ref, tokenizer = ws.model(run.model)
    kind, cfg, rt = data.kind, run.train, ws.runtime
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = pick_device(rt.device)
    seed_everything(run.seed)  # the head's random init must not depend on earlier runs
    cond = ws.conditions.get(run.intermediate)
    encoder = encoder_for_run(cond, run, ref, tokenizer, ws.cache_dir, rt)
    names = data.label_names if kind.trains else []
    model = kind.build(encoder, len(names), kind.pooling(cfg.pooling, ref.pooling), cfg.dropout).to(device)

    def predict(encoded: Encoded, desc: str) -> list[np.ndarray]:
        return forward_rows(model, encoded, pad_id, device, precision=cfg.precision, runtime=rt, desc=desc)

    info: dict = {"model_revision": getattr(encoder.config, "_commit_hash", None) or ref.revision,
                  "train_seconds": 0.0}
    info["stage"] = stage_info(cond, run, ref, ws.cache_dir)  # seeds, lrs, diagnostics (None: no stage)
    rows: list[dict] = []
    curve: list[dict] = []
    if kind.trains:
        enc = ws.splits(run, ref, tokenizer, data)
        dev_examples = data.splits["dev"]
        train = _subsample(enc["train"], cfg.max_train_examples, run.seed)

        def dev_score(m) -> float:
            preds = kind.decode(enc["dev"], predict(enc["dev"], "dev"), names, dev_examples)
            return kind.score(preds, dev_examples, data.spec.source_language).values[kind.main_metric]

        model = prepare(run.method, model, run.method_settings)  # e.g. LoRA: adapters in, encoder frozen
        loss_fn = make_loss(run.method, kind, model, train, run.method_settings, tokenizer.all_special_ids)
        train_fn = trainer(run, ws, data, ref, tokenizer, fine_tune, _subsample)  # fine_tune, or the run's protocol
        res = train_fn(model, train, cfg, run.seed, pad_id, device, loss_fn, dev_score, rt)
        info.update(parameter_counts(model))  # after training: frozen embeddings count as frozen
        rows.append({"language": data.spec.source_language, "split": "dev", "metric": kind.main_metric,
                     "value": res.best_dev, "n": len(enc["dev"])})
        info.update(dev_score=res.best_dev, best_step=res.best_step, train_seconds=res.seconds)
        curve = res.history

    t0 = time.perf_counter()

    def encode(items: list) -> Encoded:
        return _encode_eval(ws, data, ref, tokenizer, cfg.max_length, items)

    embed = None
    if not kind.trains:  # each distinct text once per run, and across runs with the same weights (disk)
        embed = memoize(kind.embedder(predict, encode), model, tokenizer, kind, cfg.max_length, ref.input_prefix,
                        cfg.precision, ws.cache_dir)
    languages = [run.target] if run.target else data.languages  # a protocol's run: its target only
    inputs = EvalData(languages=languages, test=data.splits["test"], label_names=names, encode=encode,
                      candidates=data.candidates, progress=rt.progress, embed=embed)
    per_example, preds = [], []
    for lang in kind.evaluate(predict, inputs):
        for metric, value in lang.scores.values.items():
            rows.append({"language": lang.language, "split": "test", "metric": metric, "value": float(value),
                         "n": lang.n})
        for metric, values in lang.scores.per_example.items():
            per_example.append({"language": lang.language, "metric": metric, "values": values})
        preds.append({"language": lang.language, "values": lang.predictions})
    info.update(eval_seconds=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb())
    if rt.save == "best" and kind.trains:  # the selected checkpoint (fine_tune restored it), with its scores
        info["saved_model"] = save_run(run, model, tokenizer, ref, names, rows, info, rt.save_dir,
                                       kind.main_metric, data.spec.source_language)
    return RunResult(rows, per_example, preds, info, curve)


def _encode_eval(ws: Workspace, data: TaskData, ref, tokenizer, max_length: int, items: list) -> Encoded:
    """Evaluation inputs: examples through the token cache; plain texts (retrieval) directly."""
    if items and isinstance(items[0], str):
        return data.kind.encode(items, tokenizer, {}, max_length, ref.input_prefix)
    return ws.encode(data, ref, tokenizer, max_length, items)


def _subsample(data: Encoded, n: int, seed: int) -> Encoded:
    if not n or n >= len(data):
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False)))


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
