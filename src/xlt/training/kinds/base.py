"""The task-type interface used by the runner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from xlt.tasks.spec import TaskSpec
from xlt.training.batching import Encoded


@dataclass
class Scores:
    """Corpus-level value per metric, plus per-example values for bootstrap analyses.

    `per_example[metric]` is a list aligned with the test examples: 0/1 for accuracy, or the
    per-example sufficient statistics the metric is computed from (e.g. [tp, n_pred, n_gold]).
    """

    values: dict[str, float]
    per_example: dict[str, list]


@dataclass
class LanguageResult:
    """One evaluation language's scores and its JSON-storable predictions (what `xlt export` writes)."""

    language: str
    scores: Scores
    predictions: object
    n: int  # test examples (queries for retrieval)


@dataclass
class EvalData:
    """What `TaskKind.evaluate` reads: the run layer's view of a task's evaluation side."""

    languages: list[str]
    test: dict[str, list]  # language -> test examples
    label_names: list[str]
    encode: Callable[[list], Encoded]  # examples (or plain texts, for retrieval) -> token ids
    candidates: Callable[[str], list]  # retrieval: language -> candidate pool
    progress: bool = True


Predict = Callable[[Encoded, str], list]  # (token ids, progress label) -> model output per row


class TaskKind(ABC):
    trains = True  # False: evaluated with the encoder as it is (retrieval)

    def __init__(self, spec: TaskSpec):
        self.spec = spec

    def label_names(self, train_examples: list) -> list[str]:
        """Label vocabulary of the head (the task's declared labels by default)."""
        return list(self.spec.labels)

    @abstractmethod
    def build(self, encoder: nn.Module, n_labels: int, pooling: str, dropout: float) -> nn.Module: ...

    @abstractmethod
    def encode(self, examples: list, tokenizer, label2id: dict[str, int], max_length: int,
               prefix: str = "") -> Encoded: ...

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = model(**inputs).float()
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                                           ignore_index=-100)

    @abstractmethod
    def decode(self, data: Encoded, outputs: list[np.ndarray], label_names: list[str], examples: list) -> list:
        """Model outputs per row -> one prediction per example (label name, tag list, index, span)."""

    @abstractmethod
    def score(self, predictions: list, examples: list, language: str) -> Scores:
        """Scores of one language's predictions (some metrics normalise per language, e.g. MLQA)."""

    def serialize(self, predictions: list, examples: list):
        """JSON-storable predictions of one language (what `xlt export` writes out)."""
        return list(predictions)

    @property
    def main_metric(self) -> str:
        return self.spec.main_metric

    def pooling(self, requested: str, pretrained: str) -> str:
        """The sentence pooling of the head: `auto` is what the model was pretrained for."""
        return pretrained if requested == "auto" else requested

    def evaluate(self, predict: Predict, data: EvalData) -> list[LanguageResult]:
        """Every evaluation language in one length-sorted pass over all their test rows."""
        flat = [ex for lang in data.languages for ex in data.test[lang]]
        encoded = data.encode(flat)
        preds = self.decode(encoded, predict(encoded, "test"), data.label_names, flat)
        out, start = [], 0
        for lang in data.languages:
            examples = data.test[lang]
            mine, start = preds[start:start + len(examples)], start + len(examples)
            out.append(LanguageResult(lang, self.score(mine, examples, lang), self.serialize(mine, examples),
                                      len(examples)))
        return out
