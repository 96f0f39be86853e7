"""Multiple choice (XCOPA): score each (premise [+ question], choice) pair, softmax over choices.

The premise side carries the question when the dataset has one, in words ("What was the cause?"),
as XTREME-R's XCOPA baselines do, so the encoder sees which relation is asked for.
"""

from __future__ import annotations

import numpy as np

from xlt.models.heads import ChoiceScorer
from xlt.training.batching import Encoded
from xlt.training.kinds.base import TaskKind

_QUESTION = {"cause": "What was the cause?", "effect": "What happened as a result?"}


class ChoiceKind(TaskKind):
    def label_names(self, train_examples: list) -> list[str]:
        return []  # the label is an index into each example's choices

    def build(self, encoder, n_labels, pooling, dropout):
        return ChoiceScorer(encoder, pooling, dropout)

    def encode(self, examples, tokenizer, label2id, max_length, prefix=""):
        k = {len(ex.choices) for ex in examples}
        if len(k) != 1:
            raise ValueError(f"examples have different numbers of choices: {sorted(k)}")
        firsts, seconds = [], []
        for ex in examples:
            first = prefix + ex.premise + (" " + _QUESTION.get(ex.question, ex.question) if ex.question else "")
            firsts += [first] * len(ex.choices)
            seconds += list(ex.choices)
        enc = tokenizer(firsts, seconds, truncation=True, max_length=max_length, padding=False,
                        return_attention_mask=False, return_token_type_ids=True)
        n = k.pop()
        group = lambda xs: [xs[i : i + n] for i in range(0, len(xs), n)]
        types = enc.get("token_type_ids")
        labels = np.array([ex.label if ex.label is not None else -1 for ex in examples], dtype=np.int64)
        return Encoded(group(enc["input_ids"]), group(types) if types is not None else None, labels)

    def decode(self, data, outputs, label_names, examples):
        return [int(np.argmax(o)) for o in outputs]
