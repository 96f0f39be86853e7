"""Extractive-QA exact match and F1, mirroring the two official scorers XTREME-R uses.

- SQuAD v1.1 (`evaluate-v1.1.py`, copied by google-research/xtreme `install_tools.sh` to
  `third_party/evaluate_squad.py`): XQuAD and TyDiQA-GoldP, every language. Normalisation:
  lowercase, drop ASCII `string.punctuation`, replace the words a/an/the by a space, collapse
  whitespace. Tokens for F1 are whitespace-split, so a Chinese or Thai answer is one token.
- MLQA (facebookresearch/MLQA `mlqa_evaluation_v1.py` = xtreme `third_party/evaluate_mlqa.py`):
  MLQA only, languages en es de ar hi vi zh. Normalisation: lowercase, drop every character of a
  Unicode P* category plus ASCII `string.punctuation`, remove per-language articles (en a/an/the;
  es un una unos unas el la los las; de ein eine einen einem eines einer der die das den dem des;
  vi của là cái chiếc những; ar every occurrence of "ال", even inside words; none for hi and zh),
  then tokenise on whitespace, except zh: "mixed segmentation", each CJK ideograph in
  U+4E00..U+9FA5 is its own token and the runs between them are whitespace-split.

Shared by both: per question the maximum EM and the maximum F1 over its gold answers; F1 is the
bag-of-tokens overlap and is 0 whenever the overlap is empty, even when both sides normalise to
nothing (so "the" vs "a" scores EM 1, F1 0); an unanswered question (prediction None) scores 0
and still counts in the denominator. The XTREME QA task score is the mean of EM and F1.
Scores are fractions in [0, 1]; the official scripts print them x100.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

MLQA_LANGUAGES = ("en", "es", "de", "ar", "hi", "vi", "zh")

_ASCII_PUNCT = frozenset(string.punctuation)
_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES = {
    "en": _SQUAD_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _is_mlqa_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch).startswith("P")


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 answer normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str) -> list[str]:
    tokens, run = [], ""
    for ch in text:
        if _CJK.match(ch) or _is_mlqa_punct(ch):
            tokens.extend(run.split())
            tokens.append(ch)
            run = ""
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA answer normalisation for answer language `lang` (one of MLQA_LANGUAGES)."""
    if lang not in MLQA_LANGUAGES:
        raise ValueError(f"MLQA scorer has no rules for language {lang!r}; known: {MLQA_LANGUAGES}")
    text = "".join(ch for ch in text.lower() if not _is_mlqa_punct(ch))
    if lang in _MLQA_ARTICLES:
        text = _MLQA_ARTICLES[lang].sub(" ", text)
    elif lang == "ar":
        text = text.replace("ال", " ")  # the official regex '\sال^|ال' reduces to this
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def _normalize(text: str, lang: str | None) -> str:
    return squad_normalize(text) if lang is None else mlqa_normalize(text, lang)


def exact_match(prediction: str, gold: str, lang: str | None = None) -> float:
    """1.0 if the normalised strings are equal; `lang=None` is SQuAD, otherwise MLQA rules."""
    return float(_normalize(prediction, lang) == _normalize(gold, lang))


def token_f1(prediction: str, gold: str, lang: str | None = None) -> float:
    """Bag-of-tokens F1 of the normalised strings; `lang=None` is SQuAD, otherwise MLQA rules."""
    pred_tokens = _normalize(prediction, lang).split()
    gold_tokens = _normalize(gold, lang).split()
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class QAResult:
    exact_match: float  # corpus mean of per_example_em
    f1: float  # corpus mean of per_example_f1
    per_example_em: np.ndarray  # float 0/1, one per question
    per_example_f1: np.ndarray  # float in [0, 1], one per question

    @property
    def score(self) -> float:
        """XTREME QA task score: mean of EM and F1."""
        return qa_task_score(self.exact_match, self.f1)


def qa_task_score(exact_match_value: float, f1_value: float) -> float:
    """The XTREME convention for a QA task's single number: (EM + F1) / 2."""
    return (exact_match_value + f1_value) / 2


def qa_em_f1(references: Sequence[Sequence[str]], predictions: Sequence[str | None],
              lang: str | None = None) -> QAResult:
    """EM/F1 per question (max over its gold answers) and corpus means.

    `references[i]` lists the gold answer texts of question i; `predictions[i]` is the predicted
    answer text, or None when the question went unanswered (scores 0, as in the official scripts).
    `lang=None` scores with SQuAD v1.1 rules, a language code with the MLQA rules for it.
    """
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} questions but {len(predictions)} predictions")
    if len(references) == 0:
        raise ValueError("QA scores of an empty set are undefined")
    em = np.zeros(len(references))
    f1 = np.zeros(len(references))
    for i, (golds, pred) in enumerate(zip(references, predictions)):
        if isinstance(golds, str) or len(golds) == 0:
            raise ValueError(f"question {i}: references must be a non-empty list of answer texts")
        if pred is None:
            continue
        em[i] = max(exact_match(pred, g, lang) for g in golds)
        f1[i] = max(token_f1(pred, g, lang) for g in golds)
    return QAResult(float(em.mean()), float(f1.mean()), em, f1)


def squad_scores(references: Sequence[Sequence[str]], predictions: Sequence[str | None]) -> QAResult:
    """SQuAD v1.1 EM/F1 (XQuAD, TyDiQA-GoldP)."""
    return qa_em_f1(references, predictions, None)


def mlqa_scores(references: Sequence[Sequence[str]], predictions: Sequence[str | None],
                lang: str) -> QAResult:
    """MLQA EM/F1 with the normalisation of answer language `lang`."""
    return qa_em_f1(references, predictions, lang)


def evaluate_squad_format(data: Sequence[Mapping], predictions: Mapping[str, str],
                          lang: str | None = None) -> QAResult:
    """Score a SQuAD-format `data` list (articles > paragraphs > qas) against {question id: answer},
    walking it in file order like the official `evaluate()`; missing ids score 0."""
    refs, preds = [], []
    for article in data:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                refs.append([a["text"] for a in qa["answers"]])
                preds.append(predictions.get(qa["id"]))
    return qa_em_f1(refs, preds, lang)
