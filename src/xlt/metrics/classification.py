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
