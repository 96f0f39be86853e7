"""Official XTREME-R metrics as pure functions over Python / numpy data (no torch).

Which official scorer each module mirrors is stated at the top of the module:
`classification` (xtreme evaluate.py accuracy), `tagging` (seqeval via evaluate.py f1),
`qa` (SQuAD v1.1 and MLQA evaluation scripts), `retrieval` (xtreme utils_lareqa / utils_mewslix
mAP@20, Tatoeba accuracy). All scores are fractions in [0, 1]; the official scripts print x100.

`METRICS` (module `registry`) maps the metric names used in task specs to `Metric` objects; every
task kind scores through it (`resolve_metrics` when the kind is built, `score_all` per language),
and `METRICS[name](references, predictions, **kw)` gives one corpus value:

| name | task(s) | references | predictions |
|---|---|---|---|
| accuracy | xnli, xcopa, sib200 ... | labels | labels |
| macro_f1 | none of XTREME-R; for classification tasks that declare it | labels | labels |
| f1, precision, recall | panx *and udpos* (evaluate.py scores both with seqeval) | tag lists per sentence | same |
| token_accuracy | udpos lists it as "accuracy"; not an XTREME-R score | tag lists | tag lists |
| squad_em, squad_f1 | xquad, tydiqa | gold answer lists | answer text or None |
| mlqa_em, mlqa_f1 (kw `lang`) | mlqa | gold answer lists | answer text or None |
| map@20 | lareqa, mewslix | relevant column-index sets | (queries x candidates) scores |
| retrieval_accuracy | tatoeba | gold column index per query | (queries x candidates) scores |

There is deliberately no "pos_f1": the official UD-POS score is the same seqeval chunk F1 as NER,
applied to bare UPOS tags (see `tagging` for what that means); a POS token accuracy is available
as "token_accuracy" for diagnostics. A QA task's single number is `qa_task_score(em, f1)`.
"""

from __future__ import annotations

from xlt.metrics.classification import AccuracyResult, MacroF1Result, accuracy, macro_f1
from xlt.metrics.qa import (MLQA_LANGUAGES, QAResult, evaluate_squad_format, exact_match, mlqa_normalize,
                            mlqa_scores, qa_em_f1, qa_task_score, squad_normalize, squad_scores, token_f1)
from xlt.metrics.registry import METRICS, Metric, Scores, resolve_metrics, score_all
from xlt.metrics.retrieval import (RetrievalResult, average_precision_at_k, cosine_similarity, l2_normalize,
                                   map_at_k, map_at_k_from_rankings, retrieval_accuracy, tatoeba_accuracy, top_k)
from xlt.metrics.tagging import (TaggingResult, TokenAccuracyResult, get_chunks, prf_from_counts, seqeval_f1,
                                 token_accuracy)

__all__ = [
    "METRICS", "MLQA_LANGUAGES", "AccuracyResult", "MacroF1Result", "Metric", "QAResult", "RetrievalResult",
    "Scores", "TaggingResult", "TokenAccuracyResult", "accuracy", "average_precision_at_k", "cosine_similarity",
    "evaluate_squad_format", "exact_match", "get_chunks", "l2_normalize", "macro_f1", "map_at_k",
    "map_at_k_from_rankings", "mlqa_normalize", "mlqa_scores", "prf_from_counts", "qa_em_f1", "qa_task_score",
    "resolve_metrics", "retrieval_accuracy", "score_all", "seqeval_f1", "squad_normalize", "squad_scores",
    "tatoeba_accuracy", "token_accuracy", "token_f1", "top_k",
]
