"""Accuracy, as google-research/xtreme `evaluate.py::accuracy` computes it (XNLI, XCOPA, PAWS-X).

The official scorer compares label strings line by line and divides by the number of predictions;
here the two sequences must have the same length (the official script asserts that too) and the
per-example correctness vector is kept so the corpus score can be bootstrapped over examples.
Scores are fractions in [0, 1]; the official script prints them x100.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AccuracyResult:
    accuracy: float  # fraction of examples whose prediction equals the reference
    correct: np.ndarray  # bool, one per example, aligned with the inputs


def accuracy(references: Sequence, predictions: Sequence) -> AccuracyResult:
    """Exact-match accuracy of `predictions` against `references` (labels compared with ==)."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if len(references) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    correct = np.array([p == r for r, p in zip(references, predictions)], dtype=bool)
    return AccuracyResult(float(correct.mean()), correct)


@dataclass(frozen=True)
class MacroF1Result:
    f1: float  # unweighted mean of the per-class F1 scores
    per_class: dict  # label -> F1, over every label seen in the references or the predictions
    pairs: list  # [reference, prediction] per example: the statistics a bootstrap resamples (not a mean)


def macro_f1(references: Sequence, predictions: Sequence) -> MacroF1Result:
    """Macro-averaged F1 over the labels seen on either side (scikit-learn's `f1_score(average="macro")`
    with its default label set; a class with no true positive scores 0)."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    if len(references) == 0:
        raise ValueError("macro F1 of an empty set is undefined")
    per_class = {}
    for label in sorted(set(references) | set(predictions), key=repr):
        tp = sum(r == label and p == label for r, p in zip(references, predictions))
        wrong = sum((r == label) != (p == label) for r, p in zip(references, predictions))  # fp + fn
        per_class[label] = 2 * tp / (2 * tp + wrong)
    pairs = [[r, p] for r, p in zip(references, predictions)]
    return MacroF1Result(float(np.mean(list(per_class.values()))), per_class, pairs)
