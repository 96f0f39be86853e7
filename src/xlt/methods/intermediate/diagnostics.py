"""How far an intermediate stage moved the encoder: per-layer relative weight change and linear CKA.

"Multimodal is level with none" may only mean that the multimodal stage moved the encoder less, so
every stage records, beside its checkpoint (`diagnostics.json`) and in every run that starts from it
(the `stage` column of the results DB):

- weight change per layer group: ||W_after - W_before||_F / ||W_before||_F over all parameters of
  the group (Frobenius norm over the group's tensors together). Groups: `word_embeddings` (the
  token table: 0 when `freeze_embeddings` holds it), `embeddings` (positions, segments, embedding
  LayerNorm), `layer.0` ... `layer.N-1` (one transformer block each) and `other` (e.g. BERT's
  pooler, which a mean- or CLS-pooled head never trains: ~0).
- linear CKA (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited",
  eq. 5) between the pooled sentence embeddings of the pretrained and the trained encoder on the
  probe set, per language: 1 = the same geometry up to rotation and isotropic scaling.

Probe set (fixed for every stage and study, so stages are comparable across studies): the test split
of the embedded CLDR-names task (`xlt.tasks.cldr`, no download) in English and PROBE_LANGUAGES,
restricted to the concepts every probe language names, the first PROBE_SIZE of them in key order
(so the rows are parallel across languages). They are short names (1-5 words: "Kimarathi",
"Januari"), not sentences; they are embedded as the target task embeds text (the model's input
prefix, its pooling). Languages: one per family / script among the large ones CLDR covers well.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

PROBE_TASK = "cldr-names"
PROBE_LANGUAGES = ("de", "ru", "ar", "hi", "zh", "ja", "tr", "fi", "sw", "th")  # + en, the source
PROBE_SIZE = 128  # concepts per language (every probe language names all of them)
PROBE_MAX_LENGTH = 32  # tokens; the longest names are about 12


def layer_group(name: str) -> str:
    """The diagnostic group of an encoder parameter (`encoder.layer.3.attention...` -> `layer.3`)."""
    if "word_embeddings" in name:
        return "word_embeddings"
    if name.startswith("embeddings.") or ".embeddings." in name:
        return "embeddings"
    m = re.search(r"\blayers?\.(\d+)\.", name)  # BERT/XLM-R `encoder.layer.N.`, others `layers.N.`
    return f"layer.{m.group(1)}" if m else "other"


def group_order(groups) -> list[str]:
    """Groups input side first: word embeddings, embeddings, layer.0..N-1, other."""
    def rank(g: str):
        if g.startswith("layer."):
            return (2, int(g.split(".")[1]))
        return ({"word_embeddings": 0, "embeddings": 1}.get(g, 3), 0)

    return sorted(groups, key=rank)


def weight_change(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, float]:
    """{group: ||after - before|| / ||before||} over the parameters both hold, in `group_order`."""
    diff2: dict[str, float] = {}
    norm2: dict[str, float] = {}
    for name, w0 in before.items():
        if name not in after:
            continue
        w0, w1 = w0.detach().float(), after[name].detach().float().to(w0.device)
        g = layer_group(name)
        # fp32 norms per tensor (a 250k-row word table in fp64 costs seconds), squared sums in fp64
        same = torch.equal(w0, w1)  # frozen tensors (the word table) need no difference
        diff2[g] = diff2.get(g, 0.0) + (0.0 if same else float(torch.linalg.vector_norm(w1 - w0)) ** 2)
        norm2[g] = norm2.get(g, 0.0) + float(torch.linalg.vector_norm(w0)) ** 2
    return {g: (diff2[g] ** 0.5 / norm2[g] ** 0.5 if norm2[g] > 0 else 0.0) for g in group_order(diff2)}


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of two representations of the same n inputs ([n, d1], [n, d2]): in [0, 1], 1 when y
    is x up to an orthogonal transform and isotropic scaling (Kornblith et al. 2019, eq. 5); NaN when
    either has no variation across the inputs (undefined)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"CKA needs the same >= 2 inputs in both representations, got {x.shape} and {y.shape}")
    scale = max(np.abs(x).max(), np.abs(y).max(), 1e-300)
    x = x - x.mean(0)
    y = y - y.mean(0)
    if min(np.abs(x).max(), np.abs(y).max()) <= 1e-9 * scale:  # every input embedded alike (all [UNK])
        return float("nan")
    # ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F): the feature-space form, cheap for n >> d
    cross = np.linalg.norm(y.T @ x) ** 2
    denom = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / denom) if denom > 0 else float("nan")


def probe_texts(languages=PROBE_LANGUAGES, size: int = PROBE_SIZE) -> dict[str, list[str]]:
    """{language: names}, English first, row i of every language naming the same CLDR concept."""
    from xlt.tasks import get_task

    task = get_task(PROBE_TASK)
    langs = ["en", *[lang for lang in languages if lang != "en"]]
    by_lang = {}
    for lang in langs:
        # origin is cldr:<lang>:<label>:<key>; the concept is (label, key)
        by_lang[lang] = {ex.origin.split(":", 2)[2]: ex.text for ex in task.load("test", lang)}
    common = sorted(set.intersection(*(set(v) for v in by_lang.values())))[:size]
    return {lang: [names[k] for k in common] for lang, names in by_lang.items()}


@torch.inference_mode()
def embed(encoder: nn.Module, tokenizer, texts: list[str], prefix: str, pooling: str, device,
          batch: int = 64) -> np.ndarray:
    """Pooled last-layer embeddings [len(texts), hidden] (fp32, eval mode: no dropout)."""
    from xlt.models.heads import pool

    was_training = encoder.training
    encoder.eval().to(device)
    ids = tokenizer([prefix + t for t in texts], truncation=True, max_length=PROBE_MAX_LENGTH)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")  # batches of similar length: little padding
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = np.zeros((len(texts), encoder.config.hidden_size))
    for i in range(0, len(texts), batch):
        rows = order[i:i + batch]
        width = max(len(ids[r]) for r in rows)
        input_ids = torch.full((len(rows), width), pad)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for j, r in enumerate(rows):
            input_ids[j, :len(ids[r])], mask[j, :len(ids[r])] = torch.tensor(ids[r]), 1
        hidden = encoder(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state.float()
        out[rows] = pool(hidden, mask.to(device), pooling).cpu().numpy()
    encoder.train(was_training)
    return out


_BEFORE: dict[tuple, np.ndarray] = {}  # pretrained embeddings of the probe: every stage of a model shares them


def _embed_before(encoder, tokenizer, lang: str, texts: list[str], prefix: str, pooling: str, device, key) -> np.ndarray:
    if key is None:
        return embed(encoder, tokenizer, texts, prefix, pooling, device)
    full = (*key, lang, tuple(texts), prefix, pooling)
    if full not in _BEFORE:
        _BEFORE[full] = embed(encoder, tokenizer, texts, prefix, pooling, device)
    return _BEFORE[full]


def stage_diagnostics(before: nn.Module, after: nn.Module, tokenizer, prefix: str, pooling: str, device,
                      probe: dict[str, list[str]] | None = None, before_key: tuple | None = None) -> dict:
    """Weight change and CKA of `after` (the trained encoder) against `before` (the pretrained one).
    `before_key` (the pretrained model's identity) keeps `before`'s probe embeddings for the process."""
    probe = probe if probe is not None else probe_texts()
    params = lambda m: {n: p for n, p in m.named_parameters()}  # noqa: E731
    cka = {lang: linear_cka(_embed_before(before, tokenizer, lang, texts, prefix, pooling, device, before_key),
                            embed(after, tokenizer, texts, prefix, pooling, device))
           for lang, texts in probe.items()}
    cka = {lang: None if np.isnan(v) else v for lang, v in cka.items()}  # undefined: null in JSON
    targets = [v for lang, v in cka.items() if lang != "en" and v is not None]
    return {
        "weight_change": weight_change(params(before), params(after)),
        "cka": cka,
        "cka_en": cka.get("en"),
        "cka_targets": float(np.mean(targets)) if targets else None,
        "probe": {"task": PROBE_TASK, "languages": list(probe), "size": len(next(iter(probe.values()), [])),
                  "pooling": pooling},
    }
