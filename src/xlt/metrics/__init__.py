"""Official XTREME-R metrics as pure functions over Python / numpy data (no torch).

Which official scorer each module mirrors is stated at the top of the module:
`classification` (xtreme evaluate.py accuracy), `tagging` (seqeval via evaluate.py f1),
`qa` (SQuAD v1.1 and MLQA evaluation scripts), `retrieval` (xtreme utils_lareqa / utils_mewslix
mAP@20, Tatoeba accuracy). All scores are fractions in [0, 1]; the official scripts print x100.

`METRICS` maps the metric names used in task specs to `fn(references, predictions, **kw) -> float`:

| name | task(s) | references | predictions |
|---|---|---|---|
| accuracy | xnli, xcopa (also tatoeba via its own helper) | labels | labels |
| f1 | panx *and udpos* (evaluate.py scores both with seqeval) | tag lists per sentence | same |
| token_accuracy | diagnostic only, not an XTREME-R score | tag lists | tag lists |
| squad_em, squad_f1 | xquad, tydiqa | gold answer lists | answer text or None |
| mlqa_em, mlqa_f1 (kw `lang`) | mlqa | gold answer lists | answer text or None |
| map@20 | lareqa, mewslix | relevant column-index sets | (queries x candidates) scores |
| retrieval_accuracy | tatoeba | gold column index per query | (queries x candidates) scores |

There is deliberately no "pos_f1": the official UD-POS score is the same seqeval chunk F1 as NER,
applied to bare UPOS tags (see `tagging` for what that means); a POS token accuracy is available
as "token_accuracy" for diagnostics. A QA task's single number is `qa_task_score(em, f1)`.
`tagging_scores` / `qa_scores` (module `spec_scores`) score one language for the runner from a
TaskSpec's metric names (udpos's "accuracy" there means token accuracy).
"""

from __future__ import annotations

from collections.abc import Callable

from xlt.metrics.classification import AccuracyResult, accuracy
from xlt.metrics.qa import (MLQA_LANGUAGES, QAResult, evaluate_squad_format, exact_match, mlqa_normalize,
                            mlqa_scores, qa_em_f1, qa_task_score, squad_normalize, squad_scores, token_f1)
from xlt.metrics.retrieval import (RetrievalResult, average_precision_at_k, cosine_similarity, l2_normalize,
                                   map_at_k, map_at_k_from_rankings, retrieval_accuracy, tatoeba_accuracy, top_k)
from xlt.metrics.spec_scores import SpecScores, qa_scores, tagging_scores
from xlt.metrics.tagging import (TaggingResult, TokenAccuracyResult, get_chunks, prf_from_counts, seqeval_f1,
                                 token_accuracy)


def _accuracy(references, predictions) -> float:
    return accuracy(references, predictions).accuracy


def _f1(references, predictions, legacy: bool = False) -> float:
    return seqeval_f1(references, predictions, legacy=legacy).f1


def _token_accuracy(references, predictions) -> float:
    return token_accuracy(references, predictions).accuracy


def _squad_em(references, predictions) -> float:
    return squad_scores(references, predictions).exact_match


def _squad_f1(references, predictions) -> float:
    return squad_scores(references, predictions).f1


def _mlqa_em(references, predictions, *, lang: str) -> float:
    return mlqa_scores(references, predictions, lang).exact_match


def _mlqa_f1(references, predictions, *, lang: str) -> float:
    return mlqa_scores(references, predictions, lang).f1


def _map_at_20(references, predictions) -> float:
    return map_at_k(predictions, references, k=20).value


def _retrieval_accuracy(references, predictions) -> float:
    return retrieval_accuracy(predictions, references).value


METRICS: dict[str, Callable[..., float]] = {
    "accuracy": _accuracy,
    "f1": _f1,
    "token_accuracy": _token_accuracy,
    "squad_em": _squad_em,
    "squad_f1": _squad_f1,
    "mlqa_em": _mlqa_em,
    "mlqa_f1": _mlqa_f1,
    "map@20": _map_at_20,
    "retrieval_accuracy": _retrieval_accuracy,
}


__all__ = [
    "METRICS", "MLQA_LANGUAGES", "AccuracyResult", "QAResult", "RetrievalResult", "SpecScores", "TaggingResult",
    "TokenAccuracyResult", "accuracy", "average_precision_at_k", "cosine_similarity", "evaluate_squad_format",
    "exact_match", "get_chunks", "l2_normalize", "map_at_k", "map_at_k_from_rankings", "mlqa_normalize",
    "mlqa_scores", "prf_from_counts", "qa_em_f1", "qa_scores", "qa_task_score", "retrieval_accuracy", "seqeval_f1",
    "squad_normalize", "squad_scores", "tagging_scores", "tatoeba_accuracy", "token_accuracy", "token_f1", "top_k",
]
