"""Sentence(-pair) classifier: any HF encoder + pooling + a linear head.

Our own head (rather than AutoModelForSequenceClassification) gives every architecture the same
pooling choices and lets methods such as EPAR feed `inputs_embeds` through the same module.
"""

from __future__ import annotations

import torch
from torch import nn


class SequenceClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_labels: int, pooling: str = "cls", dropout: float = 0.1):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', not {pooling!r}")
        self.encoder, self.pooling = encoder, pooling
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_labels)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "cls":
            return hidden[:, 0]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, inputs_embeds=None):
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, **kwargs)
        return self.head(self.dropout(self.pool(out.last_hidden_state, attention_mask)))
