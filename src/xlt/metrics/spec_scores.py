"""Per-task scoring for the runner: a TaskSpec's metric names -> corpus values + per-example stats.

The returned `SpecScores` has the shape of the runner's `Scores` (values, per_example) without
importing the training package (which pulls in torch). Metric names are the ones task specs use:
- tagging: "f1" (seqeval chunk F1, the official score of panx and udpos), "precision", "recall",
  "accuracy" / "token_accuracy" (token-level tag accuracy; udpos lists it as "accuracy").
  per_example: "f1" -> [tp, n_pred, n_gold] per sentence, accuracy -> [correct, n_tokens].
- QA: "squad_em", "squad_f1" (SQuAD v1.1 rules), "mlqa_em", "mlqa_f1" (MLQA rules of `language`).
  per_example: one EM (0/1) or F1 value per question.
A spec of None, or one without metrics, gets every metric of the family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from xlt.metrics.qa import qa_em_f1
from xlt.metrics.tagging import seqeval_f1, token_accuracy

_TAGGING = ("f1", "precision", "recall", "accuracy", "token_accuracy")
_QA = ("squad_f1", "squad_em", "mlqa_f1", "mlqa_em")


@dataclass
class SpecScores:
    values: dict[str, float]
    per_example: dict[str, list]


def _wanted(spec, family: tuple[str, ...]) -> list[str]:
    names = list(getattr(spec, "metrics", None) or family)
    unknown = [m for m in names if m not in family]
    if unknown:
        raise ValueError(f"metrics {unknown} are not computed for this task type; known: {family}")
    return names


def tagging_scores(spec, references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> SpecScores:
    """Tagging metrics of `spec` for one language (references and predictions: tags per sentence)."""
    names = _wanted(spec, _TAGGING)
    ent = seqeval_f1(references, predictions)
    tok = token_accuracy(references, predictions)
    entity_stats = ent.stats.tolist()
    token_stats = [[int(c), int(n)] for c, n in zip(tok.correct, tok.n_tokens)]
    values = {"f1": ent.f1, "precision": ent.precision, "recall": ent.recall,
              "accuracy": tok.accuracy, "token_accuracy": tok.accuracy}
    per_example = {"f1": entity_stats, "precision": entity_stats, "recall": entity_stats,
                   "accuracy": token_stats, "token_accuracy": token_stats}
    return SpecScores({m: values[m] for m in names}, {m: per_example[m] for m in names})


def qa_scores(spec, predictions: Sequence[str | None], references: Sequence[Sequence[str]],
              language: str) -> SpecScores:
    """QA metrics of `spec` for one language: predicted answer texts vs lists of gold answers."""
    names = _wanted(spec, _QA)
    results = {}
    if any(m.startswith("squad_") for m in names):
        results["squad"] = qa_em_f1(references, predictions, None)
    if any(m.startswith("mlqa_") for m in names):
        results["mlqa"] = qa_em_f1(references, predictions, language)
    values, per_example = {}, {}
    for m in names:
        res = results[m.split("_")[0]]
        em = m.endswith("_em")
        values[m] = res.exact_match if em else res.f1
        per_example[m] = (res.per_example_em if em else res.per_example_f1).tolist()
    return SpecScores(values, per_example)
