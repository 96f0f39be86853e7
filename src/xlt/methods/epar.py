"""EPAR: Embedding-Push, Attention-Pull and Robust targets (Ding et al., COLING 2022, arXiv 2210.09934).

    methods: [finetune, epar, epar-no-push, epar-no-pull, epar-no-robust, epar-random-push]
    method_settings: {epar: {push_norm: 0.25, w_virtual: 1.0, w_pull: 1.0, gold_weight: 0.7}}

From the paper (abstract and introduction, the only parts public offline): train on English only,
turn English embeddings into *virtual multilingual embeddings* without parallel data or dictionaries,
keep their meaning with an attention pull, and train them against robust targets. Everything
concrete below is our reconstruction (the full text and code were not available):

Embedding-Push. The English region and the other-language region are estimated once per run from
the model's own word-embedding table: mu_en = mean row of the token ids that occur in the English
training data (special tokens excluded), mu_other = mean of all other rows. Every non-special,
non-pad token of the virtual input is moved by `push_norm * r` along u = (mu_other - mu_en) / |.|,
r = mean norm of the English rows (so push_norm is model-independent; on me5-small the centroid gap
is 0.21 r), plus per-token Gaussian noise of length `noise_norm * r` in a random direction (a cloud
of virtual languages rather than one). Position/segment embeddings are not pushed: only the word
embeddings differ between languages. The direction is fixed from the pretrained table.
`epar-random-push` uses a random unit vector orthogonal to u, same length; `epar-no-push` keeps
only the noise.

Attention-Pull. The virtual pass's self-attention distributions are pulled toward the original
pass's: KL(P_original || P_virtual) over keys, averaged over layers, heads and real query tokens.
The original is detached (a fixed teacher): the English pass is what the task loss trains, and
letting the pull move it as well would let both passes meet halfway and blur the English
representation. HF attention modules return post-dropout weights (and SDPA none), so the
probabilities are recomputed from the query/key projections caught by forward hooks (BERT-style
self-attention: mBERT, XLM-R, e5); training keeps the fast SDPA kernel. `pull_on: hidden` pulls all
layers' hidden states (MSE, any HF encoder) instead; `both` adds the two.

Robust targets. The virtual input is trained against t = gold_weight * onehot(gold) +
(1 - gold_weight) * softmax(original logits).detach(), a proper distribution that follows what
the model already predicts for the English sentence rather than forcing a hard label through the
push. Per token for tagging (ignored sub-tokens stay ignored), per start/end for QA: each task kind
says how its outputs split into rows of class logits (`TaskKind.class_rows`).

Total loss = CE(original, gold) + w_virtual * CE(virtual, t) + w_pull * pull: two forward passes
per step (the overhead is measured in the README).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from xlt.errors import XltError
from xlt.methods.settings import PULL_ON, EparSettings
from xlt.training.batching import IGNORE, Encoded

__all__ = ["PULL_ON", "EparLoss", "EparSettings", "attention_kl", "attention_logprobs", "capture", "hidden_mse",
           "push_direction", "push_embeddings", "robust_targets", "seen_token_ids", "soft_cross_entropy"]


# --- Embedding-Push -----------------------------------------------------------------------------


def seen_token_ids(data: Encoded) -> list[int]:
    """Token ids that occur in the (English) training rows; choice rows hold k id lists each."""
    rows = (seq for row in data.input_ids for seq in row) if data.nested else iter(data.input_ids)
    return sorted({i for seq in rows for i in seq})


def push_direction(table: torch.Tensor, english_ids, random: bool = False,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, float]:
    """(unit direction, mean norm of the English rows) from a [vocab, dim] embedding table.

    The direction points from the English centroid to the centroid of the other rows; `random`
    gives a random unit vector orthogonal to it instead (same length, direction carries no
    information about languages)."""
    table = table.detach().float().cpu()
    english = torch.zeros(table.shape[0], dtype=torch.bool)
    english[torch.as_tensor(list(english_ids), dtype=torch.long)] = True
    if english.all() or not english.any():
        raise XltError("EPAR needs English token ids that are a strict subset of the vocabulary")
    u = table[~english].mean(0) - table[english].mean(0)
    u = u / u.norm().clamp_min(1e-12)
    if random:
        r = torch.randn(u.shape, generator=generator)
        r = r - (r @ u) * u
        u = r / r.norm().clamp_min(1e-12)
    return u, float(table[english].norm(dim=1).mean())


def push_embeddings(embeds: torch.Tensor, mask: torch.Tensor, direction: torch.Tensor, length: float,
                    noise: float = 0.0) -> torch.Tensor:
    """embeds + length * direction (+ noise of length `noise`) at the positions where mask is true."""
    delta = (length * direction).to(embeds.dtype).expand_as(embeds)
    if noise > 0:
        z = torch.randn_like(embeds)
        delta = delta + noise * z / z.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return embeds + delta * mask.unsqueeze(-1).to(embeds.dtype)


# --- Attention-Pull -----------------------------------------------------------------------------


def _self_attentions(model: nn.Module) -> list[nn.Module]:
    """BERT-style self-attention modules (query/key projections + head size), in layer order."""
    return [m for m in model.modules() if isinstance(getattr(m, "query", None), nn.Linear)
            and isinstance(getattr(m, "key", None), nn.Linear) and hasattr(m, "attention_head_size")]


@contextmanager
def capture(model: nn.Module, attention: bool, hidden: bool):
    """Collect, from the forward pass inside the block, each layer's (query, key, head size, scale)
    and/or all hidden states of `model.encoder`; the hooks are removed on leaving the block."""
    got: dict = {"qk": [], "hidden": None}
    handles = []
    if attention:
        layers = _self_attentions(model.encoder)
        if not layers:
            raise XltError(f"EPAR pull_on: attention needs BERT-style self-attention (query/key projections); "
                           f"{type(model.encoder).__name__} has none: use method_settings.epar.pull_on: hidden")
        for m in layers:
            scale = getattr(m, "scaling", m.attention_head_size ** -0.5)
            q = []
            handles.append(m.query.register_forward_hook(lambda mod, i, o, q=q: q.append(o)))
            handles.append(m.key.register_forward_hook(
                lambda mod, i, o, q=q, m=m, s=scale: got["qk"].append((q.pop(), o, m.attention_head_size, s))))
    if hidden:
        handles.append(model.encoder.register_forward_pre_hook(
            lambda mod, args, kwargs: (args, {**kwargs, "output_hidden_states": True}), with_kwargs=True))
        handles.append(model.encoder.register_forward_hook(
            lambda mod, i, out: got.__setitem__("hidden", out.hidden_states)))
    try:
        yield got
    finally:
        for h in handles:
            h.remove()


def attention_logprobs(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor, head_size: int,
                       scale: float) -> torch.Tensor:
    """[batch, seq, heads*size] queries/keys -> [batch, heads, seq, seq] log attention (pad keys ~ -inf)."""
    b, t, _ = q.shape
    q = q.float().view(b, t, -1, head_size).transpose(1, 2)
    k = k.float().view(b, t, -1, head_size).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) * scale
    # finite fill: exp() underflows to exactly 0, so 0 * (log p - log q) stays 0 instead of nan
    scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
    return scores.log_softmax(-1)


def attention_kl(teacher: list[torch.Tensor], student: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) over keys, mean over layers, heads and real query positions."""
    rows = mask.bool()[:, None, :].float()  # [batch, 1, query]
    total = 0.0
    for lt, ls in zip(teacher, student):
        kl = (lt.exp() * (lt - ls)).sum(-1)  # [batch, heads, query]
        total = total + (kl * rows).sum() / (rows.sum() * kl.shape[1]).clamp_min(1.0)
    return total / max(len(teacher), 1)


def hidden_mse(teacher, student, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the layers' hidden states at real tokens (embedding output excluded:
    it differs by the push itself)."""
    m = mask.unsqueeze(-1).float()
    total = 0.0
    for ht, hs in zip(teacher[1:], student[1:]):
        total = total + (((hs.float() - ht.float()) ** 2) * m).sum() / (m.sum() * ht.shape[-1]).clamp_min(1.0)
    return total / max(len(teacher) - 1, 1)


# --- Robust targets -----------------------------------------------------------------------------


def robust_targets(logits: torch.Tensor, gold: torch.Tensor, gold_weight: float) -> torch.Tensor:
    """gold_weight * onehot(gold) + (1 - gold_weight) * softmax(logits), detached; IGNORE rows get 0."""
    valid = gold != IGNORE
    onehot = F.one_hot(gold.clamp_min(0), logits.shape[-1]).float()
    soft = gold_weight * onehot + (1.0 - gold_weight) * logits.detach().float().softmax(-1)
    return soft * valid.unsqueeze(-1)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    valid = gold != IGNORE
    per_row = -(targets * logits.float().log_softmax(-1)).sum(-1)
    return per_row[valid].sum() / valid.sum().clamp_min(1)


# --- the loss -----------------------------------------------------------------------------------


class EparLoss:
    """`loss_fn(model, batch)` for the training loop; `last` holds the latest terms (detached tensors:
    no device sync per step) for logs and tests."""

    def __init__(self, kind, model: nn.Module, train: Encoded, settings: EparSettings = EparSettings(),
                 push: bool = True, pull: bool = True, robust: bool = True, direction: str = "centroid",
                 special_ids=()):
        if not kind.trains:
            raise XltError(f"EPAR does not support {type(kind).__name__} tasks: they are not trained")
        self.kind, self.s = kind, settings
        self.variant = {"push": push, "pull": pull, "robust": robust, "direction": direction}  # for logs and tests
        self.special = torch.as_tensor(sorted(set(special_ids)), dtype=torch.long)
        english = sorted(set(seen_token_ids(train)) - set(special_ids))
        table = model.encoder.get_input_embeddings().weight
        # the random direction is drawn from torch's global RNG: the runner seeds it per run
        self.direction, self.unit = push_direction(table, english, random=direction == "random")
        self.push_length = settings.push_norm * self.unit if push else 0.0
        self.noise_length = settings.noise_norm * self.unit
        self.gold_weight = settings.gold_weight if robust else 1.0
        self.w_pull = settings.w_pull if pull else 0.0
        self.last: dict[str, torch.Tensor] = {}

    def virtual_embeddings(self, model: nn.Module, batch: dict) -> torch.Tensor:
        ids = batch["input_ids"]
        embeds = model.encoder.get_input_embeddings()(ids)
        mask = batch["attention_mask"].bool() & ~torch.isin(ids, self.special.to(ids.device))
        return push_embeddings(embeds, mask, self.direction.to(embeds.device), self.push_length, self.noise_length)

    def __call__(self, model: nn.Module, batch: dict) -> torch.Tensor:
        virtual = {k: v for k, v in batch.items() if k != "input_ids"}
        virtual["inputs_embeds"] = self.virtual_embeddings(model, batch)
        on = self.s.pull_on if self.w_pull > 0 else None
        attention, hidden = on in ("attention", "both"), on in ("hidden", "both")
        with capture(model, attention, hidden) as orig:
            logits_o = self.kind.logits(model, batch)
        with capture(model, attention, hidden) as virt:
            logits_v = self.kind.logits(model, virtual)
        rows_o, gold = self.kind.class_rows(logits_o, batch["labels"])
        rows_v, _ = self.kind.class_rows(logits_v, batch["labels"])
        task = F.cross_entropy(rows_o, gold, ignore_index=IGNORE)
        targets = robust_targets(rows_o, gold, self.gold_weight)
        loss_v = soft_cross_entropy(rows_v, targets, gold)
        pull = torch.zeros((), device=task.device)
        mask = batch["attention_mask"]
        if attention:
            lp = lambda qk: [attention_logprobs(q, k, mask, h, s) for q, k, h, s in qk]
            pull = pull + attention_kl([x.detach() for x in lp(orig["qk"])], lp(virt["qk"]), mask)
        if hidden:
            pull = pull + hidden_mse([h.detach() for h in orig["hidden"]], virt["hidden"], mask)
        total = task + self.s.w_virtual * loss_v + self.w_pull * pull
        self.last = {k: v.detach() for k, v in
                     {"task": task, "virtual": loss_v, "pull": pull, "total": total}.items()}
        return total

