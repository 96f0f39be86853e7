"""Task heads on any HF encoder: sentence classification, token tagging, multiple choice.

Our own heads (rather than AutoModelFor*) give every architecture the same pooling choices and let
methods such as EPAR feed `inputs_embeds` through the same module.
"""

from __future__ import annotations

import torch
from torch import nn


class _Head(nn.Module):
    def __init__(self, encoder: nn.Module, out_dim: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, out_dim)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def encode(self, input_ids, attention_mask, token_type_ids, inputs_embeds) -> torch.Tensor:
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, **kwargs).last_hidden_state


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    if how == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class SequenceClassifier(_Head):
    """[batch, seq] -> [batch, num_labels] from the pooled sequence."""

    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str = "cls", dropout: float = 0.1):
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
        super().__init__(encoder, num_labels, dropout)
        self.pooling = pooling

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        hidden = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        return self.head(self.dropout(pool(hidden, attention_mask, self.pooling)))


class TokenTagger(_Head):
    """[batch, seq] -> [batch, seq, num_labels]: one prediction per sub-token (first ones are scored)."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__(encoder, num_labels, dropout)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        return self.head(self.dropout(self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)))


class ChoiceScorer(_Head):
    """[batch * k, seq] -> [batch, k]: one score per (premise, choice) pair, softmax across choices."""

    def __init__(self, encoder: nn.Module, pooling: str = "cls", dropout: float = 0.1):
        super().__init__(encoder, 1, dropout)
        self.pooling = pooling

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None,
                num_choices: int = 2):
        hidden = self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)
        return self.head(self.dropout(pool(hidden, attention_mask, self.pooling))).view(-1, num_choices)


class SpanExtractor(_Head):
    """[batch, seq] -> [batch, seq, 2]: start and end logits of the answer span per token."""

    def __init__(self, encoder: nn.Module, dropout: float = 0.1):
        super().__init__(encoder, 2, dropout)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        return self.head(self.dropout(self.encode(input_ids, attention_mask, token_type_ids, inputs_embeds)))


class Embedder(nn.Module):
    """[batch, seq] -> [batch, hidden]: pooled sentence embedding (retrieval, no trained head)."""

    def __init__(self, encoder: nn.Module, pooling: str = "mean"):
        super().__init__()
        self.encoder, self.pooling = encoder, pooling

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None):
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)
