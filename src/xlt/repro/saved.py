"""Saved fine-tuned models (`runtime.save: best`): a run's selected checkpoint, loadable anywhere.

`fine_tune` returns with the weights that scored best on English dev restored; those are the weights
the run's test scores come from, and the ones written here, after evaluation (the card carries them).
One folder per run, `<runtime.save_dir>/<study>/<run id>/`:

    config.json, model.safetensors     the encoder (save_pretrained): transformers.AutoModel.from_pretrained(dir)
    tokenizer.json, tokenizer_config.json, ...   the tokenizer: transformers.AutoTokenizer.from_pretrained(dir)
    xlt_head.safetensors               the task head, float32: `weight` [outputs, hidden], `bias` [outputs]
    xlt_head.json                      what the head is: kind, labels (output order), pooling, input prefix, ...
    README.md                          model card: study, task, model, seed, method, intermediate, scores

The head by hand, without xlt (sequence classification; `mask` = the attention mask as a float [b, t, 1]):

    h = encoder(**tokenizer([meta["input_prefix"] + text], return_tensors="pt")).last_hidden_state
    pooled = h[:, 0] if meta["pooling"] == "cls" else (h * mask).sum(1) / mask.sum(1)
    label = meta["labels"][int((pooled @ head["weight"].T + head["bias"]).argmax())]

`load` (`xlt.load_model`) rebuilds the module xlt trained (encoder + head) from such a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from xlt.errors import XltError

FORMAT = "xlt-head"
VERSION = 1
HEAD_FILE, META_FILE = "xlt_head.safetensors", "xlt_head.json"
BYTES_PER_PARAM = 4  # weights are saved in float32, the dtype they train in (bf16 is autocast only)


def _heads() -> dict:
    """Head kind name (as written into xlt_head.json) -> module class."""
    from xlt.models.heads import ChoiceScorer, SequenceClassifier, SpanExtractor, TokenTagger

    return {"sequence-classification": SequenceClassifier, "token-classification": TokenTagger,
            "multiple-choice": ChoiceScorer, "span-extraction": SpanExtractor}


def head_kind(model) -> str:
    for name, cls in _heads().items():
        if type(model) is cls:
            return name
    raise XltError(f"cannot save a {type(model).__name__}: only trained task heads are saved")


def save_run(run, model, tokenizer, ref, label_names: list[str], rows: list[dict], info: dict, save_dir: str,
             main_metric: str, source_language: str) -> dict | None:
    """Write `model` (the run's selected checkpoint) under `<save_dir>/<study>/<run id>`; returns
    {"path", "bytes"} (what the results database keeps with the run). Data-parallel ranks other than
    0 hold the same weights and write nothing (None)."""
    from xlt.training import distributed

    if not distributed.is_main():
        return None
    meta = {
        "format": FORMAT, "version": VERSION, "kind": head_kind(model), "labels": list(label_names),
        "pooling": getattr(model, "pooling", None), "input_prefix": ref.input_prefix,
        "max_length": run.train.max_length, "hidden_size": model.encoder.config.hidden_size,
        "dropout": run.train.dropout, "precision": run.train.precision, "main_metric": main_metric,
        "source_language": source_language, "task": run.task.name, "model": run.model, "weights": run.weights,
        "run_id": run.run_id, "study": run.study, "seed": run.seed, "method": run.method,
        "intermediate": run.intermediate,
    }
    dest = Path(save_dir).expanduser().resolve() / _safe(run.study) / run.run_id
    write(dest, model, tokenizer, meta, card(meta, rows, info))
    return {"path": str(dest), "bytes": folder_bytes(dest)}


def write(dest: Path, model, tokenizer, meta: dict, readme: str) -> None:
    """The folder, written beside `dest` and renamed into place (a killed run leaves no half model)."""
    from safetensors.torch import save_file

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=dest.parent))
    try:
        tmp.chmod(0o755)
        model.encoder.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        head = {k: v.detach().float().cpu().contiguous() for k, v in model.head.state_dict().items()}
        save_file(head, str(tmp / HEAD_FILE), metadata={"format": FORMAT, "kind": meta["kind"]})
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(readme, encoding="utf-8")
        for f in tmp.iterdir():  # safetensors writes 0600: others on a shared disk must read the model too
            f.chmod(0o644)
        if dest.exists():  # a recomputed run (--rerun-stale) replaces its model
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def _safe(name: str) -> str:
    """A study name as one folder name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "study"


def _language(code: str) -> str:
    from xlt.languages import lookup

    try:
        return lookup(code).name
    except XltError:
        return ""


def card(meta: dict, rows: list[dict], info: dict) -> str:
    """README.md of a saved model: what it is, how it was selected, its scores (x100)."""
    dev = info.get("dev_score")
    test = [r for r in rows if r["split"] == "test"]
    metrics = sorted({r["metric"] for r in test}, key=lambda m: (m != meta["main_metric"], m))
    by_lang: dict[str, dict] = {}
    for r in test:
        by_lang.setdefault(r["language"], {})[r["metric"]] = r["value"]
    lines = [
        "---", "library_name: transformers", "tags: [xlt, zero-shot-cross-lingual-transfer]", "---", "",
        f"# {meta['model']} fine-tuned on {meta['task']} ({meta['source_language']} only)", "",
        f"Written by xlt (`runtime.save: best`) for run `{meta['run_id']}` of study `{meta['study']}`.", "",
        "| | |", "|:---|:---|",
        f"| study | {meta['study']} |", f"| task | {meta['task']} |",
        f"| model | {meta['model']} (weights `{meta['weights']}`) |", f"| seed | {meta['seed']} |",
        f"| method | {meta['method']} |", f"| intermediate | {meta['intermediate']} |",
        f"| head | {meta['kind']}, {len(meta['labels'])} label(s), pooling {meta['pooling'] or '-'} |",
        f"| precision | {meta['precision']} |",
        f"| English dev {meta['main_metric']} (x100) | "
        f"{'-' if dev is None else f'{100 * dev:.2f}'} (step {info.get('best_step')}, the selected checkpoint) |",
        "",
        "The checkpoint is the one that scored best on the English dev set (true zero-shot: no target "
        "language was looked at). Load it with `xlt.load_model(this folder)`, or the encoder alone with "
        "`transformers.AutoModel.from_pretrained(this folder)`; the head is `xlt_head.safetensors`, "
        "described by `xlt_head.json`.", "",
        f"## Test scores per language (x100, {len(by_lang)} languages)", "",
        "| language | name | " + " | ".join(metrics) + " |",
        "|:---|:---|" + "---:|" * len(metrics),
    ]
    for lang in sorted(by_lang, key=lambda l: (l != meta["source_language"], l)):
        cells = [f"{100 * by_lang[lang][m]:.2f}" if m in by_lang[lang] else "-" for m in metrics]
        lines.append(f"| {lang} | {_language(lang)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# -- loading --------------------------------------------------------------------------------------
@dataclass
class SavedModel:
    """A saved run's model: `module` (encoder + head, in eval mode), its tokenizer and `meta`
    (xlt_head.json: kind, labels, pooling, input prefix, max length, run, study, seed, ...)."""

    module: object
    tokenizer: object
    meta: dict
    path: Path

    @property
    def labels(self) -> list[str]:
        return self.meta["labels"]

    def predict(self, texts: list[str], pairs: list[str] | None = None, device: str = "cpu") -> list[str]:
        """Label names for sentences (or sentence pairs), as the run predicted them (sequence
        classification heads; other heads: use `module` with xlt's task kinds)."""
        import numpy as np

        from xlt.training.batching import Encoded
        from xlt.training.loop import forward_rows, pick_device

        if self.meta["kind"] != "sequence-classification":
            raise XltError(f"{self.path}: predict() reads sequence-classification heads, this one is "
                           f"{self.meta['kind']}")
        texts = [self.meta["input_prefix"] + t for t in texts]
        enc = self.tokenizer(texts, pairs, truncation=True, max_length=self.meta["max_length"], padding=False,
                             return_attention_mask=False, return_token_type_ids=pairs is not None)
        data = Encoded(enc["input_ids"], enc.get("token_type_ids"), np.full(len(texts), -1))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        logits = forward_rows(self.module, data, pad, pick_device(device), precision=self.meta["precision"])
        return [self.labels[int(np.argmax(row))] for row in logits]


def load(path) -> SavedModel:
    """Rebuild a saved run's model (`xlt.load_model`); one XltError naming the folder when it is not one."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    path = Path(path).expanduser()
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise XltError(f"{path} is not a saved xlt model (no readable {META_FILE}; save with runtime.save=best)") \
            from None
    if meta.get("format") != FORMAT or meta.get("kind") not in _heads():
        raise XltError(f"{path / META_FILE}: not an xlt head description (format {meta.get('format')!r}, "
                       f"kind {meta.get('kind')!r})")
    cls = _heads()[meta["kind"]]
    try:
        try:  # the pooler was dropped before training (xlt pools itself): do not build a random one
            encoder = AutoModel.from_pretrained(path, add_pooling_layer=False)
        except TypeError:
            encoder = AutoModel.from_pretrained(path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        head = load_file(str(path / HEAD_FILE))
    except (OSError, SafetensorError) as exc:
        raise XltError(f"cannot load saved model {path}: {str(exc).splitlines()[0]}") from None
    args = {"sequence-classification": (len(meta["labels"]), meta["pooling"]),
            "token-classification": (len(meta["labels"]),), "multiple-choice": (meta["pooling"],),
            "span-extraction": ()}[meta["kind"]]
    with torch.random.fork_rng():  # the head's random init is overwritten; keep the caller's RNG as it was
        module = cls(encoder, *args, dropout=meta.get("dropout", 0.1))
    try:
        module.head.load_state_dict(head)
    except RuntimeError as exc:
        raise XltError(f"{path / HEAD_FILE} does not fit the encoder: {str(exc).splitlines()[0]}") from None
    return SavedModel(module.eval(), tokenizer, meta, path)


# -- size, for the dry run ------------------------------------------------------------------------
def estimate_bytes(ref, n_outputs: int) -> int | None:
    """Bytes one saved model of `ref` takes: encoder parameters (without pooler) x 4, the head, and the
    tokenizer files; None when the model's config cannot be read here (a hub model not downloaded)."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(ref.location)
        with torch.device("meta"):  # shapes only: no memory, no weights read
            try:
                encoder = AutoModel.from_config(config, add_pooling_layer=False)
            except TypeError:
                encoder = AutoModel.from_config(config)
    except Exception:  # offline hub id, unknown architecture: the dry run says "unknown"
        return None
    params = sum(p.numel() for p in encoder.parameters()) + (config.hidden_size + 1) * max(1, n_outputs)
    local = Path(ref.location)
    tok = sum(f.stat().st_size for f in local.iterdir() if f.is_file() and (
        f.name.startswith(("tokenizer", "special_tokens", "vocab", "sentencepiece", "spm", "merges")))) \
        if local.is_dir() else 0
    return params * BYTES_PER_PARAM + tok
