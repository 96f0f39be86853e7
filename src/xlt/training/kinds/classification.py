"""Sentence(-pair) classification: pooled encoder + linear head; scored by the spec's label metrics."""

from __future__ import annotations

import numpy as np

from xlt.models.heads import SequenceClassifier
from xlt.training.batching import Encoded
from xlt.training.kinds.base import TaskKind


class ClassificationKind(TaskKind):
    def label_names(self, train_examples: list) -> list[str]:
        return list(self.spec.labels) or sorted({ex.label for ex in train_examples})

    def build(self, encoder, n_labels, pooling, dropout):
        return SequenceClassifier(encoder, n_labels, pooling, dropout)

    def encode(self, examples, tokenizer, label2id, max_length, prefix=""):
        texts = [prefix + ex.text for ex in examples]
        pairs = [ex.text_pair for ex in examples]
        has_pairs = any(p is not None for p in pairs)
        enc = tokenizer(texts, [p or "" for p in pairs] if has_pairs else None, truncation=True,
                        max_length=max_length, padding=False, return_attention_mask=False,
                        return_token_type_ids=has_pairs)
        labels = np.array([label2id[ex.label] if ex.label is not None else -1 for ex in examples], dtype=np.int64)
        return Encoded(enc["input_ids"], enc.get("token_type_ids") if has_pairs else None, labels)

    def decode(self, data, outputs, label_names, examples):
        return [label_names[int(np.argmax(o))] for o in outputs]
