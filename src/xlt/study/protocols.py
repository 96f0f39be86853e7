"""Transfer protocols as a grid axis: zero-shot, few-shot:K and translate-train.

    protocols: [zero-shot, few-shot:10, few-shot:100, translate-train]
    few_shot: {epochs: 10, lr: 2e-5, batch_size: 32}     # the few-shot phase (part of its runs' identity)

- zero-shot: train on English, score every evaluation language (the run ids of studies without
  `protocols:`).
- few-shot:K: the English fine-tuned model (English dev selection, as zero-shot) continues training on
  K examples of the target language's train split (sampled per seed, stratified by label where
  examples carry one label); the checkpoint is again selected on English dev after every epoch, so
  the target dev split stays unused. One run per target language, scored on that language only. The
  English phase is computed once per (model, weights, task, English data, seed, method, intermediate,
  train settings) and reused: in memory within a process, on disk (`<cache>/english/`) across them;
  in a study with few-shot runs the zero-shot run of the same seed is that English phase (trained once).
- translate-train: train on the target language's own train split (XNLI-MT's machine translations,
  SIB-200's parallel train files) instead of English, select on English dev; one run per target.

A target language without a train split is skipped with one warning (an error when no target has one).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from xlt.errors import XltError
from xlt.methods import make_loss
from xlt.study.config import protocol_k
from xlt.study.data import TaskData
from xlt.study.spec import RunSpec
from xlt.tasks.base import Example
from xlt.tasks.fingerprint import data_fingerprint
from xlt.training.loop import TrainResult

log = logging.getLogger("xlt")
ZERO_SHOT = "zero-shot"
FORMAT = 1  # bump when the English phase changes in a way its key does not capture


# -- the grid ------------------------------------------------------------------------------------
def expand(base: list[RunSpec], protocols: list[str], few_shot, tasks) -> list[RunSpec]:
    """The zero-shot grid `base` with each protocol of `protocols` applied (in that order, per run):
    zero-shot keeps the run; the others give one run per target language with a train split.
    `tasks(entry)` is the entry's `TaskData`. Raises XltError for a K larger than a target's train split,
    a task that does not train, or a protocol no target language can run."""
    if protocols == [ZERO_SHOT]:
        return base
    targets = {}  # task entry -> target languages with a train split (checked once, warned once)
    out = []
    for run in base:
        for protocol in protocols:
            if protocol == ZERO_SHOT:
                out.append(run)
                continue
            data = tasks(run.task)
            if run.task not in targets:
                targets[run.task] = _targets(data, [p for p in protocols if p != ZERO_SHOT])
            for lang in targets[run.task]:
                out.append(dataclasses.replace(
                    run, languages=(lang,), data=target_fingerprint(data, protocol, lang), protocol=protocol,
                    target=lang, protocol_settings=few_shot if protocol.startswith("few-shot:") else None))
    return out


def _targets(data: TaskData, protocols: list[str]) -> list[str]:
    """The target languages that have a train split (one warning names those that do not), each checked
    for the largest K asked."""
    name, src, what = data.spec.name, data.spec.source_language, ", ".join(protocols)
    if not data.kind.trains:
        raise XltError(f"task {name}: protocol {what} needs task training, and {name} is evaluated "
                       "without it (use protocols: [zero-shot])")
    candidates = [l for l in data.languages if l != src]
    found = [l for l in candidates if data.has_train(l)]
    if not found:
        raise XltError(f"task {name}: protocol {what} needs target-language train data, and none of "
                       f"{', '.join(candidates) or 'its languages'} has a train split"
                       + (f" below {data.task.data_dir}" if data.task.data_dir else ""))
    if skipped := [l for l in candidates if l not in found]:
        log.warning("task %s: no train split for %s: skipped by %s (%d target language(s) run)",
                    name, ", ".join(skipped), what, len(found))
    k = max(protocol_k(p) for p in protocols)
    for lang in found:
        n = len(data.target_train(lang))
        if k > n:
            raise XltError(f"task {name}: protocol few-shot:{k} asks for {k} {lang} training examples, but its "
                           f"train split has {n} (use K <= {n})")
    return found


def target_fingerprint(data: TaskData, protocol: str, lang: str) -> str:
    """sha256 of what a target run reads: English dev (selection), the target's train and test, and
    English train for few-shot (its English phase)."""
    src = data.spec.source_language
    pairs = [("dev", src), ("train", lang), ("test", lang)]
    if protocol != "translate-train":
        pairs.append(("train", src))
    return data_fingerprint(data.task.sources(pairs), data.task.data_dir)


# -- sampling K examples -------------------------------------------------------------------------
def sample_k(examples: list, k: int, seed: int) -> np.ndarray:
    """Sorted indices of `k` of `examples`, deterministic per seed. Stratified when every example has
    one label (`Example`): each label gets its share of K (largest remainders, ties in label order),
    drawn without replacement; other example types are sampled uniformly. The draw depends on the
    seed and the split's size and labels only, so parallel train files (SIB-200, XNLI-MT) give the same
    examples in every language."""
    n = len(examples)
    if k > n:
        raise XltError(f"cannot sample {k} examples from a split of {n}")
    rng = np.random.default_rng([seed, k])
    labels = [ex.label for ex in examples] if all(isinstance(ex, Example) for ex in examples) else None
    if labels is None or any(label is None for label in labels):
        return np.sort(rng.choice(n, k, replace=False))
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    order = sorted(groups)
    exact = {label: k * len(groups[label]) / n for label in order}
    quota = {label: math.floor(exact[label]) for label in order}
    by_remainder = sorted(order, key=lambda label: (-(exact[label] - quota[label]), label))
    for label in by_remainder[: k - sum(quota.values())]:
        quota[label] += 1
    picked = [rng.choice(groups[label], quota[label], replace=False) for label in order if quota[label]]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=int)


# -- training ------------------------------------------------------------------------------------
def trainer(run: RunSpec, ws, data: TaskData, ref, tokenizer, fine_tune, subsample):
    """What `compute` trains with: `fine_tune` itself for zero-shot, else a function with its signature
    that runs the protocol by calling `fine_tune` (the English `train`, `loss_fn` and `cfg` it is called
    with are the zero-shot run's). `subsample(encoded, n, seed)` is how `train.max_train_examples` cuts
    a train split."""
    if run.protocol == ZERO_SHOT:
        if not ws.share_english:
            return fine_tune

        def zero_shot(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime) -> TrainResult:
            # the English phase of this run's few-shot runs: trained here once, kept for them
            return english_phase(run, ws, data, model,
                                 lambda: fine_tune(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime))
        return zero_shot

    def encode(examples: list):
        return ws.encode(data, ref, tokenizer, run.train.max_length, examples)

    def loss_for(model, train):
        return make_loss(run.method, data.kind, model, train, run.method_settings, tokenizer.all_special_ids)

    def translate_train(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime) -> TrainResult:
        target = subsample(encode(data.target_train(run.target)), cfg.max_train_examples, seed)
        return fine_tune(model, target, cfg, seed, pad_id, device, loss_for(model, target), dev_score, runtime)

    def few_shot(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime) -> TrainResult:
        english = english_phase(run, ws, data, model,
                                lambda: fine_tune(model, train, cfg, seed, pad_id, device, loss_fn, dev_score, runtime))
        pool = data.target_train(run.target)
        shots = encode([pool[i] for i in sample_k(pool, protocol_k(run.protocol), seed)])
        s = run.protocol_settings
        phase = dataclasses.replace(cfg, epochs=s.epochs, lr=s.lr, batch_size=s.batch_size, max_steps=0,
                                    max_train_examples=0, eval_every=0)  # English dev after every epoch
        res = fine_tune(model, shots, phase, seed, pad_id, device, loss_for(model, shots), dev_score, runtime)
        res.seconds += english.seconds
        return res

    return few_shot if run.protocol.startswith("few-shot:") else translate_train


def english_key(run: RunSpec, data: TaskData) -> dict:
    """What decides the English phase's weights: the run's identity without its evaluation languages,
    its protocol and its target, with the English train/dev files as its data."""
    ident = {k: v for k, v in run.identity().items() if k not in run.protocol_identity()}
    src = data.spec.source_language
    ident["task"] = {"name": run.task.name}
    ident["data"] = data_fingerprint(data.task.sources([("train", src), ("dev", src)]), data.task.data_dir)
    return {"format": FORMAT, **ident}


def english_phase(run: RunSpec, ws, data: TaskData, model, train) -> TrainResult:
    """Leave `model` holding the English fine-tuned weights: from this process's last English phase,
    from the disk cache, or by calling `train()` (which fine-tunes `model` in place) and storing the result.
    The process keeps one English checkpoint (the grid puts a run's targets and protocols next to it)."""
    key = english_key(run, data)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=list).encode()).hexdigest()[:20]
    held, trained = ws.english_checkpoints, False
    if digest in held:
        log.info("few-shot %s: English phase reused from this process", run.target)
    else:
        dest = english_root(ws.cache_dir) / digest
        stored = _load(dest, key)
        if stored is None:
            result, trained = train(), True
            stored = (_trainable(model), result)
            _store(dest, key, *stored)
        held.clear()  # one at a time: bounded memory over a long study
        held[digest] = stored
    state, result = held[digest]
    model.load_state_dict(state, strict=False)
    return dataclasses.replace(result, seconds=result.seconds if trained else 0.0)  # time spent in this run


def english_root(cache_dir) -> Path:
    from xlt.paths import cache_dir as root  # $XLT_CACHE, else the user cache folder

    return root(cache_dir) / "english"


def _trainable(model) -> dict:
    return {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}


def _load(dest: Path, key: dict):
    """(state, TrainResult) stored in `dest` for `key`; None when absent or not this key's (retrained)."""
    from safetensors.torch import load_file

    try:
        meta = json.loads((dest / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    weights = dest / "model.safetensors"
    if meta.get("key") != json.loads(json.dumps(key, default=list)) or not weights.is_file():
        log.warning("English checkpoint %s does not match its key: training it again", dest)
        return None
    if _sha256(weights) != meta.get("sha256"):
        log.warning("English checkpoint %s: content hash mismatch: training it again", dest)
        return None
    log.info("English phase: cached checkpoint %s", dest)
    return load_file(str(weights)), TrainResult(**meta["result"])


def _store(dest: Path, key: dict, state: dict, result: TrainResult) -> None:
    """Written into a temporary folder and renamed into place, so a killed writer leaves no half checkpoint."""
    from safetensors.torch import save_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        tmp.chmod(0o755)
        save_file(state, str(tmp / "model.safetensors"))
        meta = {"key": json.loads(json.dumps(key, default=list)), "sha256": _sha256(tmp / "model.safetensors"),
                "result": dataclasses.asdict(result)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except OSError:
        if _load(dest, key) is None:  # unless a concurrent worker stored the same checkpoint first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
