"""Retrieval (Tatoeba, LAReQA, Mewsli-X) with pooled encoder embeddings and no task head.

Queries of each language are ranked against that language's candidate pool by cosine similarity of
mean-pooled embeddings (the XTREME sentence-retrieval baseline pools too; we use the last layer).
Tatoeba is scored as the official scorer does (English side retrieves, `tatoeba_accuracy`);
LAReQA / Mewsli-X by mAP@20 over the ranking of the whole pool. Nothing is fine-tuned here: the
encoder is the pretrained one, or whatever a study's earlier stage left in it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from xlt.models.heads import Embedder
from xlt.training.batching import Encoded
from xlt.training.embeddings import EmbeddingMemo
from xlt.training.kinds.base import EvalData, LanguageResult, Predict, Scores, TaskKind


class RetrievalKind(TaskKind):
    trains = False
    predicts = "scores"

    def label_names(self, train_examples: list) -> list[str]:
        return []

    def pooling(self, requested: str, pretrained: str) -> str:
        return "mean" if requested == "auto" else requested  # the XTREME retrieval baseline pools

    def build(self, encoder, n_labels, pooling, dropout):
        return Embedder(encoder, self.pooling(pooling, "mean"))

    def embedder(self, predict: Predict, encode: Callable[[list], Encoded]) -> Callable[[list[str]], np.ndarray]:
        """texts -> pooled vectors, one per text (what `EvalData.embed` memoizes)."""
        def embed(texts: list[str]) -> np.ndarray:
            encoded = encode(texts)
            return self.decode(encoded, predict(encoded, "embed"), [], texts)
        return embed

    def evaluate(self, predict: Predict, data: EvalData) -> list[LanguageResult]:
        """Rank each language's queries against its candidate pool. Every distinct text is embedded
        once (`data.embed`, memoized by the run: a pool shared by all languages, a side repeated
        across them, or texts an earlier run with the same weights embedded)."""
        embed = data.embed or EmbeddingMemo(self.embedder(predict, data.encode), key={})
        out = []
        for lang in tqdm(data.languages, desc=f"retrieve {self.spec.name}", unit="lang", leave=False,
                         disable=not data.progress):
            queries, candidates = data.test[lang], data.candidates(lang)
            scores, ranked = self.score_ranking(embed([q.query for q in queries]),
                                                embed([c.text for c in candidates]), queries, candidates)
            out.append(LanguageResult(lang, scores, ranked, len(queries)))
        return out

    def encode(self, texts, tokenizer, label2id, max_length, prefix=""):
        """Here `texts` are plain strings (queries or candidates)."""
        enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=False)
        return Encoded(enc["input_ids"], None, np.full(len(texts), -1))

    def decode(self, data, outputs, label_names, examples):
        return np.stack(outputs) if outputs else np.zeros((0, 0), dtype=np.float32)

    def score(self, predictions, examples, language):
        raise NotImplementedError("retrieval is scored with score_ranking (queries vs candidates)")

    def score_ranking(self, query_vecs: np.ndarray, cand_vecs: np.ndarray, examples: list,
                      candidates: list) -> tuple[Scores, list | dict]:
        """Scores of one language, and what `xlt export` writes for it, from the one ranking the
        metric computes. Tatoeba (aligned pairs): for English sentence j, the index of the nearest
        non-English sentence, in the official en -> xx direction (one integer per line, as XTREME's
        scorer reads). LAReQA / Mewsli-X: {query id: the top-k candidate ids, best first}."""
        from xlt.metrics.retrieval import cosine_similarity, map_at_k, tatoeba_accuracy

        index = {c.id: i for i, c in enumerate(candidates)}
        values, per_example, predictions = {}, {}, None
        for metric in self.spec.metrics:
            if metric == "retrieval_accuracy":  # aligned pairs: query i's gold is one English line
                gold = [index[ex.gold[0]] for ex in examples]
                res = tatoeba_accuracy(query_vecs, cand_vecs[gold])
                predictions = res.ranked
            elif metric.startswith("map@"):
                relevant = [{index[g] for g in ex.gold if g in index} for ex in examples]
                res = map_at_k(cosine_similarity(query_vecs, cand_vecs), relevant, int(metric[4:]))
                predictions = {ex.id: [candidates[i].id for i in r] for ex, r in zip(examples, res.ranked)}
            else:
                raise ValueError(f"retrieval metric {metric!r} is not supported")
            values[metric], per_example[metric] = res.value, res.per_query.tolist()
        return Scores(values, per_example), predictions
