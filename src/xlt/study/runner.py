"""Run a study: expand the grid, skip finished runs, run the rest, store every score.

Run ids are hashes of everything that determines a result (model, task + version + data source +
languages, seed, method, intermediate condition, training settings), so re-running a study does no
work for finished runs and a killed study resumes with the first unfinished one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import resource
import time
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from tqdm.auto import tqdm

from xlt import __version__
from xlt.errors import XltError
from xlt.methods import REGISTRY as METHOD_REGISTRY, make_loss
from xlt.methods.intermediate import encoder_for_run
from xlt.models import registry
from xlt.store.db import Store
from xlt.study.config import StudyConfig, TaskEntry, to_dict
from xlt.tasks import get_task
from xlt.tasks.base import labels_of
from xlt.training import distributed
from xlt.training.batching import Encoded
from xlt.training.cache import encode_cached
from xlt.training.embeddings import memoize
from xlt.training.loop import TrainConfig, fine_tune, forward_rows, pick_device, seed_everything
from xlt.training.precision import resolve as resolve_precision
from xlt.training.kinds import kind_for

log = logging.getLogger("xlt")

# settings that change speed or logging but not the numbers: kept out of the run id
_NOT_IN_RUN_ID = {"progress", "device", "threads", "eval_max_tokens", "eval_max_batch", "compile"}


@dataclass(frozen=True)
class RunSpec:
    study: str
    model: str
    task: TaskEntry
    seed: int
    method: str
    intermediate: str
    train: TrainConfig

    def identity(self, task_version: str, languages: list[str]) -> dict:
        """What determines the numbers; `languages` is the resolved list (so 'available' re-runs
        when files are added)."""
        train = {k: v for k, v in dataclasses.asdict(self.train).items() if k not in _NOT_IN_RUN_ID}
        # another method's settings (train.extra.epar for a finetune run) do not change this run
        own = METHOD_REGISTRY[self.method].settings if self.method in METHOD_REGISTRY else None
        others = {m.settings for m in METHOD_REGISTRY.values()} - {own}
        train["extra"] = {k: v for k, v in train["extra"].items() if k not in others}
        task = dict(dataclasses.asdict(self.task), languages=list(languages))
        return {
            "model": self.model, "task": task, "task_version": task_version,
            "seed": self.seed, "method": self.method, "intermediate": self.intermediate, "train": train,
        }

    def run_id(self, task_version: str, languages: list[str]) -> str:
        blob = json.dumps(self.identity(task_version, languages), sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def expand(study: StudyConfig) -> list[RunSpec]:
    """The grid in a stable order: model-major so each model's data is tokenised once."""
    return [
        RunSpec(study.name, m, t, s, meth, inter, study.train)
        for m in study.models for t in study.tasks for inter in study.intermediate
        for meth in study.methods for s in study.seeds
    ]


class TaskData:
    """One task entry's examples: English train/dev and test for each evaluation language."""

    def __init__(self, entry: TaskEntry, progress: bool = True):
        self.entry, self.progress = entry, progress
        self.task = get_task(entry.name, entry.data_dir)
        self.spec = self.task.spec

    @cached_property
    def languages(self) -> list[str]:
        spec, langs = self.spec, self.entry.languages
        if langs == "all":
            chosen = list(spec.languages)
        elif langs == "available":
            chosen = self.task.available_languages("test")
        else:
            valid = set(spec.languages) | {spec.source_language}
            bad = [l for l in langs if l not in valid]
            if bad:
                raise XltError(f"task {spec.name}: unknown language(s) {bad} (valid: {', '.join(sorted(valid))})")
            chosen = list(dict.fromkeys(langs))  # a language listed twice is evaluated once
        if spec.source_language in spec.languages and spec.source_language not in chosen:
            chosen.insert(0, spec.source_language)  # English test is the reference for the gap
        return chosen

    @cached_property
    def splits(self) -> dict:
        src = self.spec.source_language
        if self.kind.trains:
            train, dev = self.task.load("train", src), self.task.load("dev", src)
        else:  # retrieval: evaluated without task training
            train, dev = [], []
        langs = tqdm(self.languages, desc=f"load {self.spec.name}", leave=False, unit="lang",
                     disable=not self.progress)
        test = {lang: self.task.load("test", lang) for lang in langs}
        return {"train": train, "dev": dev, "test": test}

    @cached_property
    def kind(self):
        return kind_for(self.spec)

    @cached_property
    def label_names(self) -> list[str]:
        """The head's label vocabulary; every dev/test label must be in it (checked once here)."""
        labels = self.kind.label_names(self.splits["train"])
        known = set(labels)
        if not known:
            return labels
        for lang, exs in [("dev", self.splits["dev"])] + list(self.splits["test"].items()):
            for ex in exs:
                for label in labels_of(ex):
                    if label is not None and label not in known:
                        raise XltError(f"{ex.origin}: label {label!r} ({lang}) does not occur in train "
                                       f"(train labels: {sorted(known)})")
        return labels

    @property
    def label2id(self) -> dict[str, int]:
        return {l: i for i, l in enumerate(self.label_names)}


class Runner:
    def __init__(self, study: StudyConfig, store: Store, progress: bool = True):
        self.study, self.store, self.progress = study, store, progress
        self._tasks: dict[TaskEntry, TaskData] = {}
        self._models: dict[str, tuple] = {}
        self._encoded: dict[tuple, dict] = {}

    def task(self, entry: TaskEntry) -> TaskData:
        if entry not in self._tasks:
            self._tasks[entry] = TaskData(entry, self.progress)
        return self._tasks[entry]

    def plan(self) -> list[tuple[RunSpec, str, str]]:
        """(run, run_id, status) for the whole grid; validates every task and model name up front."""
        status = self.store.run_status()
        out, seen = [], set()
        for run in expand(self.study):
            data = self.task(run.task)
            rid = run.run_id(data.spec.version, data.languages)
            if rid not in seen:  # `seeds: [1, 1]` or a model listed twice is one run
                seen.add(rid)
                out.append((run, rid, status.get(rid, "todo")))
        for m in self.study.models:
            registry.resolve_name_only(m)
        return out

    def run(self, worker=None, only: set[str] | None = None) -> dict:
        """Run the grid's unfinished runs (or those in `only`), each claimed in the results DB first,
        so that several workers (`xlt.study.launch`) share one study. Counts are this worker's."""
        from xlt.study.launch import Worker  # launch imports this module

        plan = self.plan()
        if not distributed.is_main():  # a data-parallel rank: run what rank 0 claims, store nothing
            return self._follow(plan)
        self.store.link_study(self.study.name, [rid for _, rid, _ in plan])
        todo = sum(st != "done" for *_, st in plan)
        log.info("study %s: %d runs, %d done, %d to run", self.study.name, len(plan), len(plan) - todo, todo)
        if self.study.train.threads:
            torch.set_num_threads(self.study.train.threads)
        worker = worker or Worker(self.store)
        with tqdm(total=todo, desc=f"study {self.study.name}", unit="run", disable=not self.progress) as bar:
            def execute(run: RunSpec, rid: str, w) -> bool:
                ok = self.execute(run, rid, w)
                bar.update(int(ok))
                return ok
            ran = worker.work(plan, execute, only)
        distributed.broadcast(None)  # tell the other ranks the study is over
        return {"runs": len(plan), "skipped": len(plan) - todo, "ran": ran}

    def _follow(self, plan: list) -> dict:
        """Ranks > 0 of a multi-process launch: take part in each run rank 0 announces."""
        runs, ran = {rid: run for run, rid, _ in plan}, 0
        while (rid := distributed.broadcast(None)) is not None:
            run = runs[rid]
            ref, tokenizer = self._model(run.model)
            self._train_and_eval(run, ref, tokenizer, self.task(run.task))
            ran += 1
        return {"runs": len(plan), "skipped": len(plan) - ran, "ran": ran}

    def _model(self, name: str):
        if name not in self._models:
            ref = registry.resolve(name, self.study.cache_dir)
            tokenizer = registry.load_tokenizer(ref)
            self._models[name] = (ref, tokenizer)
        return self._models[name]

    def _encode(self, run: RunSpec, ref, tokenizer, data: TaskData) -> dict:
        key = (ref.location, run.task, run.train.max_length)
        if key not in self._encoded:
            l2i, cfg, kind = data.label2id, run.train, data.kind

            def encode(examples: list) -> Encoded:  # from the on-disk token cache after the first time
                return encode_cached(kind, examples, tokenizer, l2i, cfg.max_length, ref.input_prefix,
                                     self.study.cache_dir)

            enc = {split: encode(data.splits[split]) for split in ("train", "dev")}
            tests = data.splits["test"]
            flat = [ex for lang in data.languages for ex in tests[lang]]
            enc["test"] = encode(flat)
            enc["test_examples"] = flat
            bounds = np.cumsum([0] + [len(tests[l]) for l in data.languages])
            enc["test_slices"] = {l: slice(bounds[i], bounds[i + 1]) for i, l in enumerate(data.languages)}
            self._encoded = {key: enc}  # keep one task's tensors at a time: bounded memory
        return self._encoded[key]

    def execute(self, run: RunSpec, rid: str, worker=None) -> bool:
        """Train, evaluate and store one run; False when another worker holds or finished it."""
        from xlt.study.launch import Worker

        data = self.task(run.task)
        ref, tokenizer = self._model(run.model)
        info = {
            "study": run.study, "model": run.model, "model_revision": ref.revision, "task": data.spec.name,
            "task_version": data.spec.version, "method": run.method, "intermediate": run.intermediate,
            "seed": run.seed, "config": {"run": run.identity(data.spec.version, data.languages),
                                         "study": to_dict(self.study),
                                         "model_location": ref.location},
            "config_hash": rid, "xlt_version": __version__,
        }
        worker = worker or Worker(self.store)
        if not worker.claim(rid, info):
            return False
        distributed.broadcast(rid)  # the other data-parallel ranks (if any) join this run
        with worker.holding(rid):  # heartbeats: a dead worker's claim can be taken over
            try:
                result = self._train_and_eval(run, ref, tokenizer, data)
            except BaseException as exc:
                self.store.fail_run(rid, f"{type(exc).__name__}: {exc}", worker.id)
                raise
            return self.store.finish_run(rid, result["rows"], result["per_example"], result["info"],
                                         result.get("preds", ()), worker.id)

    def _encoder(self, run: RunSpec, ref, tokenizer):
        """The encoder a run starts from: pretrained, or after its intermediate task (trained once, cached)."""
        return encoder_for_run(self.study, run, ref, tokenizer, self.progress)

    def _train_and_eval(self, run: RunSpec, ref, tokenizer, data: TaskData) -> dict:
        if not data.kind.trains:
            return self._retrieve(run, ref, tokenizer, data)
        enc = self._encode(run, ref, tokenizer, data)
        kind, names = data.kind, data.label_names
        cfg = dataclasses.replace(run.train, progress=run.train.progress and self.progress)
        train = _subsample(enc["train"], cfg.max_train_examples, run.seed)
        seed_everything(run.seed)  # the head's random init must not depend on earlier runs
        encoder = self._encoder(run, ref, tokenizer)
        pooling = ref.pooling if cfg.pooling == "auto" else cfg.pooling
        model = kind.build(encoder, len(names), pooling, cfg.dropout)
        device = pick_device(cfg.device)
        pad_id = _pad_id(tokenizer)

        def evaluate(encoded: Encoded, examples: list, desc: str):
            preds = kind.decode(encoded, forward_rows(model, encoded, cfg, pad_id, device, desc), names, examples)
            return kind.score(preds, examples, data.spec.source_language)

        def dev_score(m) -> float:
            return evaluate(enc["dev"], data.splits["dev"], "dev").values[kind.main_metric]

        loss_fn = make_loss(run.method, kind, model, train, cfg, tokenizer.all_special_ids)
        res = fine_tune(model, train, cfg, run.seed, pad_id, device, loss_fn, dev_score)
        t0 = time.perf_counter()
        outputs = forward_rows(model, enc["test"], cfg, pad_id, device)  # all languages in one sorted pass
        preds = kind.decode(enc["test"], outputs, names, enc["test_examples"])
        rows, per_example, stored = [], [], []
        for lang in data.languages:
            sl = enc["test_slices"][lang]
            stored.append({"language": lang, "values": kind.serialize(preds[sl], data.splits["test"][lang])})
            scores = kind.score(preds[sl], data.splits["test"][lang], lang)
            _add_scores(rows, per_example, lang, scores, int(sl.stop - sl.start))
        eval_seconds = time.perf_counter() - t0
        rows.append({"language": data.spec.source_language, "split": "dev", "metric": kind.main_metric,
                     "value": res.best_dev, "n": len(enc["dev"])})
        info = {"model_revision": getattr(encoder.config, "_commit_hash", None) or ref.revision,
                "dev_score": res.best_dev, "best_step": res.best_step, "train_seconds": res.seconds,
                "eval_seconds": eval_seconds, "peak_rss_mb": peak_rss_mb()}
        return {"rows": rows, "per_example": per_example, "info": info, "preds": stored}

    def _retrieve(self, run: RunSpec, ref, tokenizer, data: TaskData) -> dict:
        """Rank each language's candidate pool with pooled embeddings of the (untrained) encoder."""
        kind, cfg = data.kind, run.train
        seed_everything(run.seed)
        encoder = self._encoder(run, ref, tokenizer)
        device = pick_device(cfg.device)
        model = kind.build(encoder, 0, cfg.pooling, 0.0).to(device)
        pad_id = _pad_id(tokenizer)
        cfg = dataclasses.replace(cfg, progress=cfg.progress and self.progress)

        def embed(texts: list[str]) -> np.ndarray:
            enc = kind.encode(texts, tokenizer, {}, cfg.max_length, ref.input_prefix)
            return kind.decode(enc, forward_rows(model, enc, cfg, pad_id, device), [], texts)

        # each distinct text once per run (Tatoeba's English sides overlap), and not again in later runs
        embed = memoize(embed, model, tokenizer, kind, cfg.max_length, ref.input_prefix,
                        resolve_precision(cfg.precision, device), self.study.cache_dir)
        t0, pools = time.perf_counter(), {}
        rows, per_example, stored = [], [], []
        for lang in tqdm(data.languages, desc=f"retrieve {data.spec.name}", unit="lang", leave=False,
                         disable=not cfg.progress):
            queries = data.splits["test"][lang]
            candidates = data.task.load_candidates(lang)
            key = tuple(c.id for c in candidates)
            if key not in pools:  # LAReQA's pool is shared by all languages: embed it once
                pools = {key: embed([c.text for c in candidates])}
            scores, ranked = kind.score_ranking(embed([q.query for q in queries]), pools[key], queries, candidates)
            _add_scores(rows, per_example, lang, scores, len(queries))
            stored.append({"language": lang, "values": ranked})
        info = {"model_revision": getattr(encoder.config, "_commit_hash", None) or ref.revision,
                "train_seconds": 0.0, "eval_seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}
        return {"rows": rows, "per_example": per_example, "info": info, "preds": stored}


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _add_scores(rows: list, per_example: list, lang: str, scores, n: int) -> None:
    """Append one language's test scores (corpus values and per-example values) to the run's rows."""
    for metric, value in scores.values.items():
        rows.append({"language": lang, "split": "test", "metric": metric, "value": float(value), "n": n})
    for metric, values in scores.per_example.items():
        per_example.append({"language": lang, "metric": metric, "values": values})


def _subsample(data: Encoded, n: int, seed: int) -> Encoded:
    if not n or n >= len(data):
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), n, replace=False)))


def peak_rss_mb() -> float:
    """High-water mark of this process's resident memory (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
