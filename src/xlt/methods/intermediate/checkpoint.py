"""Cached intermediate checkpoints: train once per (model, condition, data, stage settings, stage seed).

Seed policy (`stage_seed:`, see `conditions.py`): by default (`paired`) one checkpoint per target
seed s, trained with seed s, shared by every target task - a grid of T tasks x S seeds costs S
stages, and the seed variance of the study includes the stage's. `shared` trains one checkpoint
(with `seed`, default 1) for every target seed: one stage, target variance only.

Layout: `<cache>/intermediate/<key>/encoder.safetensors` + `meta.json` (`<cache>` = the study's
`cache_dir`, else $XLT_CACHE, else the user cache folder: `xlt.paths`). The key hashes the model (name/location +
revision), the condition, the task's version and a size fingerprint of its local files, the
resolved stage TrainSettings, the stage seed and the library versions that make a run stale (so a
`--rerun-stale` recomputes the stage too). Only the encoder's trained parameters are stored
(frozen word embeddings are taken from the pretrained model again). A checkpoint is written into a
temporary folder and renamed into place with its meta.json (holding the weights' sha256) already
there; a folder whose meta is missing or whose hash does not match is retrained with a warning.
Beside them, `diagnostics.json` says how far the stage moved the encoder (`diagnostics.py`; computed
after training, or on first use of a checkpoint stored before diagnostics existed); `stage_record`
gives it with the stage's seed, lrs and dev score to every run that starts from the checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from xlt.errors import XltError
from xlt.methods.intermediate.conditions import Condition, stage_settings
from xlt.models import registry
from xlt.training.loop import seed_everything
from xlt.training.settings import Runtime, TrainSettings

log = logging.getLogger("xlt")
FORMAT = 1  # bump when the stage's training changes in a way the key does not capture
_VERIFIED: dict[str, tuple] = {}  # path -> (size, mtime_ns) already hashed in this process


def cache_root(cache_dir: str | Path | None = None) -> Path:
    from xlt.paths import cache_dir as root  # $XLT_CACHE, else the user cache folder

    return root(cache_dir) / "intermediate"


def checkpoint_key(cond: Condition, ref, cfg: TrainSettings, seed: int) -> dict:
    """Everything that determines the intermediate checkpoint's weights."""
    key = {
        "format": FORMAT, "model": ref.name if ref.name in registry.PRESETS else ref.location,
        "revision": ref.revision, "condition": cond.kind, "task": cond.task,
        "task_version": _task_version(cond), "data": cond.data,
        "files": {k: _fingerprint(v) for k, v in sorted(cond.data.items())},  # a hub vision_model: "absent"
        # the seed policy decides only which seed is asked for: the seed itself is in the key
        "stage": {k: v for k, v in cond.stage.items() if k != "stage_seed"}, "seed": seed,
        "train": dataclasses.asdict(cfg),  # the stage's settings: all of them decide its weights
        "libraries": library_versions(),
    }
    if cond.multimodal:  # added with the projector's own lr: text checkpoints keep their keys
        key["projector_lr"] = cond.projector_lr(cfg)
    return key


def checkpoint_dir(cond: Condition, ref, train: TrainSettings, seed: int, cache_dir: str | Path | None = None
                   ) -> tuple[Path, dict, TrainSettings]:
    """(folder, key, stage settings) of the checkpoint a run with settings `train` and stage seed `seed`
    starts from."""
    cfg = stage_settings(cond, train)
    key = checkpoint_key(cond, ref, cfg, seed)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    return cache_root(cache_dir) / digest, key, cfg


def library_versions() -> dict:
    """The versions `--rerun-stale` compares (`xlt.provenance.STALE_KEYS`): a stage trained under other
    versions is another checkpoint, so runs recomputed after an upgrade recompute their stage too."""
    from xlt.provenance import STALE_KEYS, libraries

    return {k: v for k, v in libraries().items() if k in STALE_KEYS}


def load_encoder(cond: Condition, ref, tokenizer, train: TrainSettings, seed: int,
                 cache_dir: str | Path | None = None, runtime: Runtime = Runtime()):
    """The pretrained encoder with the condition's intermediate weights (trained first if not cached);
    `train` is the run's settings, `seed` the stage's (`Condition.stage_seed`)."""
    dest, key, cfg = checkpoint_dir(cond, ref, train, seed, cache_dir)
    problem = _problem(dest, key)
    if problem:
        if dest.exists():
            log.warning("intermediate checkpoint %s is unusable (%s): training it again", dest, problem)
        _train_and_store(cond, ref, tokenizer, cfg, seed, key, dest, runtime, cache_dir)
    else:
        log.info("intermediate %s: cached checkpoint %s", cond.label, dest)
    encoder = registry.load_encoder(ref)
    from safetensors.torch import load_file

    missing, unexpected = encoder.load_state_dict(load_file(dest / "encoder.safetensors"), strict=False)
    if unexpected:
        raise XltError(f"intermediate checkpoint {dest} does not fit model {ref.name} (e.g. {unexpected[0]})")
    if not (dest / DIAGNOSTICS).is_file():
        _store_diagnostics(dest, encoder, ref, tokenizer, cfg, runtime)
    return encoder


DIAGNOSTICS = "diagnostics.json"


def _store_diagnostics(dest: Path, encoder, ref, tokenizer, cfg: TrainSettings, runtime: Runtime) -> None:
    """Write `dest/diagnostics.json`: the trained `encoder` against the pretrained weights."""
    from xlt.methods.intermediate.diagnostics import stage_diagnostics
    from xlt.training.loop import pick_device

    t0 = time.perf_counter()
    pooling = ref.pooling if cfg.pooling == "auto" else cfg.pooling
    diag = stage_diagnostics(registry.load_encoder(ref), encoder, tokenizer, ref.input_prefix, pooling,
                             pick_device(runtime.device), before_key=(ref.location, ref.revision))
    tmp = dest / f".{DIAGNOSTICS}.{os.getpid()}"
    tmp.write_text(json.dumps(diag, indent=2) + "\n")
    os.replace(tmp, dest / DIAGNOSTICS)  # atomic: two workers write the same content
    log.info("intermediate %s: diagnostics in %.1f s (CKA en %s, targets %s)", dest.name,
             time.perf_counter() - t0, *(f"{v:.3f}" if v is not None else "undefined"
                                         for v in (diag["cka_en"], diag["cka_targets"])))


def stage_record(cond: Condition, ref, train: TrainSettings, seed: int, run_seed: int,
                 cache_dir: str | Path | None = None) -> dict:
    """What a run stores about the stage it started from (its `stage` column): checkpoint, seeds and
    policy, lrs, steps, dev score and diagnostics (empty when the checkpoint has none yet)."""
    dest, _, cfg = checkpoint_dir(cond, ref, train, seed, cache_dir)
    read = lambda name: json.loads((dest / name).read_text()) if (dest / name).is_file() else {}  # noqa: E731
    meta = read("meta.json")
    return {"checkpoint": dest.name, "seed": seed, "run_seed": run_seed, "seed_policy": cond.setting("stage_seed"),
            "lr": cfg.lr, "head_lr": cfg.head_lr or cfg.lr, "projector_lr": cond.projector_lr(cfg),
            "steps": meta.get("steps"), "dev": meta.get("dev"), "diagnostics": read(DIAGNOSTICS)}


def _problem(dest: Path, key: dict) -> str:
    """Why the cached checkpoint in `dest` cannot be used ('' if it can)."""
    try:
        meta = json.loads((dest / "meta.json").read_text())
    except (OSError, ValueError):
        return "no readable meta.json" if dest.exists() else "not trained yet"
    weights = dest / "encoder.safetensors"
    if json.loads(json.dumps(key, default=str)) != meta.get("key"):
        return "its meta.json describes another stage"
    if not weights.is_file():
        return "encoder.safetensors is missing"
    stat = weights.stat()
    if _VERIFIED.get(str(weights)) == (stat.st_size, stat.st_mtime_ns):
        return ""
    if _sha256(weights) != meta.get("sha256"):
        return "content hash mismatch"
    _VERIFIED[str(weights)] = (stat.st_size, stat.st_mtime_ns)
    return ""


def _train_and_store(cond: Condition, ref, tokenizer, cfg: TrainSettings, seed: int, key: dict, dest: Path,
                     runtime: Runtime, cache_dir: str | Path | None = None) -> None:
    from safetensors.torch import save_file

    from xlt.methods.intermediate.stage import train_stage

    what = f"{cfg.max_steps} steps" if cfg.max_steps else f"{cfg.epochs:g} epochs"
    log.info("intermediate %s: training %s on %s (%s, seed %d)", cond.label, ref.name, cond.task, what, seed)
    t0 = time.perf_counter()
    with _own_rng():  # the caller's RNG (the target head's init) must not depend on a cache miss
        seed_everything(seed)
        encoder = registry.load_encoder(ref)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        result = train_stage(cond, encoder, ref, tokenizer, cfg, seed, pad_id, runtime, cache_dir)
    state = {n: p.detach().cpu().contiguous() for n, p in encoder.named_parameters() if p.requires_grad}
    seconds = time.perf_counter() - t0
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        tmp.chmod(0o755)  # mkdtemp's 0700 would hide a shared cache from the other users of a cluster
        save_file(state, str(tmp / "encoder.safetensors"))
        meta = {"key": json.loads(json.dumps(key, default=str)), "label": cond.label,
                "sha256": _sha256(tmp / "encoder.safetensors"), "dev": result.best_dev,
                "best_step": result.best_step, "steps": result.steps, "seconds": round(seconds, 2),
                "examples_seen": result.examples_seen, "history": result.history,
                "saved_parameters": len(state), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if dest.exists():  # stale or corrupt: meta first, so a kill mid-delete cannot look complete
            (dest / "meta.json").unlink(missing_ok=True)
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except OSError:
        if _problem(dest, key):  # unless a concurrent process stored the same checkpoint first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("intermediate %s: %.0f s, %d steps, dev %.3f, stored in %s", cond.label, seconds, result.steps,
             result.best_dev, dest)


@contextmanager
def _own_rng():
    py, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            random.setstate(py)
            np.random.set_state(np_state)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _task_version(cond: Condition) -> str:
    from xlt.methods.intermediate.data import MULTIMODAL_TASKS
    from xlt.tasks import get_task

    if cond.multimodal:
        return MULTIMODAL_TASKS[cond.task].version
    return get_task(cond.task, cond.data.get("data_dir")).spec.version


def _fingerprint(value: str) -> str:
    """Sizes of the files below a path (cheap; changes when files are added, removed or rewritten)."""
    path = Path(value).expanduser()
    if path.is_file():
        return f"file:{path.stat().st_size}"
    if not path.is_dir():
        return "absent"
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path)}:{f.stat().st_size}\n".encode())
    return "dir:" + h.hexdigest()[:16]
