"""Extractive QA (XQuAD, MLQA, TyDiQA-GoldP): start/end logits over context tokens.

As in the SQuAD/XTREME baselines: a long context is cut into windows of `max_length` tokens that
overlap by `DOC_STRIDE` tokens (question repeated in each); a training window without the answer
points at the first token ([CLS]/<s>). Prediction takes the `N_BEST` top starts and ends of every
window, keeps spans inside the context of at most `MAX_ANSWER_TOKENS` tokens, and answers with the
best-scoring span (start + end logit) over all windows of the example.
"""

from __future__ import annotations

import numpy as np

from xlt.errors import XltError
from xlt.models.heads import SpanExtractor
from xlt.training.batching import Encoded
from xlt.training.kinds.base import TaskKind

DOC_STRIDE = 128
N_BEST = 20
MAX_ANSWER_TOKENS = 30


class QAKind(TaskKind):
    predicts = "answers"

    def label_names(self, train_examples: list) -> list[str]:
        return []

    def build(self, encoder, n_labels, pooling, dropout):
        return SpanExtractor(encoder, dropout)

    def encode(self, examples, tokenizer, label2id, max_length, prefix=""):
        # the window's context part is max_length minus the question and 3-4 special tokens; the
        # overlap must stay below it (the tokenizer panics otherwise)
        q_len = max((len(ids) for ids in tokenizer([ex.question for ex in examples], add_special_tokens=False)
                     ["input_ids"]), default=0)
        room = max_length - q_len - 4
        if room < 8:
            raise XltError(f"train.max_length={max_length} leaves no room for the context after questions of "
                           f"{q_len} tokens; use max_length >= {q_len + 64} (XTREME uses 384)")
        stride = min(DOC_STRIDE, room // 2)
        enc = tokenizer([ex.question for ex in examples], [ex.context for ex in examples],
                        truncation="only_second", max_length=max_length, stride=stride,
                        return_overflowing_tokens=True, return_offsets_mapping=True, padding=False,
                        return_attention_mask=False)
        rows_ex = enc["overflow_to_sample_mapping"]
        spans, meta = np.zeros((len(rows_ex), 2), dtype=np.int64), []
        for row, ex_i in enumerate(rows_ex):
            seq_ids = enc.sequence_ids(row)
            # offsets of context tokens only; None elsewhere so decoding never answers with the question
            offsets = [o if s == 1 else None for o, s in zip(enc["offset_mapping"][row], seq_ids)]
            meta.append((ex_i, offsets))
            answers = examples[ex_i].answers
            if answers and answers[0].start >= 0:
                a0 = answers[0].start
                spans[row] = _token_span(offsets, a0, a0 + len(answers[0].text))
        types = enc.get("token_type_ids")
        return Encoded(enc["input_ids"], types, spans, meta=meta)

    def class_rows(self, logits, labels):
        """[batch, seq, 2] start/end logits -> one row over the positions per start and per end."""
        return logits.transpose(1, 2).reshape(-1, logits.shape[1]), labels.reshape(-1)

    def loss(self, model, batch):
        import torch.nn.functional as F

        logits = self.logits(model, batch)
        start, end = logits[..., 0], logits[..., 1]
        return (F.cross_entropy(start, batch["labels"][:, 0]) + F.cross_entropy(end, batch["labels"][:, 1])) / 2

    def decode(self, data, outputs, label_names, examples):
        best: dict[int, tuple[float, str]] = {}
        for row, out in enumerate(outputs):
            ex_i, offsets = data.meta[row]
            start_l, end_l = out[:, 0], out[:, 1]
            for s in np.argsort(-start_l)[:N_BEST]:
                if offsets[s] is None:
                    continue
                for e in np.argsort(-end_l)[:N_BEST]:
                    if offsets[e] is None or e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                        continue
                    score = float(start_l[s] + end_l[e])
                    if ex_i not in best or score > best[ex_i][0]:
                        best[ex_i] = (score, examples[ex_i].context[offsets[s][0] : offsets[e][1]])
        return [best.get(i, (0.0, ""))[1] for i in range(len(examples))]

    def serialize(self, predictions, examples):
        return {ex.id: p for ex, p in zip(examples, predictions)}  # SQuAD prediction-file layout

    def references(self, examples):
        return [[a.text for a in ex.answers] for ex in examples]


def _token_span(offsets: list, start_char: int, end_char: int) -> tuple[int, int]:
    """Token indices of the answer inside this window, or (0, 0) when the window lacks it."""
    ctx = [i for i, o in enumerate(offsets) if o is not None]
    if not ctx or offsets[ctx[0]][0] > start_char or offsets[ctx[-1]][1] < end_char:
        return 0, 0
    s = next(i for i in ctx if offsets[i][1] > start_char)
    e = next(i for i in reversed(ctx) if offsets[i][0] < end_char)
    return s, e
