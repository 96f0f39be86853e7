"""Tagging scores as google-research/xtreme `evaluate.py::f1` computes them (WikiANN and UD-POS).

The official scorer calls chakki-works/seqeval `f1_score`/`precision_score`/`recall_score` in the
default (non-strict, conlleval-compatible) mode with micro averaging, for *both* panx and udpos.
`install_tools.sh` installs seqeval unpinned, so XTREME-R-era results used seqeval 1.2.2, whose
chunk rules are reproduced here exactly (checked against the package on random sequences in
tests/metrics/test_tagging.py); `legacy=True` switches to the label parsing of seqeval 0.0.x,
which the original XTREME (early 2020) runs used. The two agree on IOB tags such as `B-PER`.

How seqeval reads a label `L`: tag = `L[0]`, type = `L[1:].split("-", 1)[-1] or "_"`
(0.0.x: `L.split("-")[-1]`). Sentences are concatenated with an `O` between them and the whole
corpus is scanned once; a chunk ends before the current label when the previous tag is E or S,
when a B/I is followed by B, S or O, or when the type changes after a tag other than O or "." ;
a chunk starts on B or S, on E/I after E, S or O, or on a type change at a tag other than O or ".".
Consequences:
- IOB2 NER: `I-` after `O` opens an entity; `B-PER I-ORG` is two entities; adjacent `B-PER B-PER`
  are two entities; an entity at the end of a sentence is closed by the separator.
- UD-POS (bare tags like NOUN): the "POS F1" is a chunk F1, *not* token accuracy. Tag = first
  letter, so runs of the same tag merge into one chunk (NOUN NOUN = one chunk), INTJ acts as an
  I-tag and SCONJ/SYM as single-token S-tags; with 1.2.2 the type drops the first letter, so CCONJ
  and SCONJ share the type "CONJ" (a CCONJ/SCONJ confusion of equal span counts as correct), and X
  gets the same type "_" as the O separator, so an X chunk can start with a stale offset, run across
  a sentence boundary, or never be emitted. `token_accuracy` gives plain token accuracy as the
  diagnostic most POS papers report; it is not the XTREME-R udpos score.

Per-sentence sufficient statistics (tp, n_pred, n_gold) are returned so corpus F1 can be
bootstrapped over sentences; a chunk is attributed to the sentence holding its last token (chunks
always end on a real token; only the X quirk above can make one start in an earlier sentence).
Scores are fractions in [0, 1]; the official script prints them x100.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Chunk = tuple[str, int, int]  # (type, first, last) as offsets into the O-joined corpus


def _tag_and_type(label: str, legacy: bool) -> tuple[str, str]:
    if not label:
        raise ValueError("empty tag label")
    if legacy:
        return label[0], label.split("-")[-1]
    return label[0], label[1:].split("-", 1)[-1] or "_"


# Tags are single characters, so `tag in "BSO"` below is an exact set-membership test.
def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (prev_tag in "ES"
            or (prev_tag in "BI" and tag in "BSO")
            or (prev_tag not in "O." and prev_type != type_))


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    return (tag in "BS"
            or (prev_tag in "ESO" and tag in "EI")
            or (tag not in "O." and prev_type != type_))


def get_chunks(sentences: Sequence[Sequence[str]], *, legacy: bool = False) -> list[Chunk]:
    """Chunks of a corpus exactly as seqeval's `get_entities` finds them on a list of sentences.

    Offsets index the corpus joined with one "O" after each sentence (seqeval's own layout).
    """
    flat = [label for sent in sentences for label in [*sent, "O"]]
    chunks: list[Chunk] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, label in enumerate([*flat, "O"]):
        tag, type_ = _tag_and_type(label, legacy)
        if _ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


@dataclass(frozen=True)
class TaggingResult:
    precision: float
    recall: float
    f1: float
    tp: np.ndarray  # int, per sentence: chunks in both reference and prediction
    n_pred: np.ndarray  # int, per sentence: predicted chunks
    n_gold: np.ndarray  # int, per sentence: reference chunks

    @property
    def stats(self) -> np.ndarray:
        """(n_sentences, 3) int array of [tp, n_pred, n_gold] rows, for bootstrap resampling."""
        return np.stack([self.tp, self.n_pred, self.n_gold], axis=1)


def prf_from_counts(tp: float, n_pred: float, n_gold: float) -> tuple[float, float, float]:
    """Micro precision, recall, F1 from summed counts; 0 where undefined (seqeval's default)."""
    p = tp / n_pred if n_pred > 0 else 0.0
    r = tp / n_gold if n_gold > 0 else 0.0
    f = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return float(p), float(r), float(f)


def _check_aligned(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> None:
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} reference sentences but {len(predictions)} predicted")
    for i, (r, p) in enumerate(zip(references, predictions)):
        if len(r) != len(p):
            raise ValueError(f"sentence {i}: {len(r)} reference tags but {len(p)} predicted")


def seqeval_f1(references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]], *,
               legacy: bool = False) -> TaggingResult:
    """seqeval default-mode micro precision/recall/F1 over chunks, with per-sentence counts."""
    _check_aligned(references, predictions)
    gold = set(get_chunks(references, legacy=legacy))
    pred = set(get_chunks(predictions, legacy=legacy))
    starts, offset = [], 0
    for sent in references:
        starts.append(offset)
        offset += len(sent) + 1  # +1: the O separator

    def per_sentence(chunks: set[Chunk]) -> np.ndarray:
        counts = np.zeros(len(references), dtype=np.int64)
        for _, _, last in chunks:
            counts[bisect_right(starts, last) - 1] += 1
        return counts

    tp, n_pred, n_gold = per_sentence(gold & pred), per_sentence(pred), per_sentence(gold)
    p, r, f = prf_from_counts(int(tp.sum()), int(n_pred.sum()), int(n_gold.sum()))
    return TaggingResult(p, r, f, tp, n_pred, n_gold)


@dataclass(frozen=True)
class TokenAccuracyResult:
    accuracy: float  # correct tokens / all tokens, pooled over the corpus
    correct: np.ndarray  # int, per sentence: correctly tagged tokens
    n_tokens: np.ndarray  # int, per sentence: tokens


def token_accuracy(references: Sequence[Sequence[str]],
                   predictions: Sequence[Sequence[str]]) -> TokenAccuracyResult:
    """Token-level tag accuracy pooled over the corpus (seqeval `accuracy_score`); diagnostic only."""
    _check_aligned(references, predictions)
    correct = np.array([sum(a == b for a, b in zip(r, p)) for r, p in zip(references, predictions)],
                       dtype=np.int64)
    n_tokens = np.array([len(r) for r in references], dtype=np.int64)
    if n_tokens.sum() == 0:
        raise ValueError("token accuracy of an empty corpus is undefined")
    return TokenAccuracyResult(float(correct.sum() / n_tokens.sum()), correct, n_tokens)
