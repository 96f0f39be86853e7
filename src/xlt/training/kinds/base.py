"""The task-type interface used by the runner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from xlt.metrics.registry import Scores, resolve_metrics, score_all
from xlt.tasks.spec import TaskSpec
from xlt.training.batching import IGNORE, Encoded


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
    embed: Callable[[list[str]], np.ndarray] | None = None  # retrieval: texts -> vectors (memoized by the run)


Predict = Callable[[Encoded, str], list]  # (token ids, progress label) -> model output per row


class TaskKind(ABC):
    trains = True  # False: evaluated with the encoder as it is (retrieval)
    predicts = "labels"  # what decode() gives per example: the `inputs` of the registry metrics it can report
    metric_aliases: dict[str, str] = {}  # metric name in the spec -> name in xlt.metrics.METRICS

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        # resolved here so that a bad metric name fails when the study is set up, not after training
        self.metrics = resolve_metrics(spec.name, spec.metrics, spec.main_metric, self.predicts,
                                       self.metric_aliases)

    def label_names(self, train_examples: list) -> list[str]:
        """Label vocabulary of the head (the task's declared labels by default)."""
        return list(self.spec.labels)

    @abstractmethod
    def build(self, encoder: nn.Module, n_labels: int, pooling: str, dropout: float) -> nn.Module: ...

    @abstractmethod
    def encode(self, examples: list, tokenizer, label2id: dict[str, int], max_length: int,
               prefix: str = "") -> Encoded: ...

    def logits(self, model: nn.Module, batch: dict) -> torch.Tensor:
        """The model's float32 outputs for a collated batch (its labels left out; `inputs_embeds` may
        stand in for `input_ids`)."""
        return model(**{k: v for k, v in batch.items() if k != "labels"}).float()

    def class_rows(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs as rows of class logits [n, classes] and gold class ids [n] (IGNORE = unscored),
        what a loss over class distributions needs (EPAR's robust targets): by default the last axis
        holds the classes, one row per example (classification, choice) or per sub-token (tagging)."""
        return logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        rows, gold = self.class_rows(self.logits(model, batch), batch["labels"])
        return nn.functional.cross_entropy(rows, gold, ignore_index=IGNORE)

    @abstractmethod
    def decode(self, data: Encoded, outputs: list[np.ndarray], label_names: list[str], examples: list) -> list:
        """Model outputs per row -> one prediction per example (label name, tag list, index, span)."""

    def references(self, examples: list) -> list:
        """The gold side of the metrics, one entry per example, in the form decode() predicts."""
        return [ex.label for ex in examples]

    def score(self, predictions: list, examples: list, language: str) -> Scores:
        """Every metric of the spec for one language's predictions (MLQA normalises per language)."""
        return score_all(self.metrics, self.references(examples), predictions, language)

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
