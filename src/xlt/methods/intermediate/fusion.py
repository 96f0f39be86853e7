"""Image + text models for the multimodal stage: the text encoder with image features fused in.

Two fusions (`fusion:` in the condition), both over a frozen table of image features:

- `prefix` (default, single stream): the image's features are projected into the text encoder's
  *input embedding space* as `prefix_tokens` vectors and inserted where the premise would stand in
  the pair layout of the text twin: `[CLS] <image tokens> [SEP] hypothesis [SEP]` (XLM-R:
  `<s> <image> </s></s> hypothesis </s>`), segment A for the image, B for the text. Every layer of
  the encoder then attends across image and text; the encoder's own position and segment
  embeddings and embedding LayerNorm apply to the image tokens as to words.
- `late`: the encoder reads the text alone; its pooled output t and the projected, averaged image
  vector v meet only in the head, an MLP over [t; v; t*v]. The encoder still trains (through t),
  but never sees the image.

A pooled feature vector (one per image) becomes `prefix_tokens` vectors through one linear map
(ClipCap-style); token features (e.g. ViT patches) are projected one to one. Everything that is not
the encoder - projection, head - lives under `head.` and is dropped with the head after the stage.
The classifier trains at `train.head_lr` like any task head; the projector at `projector_lr`
(`lr_by_prefix`, read by the training loop; the stage passes the condition's `projector_lr`, by
default the encoder's lr: see `conditions.py`).
"""

from __future__ import annotations

import torch
from torch import nn

from xlt.models.heads import pool


class ImageProjector(nn.Module):
    """[batch, tokens, dim] image features -> [batch, k, hidden] input embeddings."""

    def __init__(self, feature_tokens: int, feature_dim: int, hidden: int, prefix_tokens: int):
        super().__init__()
        self.k = prefix_tokens if feature_tokens == 1 else feature_tokens
        self.hidden = hidden
        self.linear = nn.Linear(feature_dim, hidden * (self.k if feature_tokens == 1 else 1))
        nn.init.normal_(self.linear.weight, std=0.02)  # the scale of word embeddings (BERT init)
        nn.init.zeros_(self.linear.bias)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        out = self.linear(feats)
        return out.view(feats.shape[0], self.k, self.hidden)


class FusionHead(nn.Module):
    def __init__(self, projector: ImageProjector, hidden: int, n_labels: int, dropout: float, late: bool):
        super().__init__()
        self.image = projector
        self.dropout = nn.Dropout(dropout)
        if late:
            self.classify = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.Tanh(), nn.Dropout(dropout),
                                          nn.Linear(hidden, n_labels))
        else:
            self.classify = nn.Linear(hidden, n_labels)


class ImageTextClassifier(nn.Module):
    """Text encoder + frozen image feature table -> label logits; see the module docstring.

    forward(input_ids, attention_mask, token_type_ids, image_rows): `image_rows` index the table.
    `insert_at`: position of the first separator of the (empty-premise) pair encoding, where the
    image tokens go.
    """

    def __init__(self, encoder: nn.Module, images: torch.Tensor, n_labels: int, *, fusion: str = "prefix",
                 prefix_tokens: int = 4, insert_at: int = 1, pooling: str = "cls", dropout: float = 0.1,
                 projector_lr: float | None = None):
        super().__init__()
        if fusion not in ("prefix", "late"):
            raise ValueError(f"fusion must be 'prefix' or 'late', not {fusion!r}")
        hidden = encoder.config.hidden_size
        self.encoder, self.fusion, self.insert_at, self.pooling = encoder, fusion, insert_at, pooling
        self.register_buffer("images", images.float(), persistent=False)  # frozen: never a parameter
        projector = ImageProjector(images.shape[1], images.shape[2], hidden, prefix_tokens)
        self.head = FusionHead(projector, hidden, n_labels, dropout, fusion == "late")
        # {parameter name prefix: lr} for `xlt.training.loop`'s optimizer; None: the projector trains with the head
        self.lr_by_prefix = {} if projector_lr is None else {"head.image.": projector_lr}

    def hidden(self, input_ids, attention_mask, token_type_ids=None, image_rows=None):
        """(last hidden states, their attention mask): what the encoder computes for the batch."""
        kwargs = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        if self.fusion == "late":
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
            return out.last_hidden_state, attention_mask
        prefix = self.head.image(self.images[image_rows])
        words = self.encoder.get_input_embeddings()(input_ids)
        at, k = self.insert_at, prefix.shape[1]
        embeds = torch.cat([words[:, :at], prefix.to(words.dtype), words[:, at:]], 1)
        ones = attention_mask.new_ones(attention_mask.shape[0], k)
        mask = torch.cat([attention_mask[:, :at], ones, attention_mask[:, at:]], 1)
        if token_type_ids is not None:  # image tokens in segment A, like the premise they replace
            types = torch.cat([token_type_ids[:, :at], token_type_ids.new_zeros(ones.shape), token_type_ids[:, at:]], 1)
            kwargs = {"token_type_ids": types}
        return self.encoder(inputs_embeds=embeds, attention_mask=mask, **kwargs).last_hidden_state, mask

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, image_rows=None):
        hidden, mask = self.hidden(input_ids, attention_mask, token_type_ids, image_rows)
        text = pool(hidden, mask, self.pooling)
        if self.fusion == "late":
            image = self.head.image(self.images[image_rows]).mean(1)
            text = torch.cat([text, image, text * image], -1)
        return self.head.classify(self.head.dropout(text))
