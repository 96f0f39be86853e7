"""The metric registry: the one place a task's metric names turn into scores.

A task spec lists metric names; its task kind resolves them here when it is built (an unknown name,
or one that scores another kind of prediction, is an error then, not after training) and scores
every language with `score_all`. Each `Metric` says what its references and predictions are
(`inputs`), how to compute the corpus value, and the per-example statistics a bootstrap resamples:

| inputs | references | predictions | metrics |
|---|---|---|---|
| labels | one label per example | one label per example | accuracy, macro_f1 |
| tags | tag list per sentence | same | f1, precision, recall, token_accuracy |
| answers | gold answer texts per question | answer text or None | squad_em, squad_f1, mlqa_em, mlqa_f1 |
| scores | relevant / gold candidate indices | (queries x candidates) scores | map@20, retrieval_accuracy |

Metrics that come out of one computation (EM and F1, seqeval P/R/F1) name the same `compute`
function, and `score_all` runs it once per language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from xlt.errors import XltError
from xlt.metrics.classification import accuracy, macro_f1
from xlt.metrics.qa import qa_em_f1
from xlt.metrics.retrieval import map_at_k, retrieval_accuracy
from xlt.metrics.tagging import seqeval_f1, token_accuracy


@dataclass
class Scores:
    """Corpus value per metric of one language, plus per-example statistics for bootstrap analyses.

    `per_example[metric]` is aligned with the test examples: 0/1 for accuracy, EM and F1 per
    question, [tp, n_pred, n_gold] per sentence for chunk F1/precision/recall, [correct, n_tokens]
    for token accuracy, [reference, prediction] for macro F1, AP or 0/1 per query for retrieval."""

    values: dict[str, float]
    per_example: dict[str, list]


@dataclass(frozen=True)
class Metric:
    name: str
    inputs: str  # labels | tags | answers | scores: what references and predictions hold (table above)
    compute: Callable[..., Any]  # (references, predictions[, lang]) -> result shared by sibling metrics
    value: Callable[[Any], float]  # result -> corpus value in [0, 1]
    per_example: Callable[[Any], list]  # result -> statistics per example
    needs_language: bool = False  # compute takes `lang` (MLQA normalises per answer language)

    def __call__(self, references, predictions, **kw) -> float:
        return float(self.value(self.compute(references, predictions, **kw)))


def _squad(references, predictions):
    return qa_em_f1(references, predictions, None)


def _mlqa(references, predictions, *, lang: str):
    if lang is None:  # qa_em_f1 would silently apply the SQuAD rules
        raise ValueError("MLQA scores need the answer language")
    return qa_em_f1(references, predictions, lang)


def _map_at_20(references, predictions):
    return map_at_k(predictions, references, k=20)


def _retrieval_accuracy(references, predictions):
    return retrieval_accuracy(predictions, references)


_chunks = lambda r: r.stats.tolist()  # noqa: E731
_tokens = lambda r: [[int(c), int(n)] for c, n in zip(r.correct, r.n_tokens)]  # noqa: E731
_ALL = [
    Metric("accuracy", "labels", accuracy, lambda r: r.accuracy, lambda r: r.correct.astype(int).tolist()),
    Metric("macro_f1", "labels", macro_f1, lambda r: r.f1, lambda r: r.pairs),
    Metric("f1", "tags", seqeval_f1, lambda r: r.f1, _chunks),
    Metric("precision", "tags", seqeval_f1, lambda r: r.precision, _chunks),
    Metric("recall", "tags", seqeval_f1, lambda r: r.recall, _chunks),
    Metric("token_accuracy", "tags", token_accuracy, lambda r: r.accuracy, _tokens),
    Metric("squad_em", "answers", _squad, lambda r: r.exact_match, lambda r: r.per_example_em.tolist()),
    Metric("squad_f1", "answers", _squad, lambda r: r.f1, lambda r: r.per_example_f1.tolist()),
    Metric("mlqa_em", "answers", _mlqa, lambda r: r.exact_match, lambda r: r.per_example_em.tolist(), True),
    Metric("mlqa_f1", "answers", _mlqa, lambda r: r.f1, lambda r: r.per_example_f1.tolist(), True),
    Metric("map@20", "scores", _map_at_20, lambda r: r.value, lambda r: r.per_query.tolist()),
    Metric("retrieval_accuracy", "scores", _retrieval_accuracy, lambda r: r.value, lambda r: r.per_query.tolist()),
]
METRICS: dict[str, Metric] = {m.name: m for m in _ALL}

# Corpus-level metrics stored as per-sentence counts: their value is a ratio of sums, (sum of numerators) /
# (sum of denominators), as {name as a task reports it: (columns per sentence, (numerator, denominator))}.
# "accuracy" with two columns is udpos's token accuracy (classification accuracy is one 0/1 per example).
_RATIO_PARTS = {
    "f1": (3, lambda s: (2 * s[:, 0], s[:, 1] + s[:, 2])),  # 2PR / (P + R) = 2 tp / (n_pred + n_gold)
    "precision": (3, lambda s: (s[:, 0], s[:, 1])),
    "recall": (3, lambda s: (s[:, 0], s[:, 2])),
    "token_accuracy": (2, lambda s: (s[:, 0], s[:, 1])),
    "accuracy": (2, lambda s: (s[:, 0], s[:, 1])),
}


def ratio_parts(metric: str, stats) -> tuple[np.ndarray, np.ndarray] | None:
    """(numerator, denominator) per sentence of a corpus-level ratio metric stored as counts; None when `stats`
    are not such counts (one score per example, or pairs that are not a ratio such as macro F1's)."""
    s = np.asarray(stats, dtype=float)
    spec = _RATIO_PARTS.get(metric)
    if spec is None or s.ndim != 2 or s.shape[1] != spec[0]:
        return None
    return spec[1](s)


def resolve_metrics(task: str, names: Sequence[str], main_metric: str, inputs: str,
                    aliases: Mapping[str, str] | None = None) -> dict[str, Metric]:
    """A task's metric names -> {reported name: Metric}; XltError for a name the registry lacks, one
    that scores other predictions than `inputs`, or a main metric that is not listed.

    `aliases` maps a name as the task reports it to the registry's (udpos's "accuracy" is token
    accuracy)."""
    aliases = aliases or {}
    valid = sorted({*(n for n, m in METRICS.items() if m.inputs == inputs),
                    *(a for a, n in aliases.items() if n in METRICS)})
    out = {}
    for name in names:
        metric = METRICS.get(aliases.get(name, name))
        if metric is None:
            raise XltError(f"task {task}: unknown metric {name!r} (valid for its predictions: {', '.join(valid)})")
        if metric.inputs != inputs:
            raise XltError(f"task {task}: metric {name!r} scores {metric.inputs}, but this task predicts {inputs} "
                           f"(valid: {', '.join(valid)})")
        out[name] = metric
    if not out:
        raise XltError(f"task {task}: no metrics listed (valid for its predictions: {', '.join(valid)})")
    if main_metric not in out:
        raise XltError(f"task {task}: main metric {main_metric!r} is not one of its metrics {list(out)}")
    return out


def score_all(metrics: Mapping[str, Metric], references: Sequence, predictions: Sequence,
              language: str | None = None) -> Scores:
    """Every metric of one language; a computation shared by several metrics runs once."""
    results: dict = {}
    values, per_example = {}, {}
    for name, m in metrics.items():
        if m.compute not in results:
            kw = {"lang": language} if m.needs_language else {}
            results[m.compute] = m.compute(references, predictions, **kw)
        res = results[m.compute]
        values[name] = float(m.value(res))
        per_example[name] = m.per_example(res)
    return Scores(values, per_example)
