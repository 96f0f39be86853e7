"""Retrieval scores of XTREME-R: mAP@20 (LAReQA, Mewsli-X) and top-1 accuracy (Tatoeba).

mAP@k mirrors google-research/xtreme `third_party/utils_lareqa.py::average_precision_at_k`
(LAReQA; the same file's older `mean_avg_prec` used sklearn's uncut AP) and
`third_party/utils_mewslix.py::evaluate` (Mewsli-X, "MRR/MAP@20"): keep the top k of the ranking,
walk it, and at each rank i (1-based) holding a relevant item not seen before add hits_so_far / i;
divide by min(#relevant, k). So fewer than k hits simply add fewer terms, a ranking shorter than
k is not padded, repeated items count once, and with one relevant item (Mewsli-X) AP@k is the
reciprocal rank within the top k (0 beyond it). A query with no relevant item is an error (the
official code divides by zero). mAP is the unweighted mean over queries.

Ranking from a score matrix (queries x candidates, higher = better): descending score, ties broken
by ascending candidate index, so the result is deterministic. The official LAReQA code ranks with
`np.argsort(scores)[::-1]`, whose tie order is numpy's unstable sort reversed; ties only occur
with duplicated or degenerate embeddings. LAReQA scores are raw dot products of the encodings.

Tatoeba accuracy mirrors `third_party/evaluate_retrieval.py` (task tatoeba) with
`utils_retrieve.py::similarity_search`: both sides are L2-normalised (`--dist cosine`), a flat
index is built on the *non-English* sentences and searched with the *English* ones, and the
prediction for English sentence j is correct when it is sentence j. So the official direction is
en -> xx (`query_side="en"`, the default); `query_side="xx"` gives the other direction (the
"nearest English neighbour" reading). The nearest neighbour is the highest cosine, lowest index
among equals (zero vectors stay zero, as faiss leaves them). Scores are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class RetrievalResult:
    value: float  # mean over queries
    per_query: np.ndarray  # float, one per query: AP@k, or 0/1 correctness for accuracy
    ranked: list | None = None  # per query, what was ranked: top-k candidate indices (mAP), or the
    # index of the best candidate (accuracy); None when the caller gave the rankings


def _check_scores(scores: np.ndarray, n_queries: int) -> np.ndarray:
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"scores must be a (queries x candidates) matrix, got shape {scores.shape}")
    if scores.shape[0] != n_queries:
        raise ValueError(f"{scores.shape[0]} score rows but {n_queries} queries")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError("need at least one query and one candidate")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    return scores


def top_k(row: np.ndarray, k: int | None) -> np.ndarray:
    """Candidate indices of one score row: descending score, ties by ascending index, first k."""
    row = np.asarray(row)
    n = row.shape[0]
    if k is None or k >= n:
        return np.argsort(-row, kind="stable")
    kth = np.partition(row, n - k)[n - k]  # k-th largest score
    cand = np.flatnonzero(row >= kth)  # everything that can reach the top k, in index order
    return cand[np.argsort(-row[cand], kind="stable")][:k]


def average_precision_at_k(ranking: Sequence[Hashable], relevant: Collection[Hashable],
                           k: int | None = 20) -> float:
    """AP@k of one ranked list of candidate ids against the set of relevant ids (None: no cut)."""
    if k is not None and k < 1:
        raise ValueError(f"k must be >= 1 or None, got {k}")
    relevant = set(relevant)
    if not relevant:
        raise ValueError("average precision needs at least one relevant item")
    ranked = list(ranking) if k is None else list(ranking)[:k]
    seen: set = set()
    hits, total = 0, 0.0
    for rank, item in enumerate(ranked, start=1):
        if item in relevant and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / (len(relevant) if k is None else min(len(relevant), k))


def map_at_k_from_rankings(rankings: Sequence[Sequence[Hashable]], relevant: Sequence[Collection[Hashable]],
                           k: int | None = 20) -> RetrievalResult:
    """mAP@k over queries given each query's ranked candidate ids (e.g. Mewsli-X entity ids)."""
    if len(rankings) != len(relevant):
        raise ValueError(f"{len(rankings)} rankings but {len(relevant)} relevance sets")
    if len(rankings) == 0:
        raise ValueError("mAP of an empty set of queries is undefined")
    ap = np.array([average_precision_at_k(r, g, k) for r, g in zip(rankings, relevant)])
    return RetrievalResult(float(ap.mean()), ap)


def map_at_k(scores: np.ndarray, relevant: Sequence[Collection[int]], k: int | None = 20) -> RetrievalResult:
    """mAP@k from a (queries x candidates) score matrix and each query's relevant column indices."""
    scores = _check_scores(scores, len(relevant))
    rankings = [top_k(row, k) for row in scores]
    res = map_at_k_from_rankings(rankings, relevant, k)
    return RetrievalResult(res.value, res.per_query, rankings)


def retrieval_accuracy(scores: np.ndarray, gold: Sequence[int]) -> RetrievalResult:
    """Top-1 accuracy: the best-scoring candidate (lowest index among ties) is the gold one."""
    scores = _check_scores(scores, len(gold))
    best = np.argmax(scores, axis=1)
    correct = (best == np.asarray(gold)).astype(float)
    return RetrievalResult(float(correct.mean()), correct, best.tolist())


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64; all-zero rows are left at zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a) x len(b)) cosine similarities between the rows of a and b."""
    return l2_normalize(a) @ l2_normalize(b).T


def tatoeba_accuracy(xx_embeddings: np.ndarray, en_embeddings: np.ndarray, *,
                     query_side: Literal["en", "xx"] = "en") -> RetrievalResult:
    """Tatoeba accuracy from aligned sentence embeddings (row i of each side is a translation pair).

    `query_side="en"` (official): each English sentence retrieves its nearest non-English sentence.
    """
    if len(xx_embeddings) != len(en_embeddings):
        raise ValueError(f"{len(xx_embeddings)} vs {len(en_embeddings)} sentences: pairs must align")
    if query_side == "en":
        scores = cosine_similarity(en_embeddings, xx_embeddings)
    elif query_side == "xx":
        scores = cosine_similarity(xx_embeddings, en_embeddings)
    else:
        raise ValueError(f"query_side must be 'en' or 'xx', got {query_side!r}")
    return retrieval_accuracy(scores, np.arange(len(en_embeddings)))
