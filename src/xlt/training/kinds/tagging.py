"""Token tagging (UD-POS, NER): a label per word, predicted at the word's first sub-token.

Sub-token alignment follows the XTREME / HF token-classification convention: only the first
sub-token of each word carries the label; the others and the special tokens are ignored in the loss
and in decoding. Words cut off by `max_length` are predicted "O" (NER) or the first label (POS)
and count as errors when wrong, so truncation never inflates a score.
"""

from __future__ import annotations

import numpy as np

from xlt.models.heads import TokenTagger
from xlt.training.batching import IGNORE, Encoded
from xlt.training.kinds.base import TaskKind


class TaggingKind(TaskKind):
    predicts = "tags"
    metric_aliases = {"accuracy": "token_accuracy"}  # udpos's "accuracy" is token accuracy

    def build(self, encoder, n_labels, pooling, dropout):
        return TokenTagger(encoder, n_labels, dropout)

    def encode(self, examples, tokenizer, label2id, max_length, prefix=""):
        # no e5-style text prefix here: it is a sentence-embedding convention, not a tagging one
        enc = tokenizer([list(ex.tokens) for ex in examples], is_split_into_words=True, truncation=True,
                        max_length=max_length, padding=False, return_attention_mask=False,
                        return_token_type_ids=False)
        token_labels, word_ids = [], []
        for i, ex in enumerate(examples):
            firsts, labels, prev = [], [], None
            for w in enc.word_ids(i):
                first = w is not None and w != prev
                firsts.append(w if first else -1)
                labels.append(label2id[ex.tags[w]] if first and ex.tags is not None else IGNORE)
                prev = w
            token_labels.append(labels)
            word_ids.append(firsts)
        return Encoded(enc["input_ids"], None, np.full(len(examples), -1), token_labels, word_ids)

    def decode(self, data, outputs, label_names, examples):
        fallback = "O" if "O" in label_names else label_names[0]
        preds = []
        for i, out in enumerate(outputs):
            words = {w: label_names[int(np.argmax(out[t]))] for t, w in enumerate(data.word_ids[i]) if w >= 0}
            preds.append([words.get(w, fallback) for w in range(len(examples[i].tokens))])
        return preds

    def references(self, examples):
        return [list(ex.tags) for ex in examples]
