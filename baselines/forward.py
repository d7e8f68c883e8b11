"""Response-token log-probs and full-vocabulary entropies from one forward pass of a causal LM.

The old-policy pass of a training step calls this once, under no-grad, and gets both the log-probs the
PPO ratio needs and the per-token entropies AEM needs: no extra forward (docs/training.md). Logits are divided
by the sampling temperature first (otherwise the ratios are off-policy from the first step) and reduced
in float32 (a float64 model stays in float64: the data-parallel equivalence tests run in it). Only the
response positions are sent through the LM head (``logits_to_keep``), which keeps memory at O(B·R·V)
instead of O(B·(P+R)·V).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from aem_gym.agents.constrained import mask_logits
from aem_gym.baselines.batch import TurnBatch


def at_least_float32(t: Tensor) -> Tensor:
    """``t`` in float32, or in its own dtype when that is wider (float64)."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def entropy_from_logits(logits: Tensor) -> Tensor:
    """H = logsumexp(z) - Σ softmax(z)·z, in float32 or wider (stable form of -Σ p log p)."""
    z = at_least_float32(logits)
    return torch.logsumexp(z, dim=-1) - (torch.softmax(z, dim=-1) * z).sum(-1)


@dataclass
class ForwardOut:
    logp: Tensor  # [B, R]
    entropy: Tensor | None  # [B, R]


def response_forward(model, input_ids: Tensor, attention_mask: Tensor, response_width: int,
                     temperature: float = 1.0, with_entropy: bool = False, allowed: Tensor | None = None) -> ForwardOut:
    """Log-prob of every response token (and its entropy) for rows laid out as ``[prompt | response]``.
    ``allowed`` (``TurnBatch.allowed``): the rollout's constrained-decoding masks, applied after the
    temperature exactly as the sampler did, so log-probs and entropies are the masked distribution's."""
    pos = (attention_mask.cumsum(-1) - 1).clamp_min(0)  # left padding: positions from the mask
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos,
                logits_to_keep=response_width + 1, use_cache=False)
    logits = at_least_float32(out.logits[:, :-1, :])  # position P+k-1 predicts response token k
    if temperature != 1.0:
        logits = logits / temperature
    logits = mask_logits(logits, allowed)
    targets = input_ids[:, -response_width:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ent = entropy_from_logits(logits) if with_entropy else None
    return ForwardOut(logp, ent)


@torch.no_grad()
def old_policy_pass(model, batch: TurnBatch, micro_batch: int, temperature: float = 1.0,
                    with_entropy: bool = True) -> ForwardOut:
    """No-grad pass over the whole batch in micro-batches: old log-probs and entropies."""
    was_training = model.training
    model.eval()
    try:
        lps, ents = [], []
        for s in range(0, len(batch), micro_batch):
            o = response_forward(model, batch.input_ids[s:s + micro_batch], batch.attention_mask[s:s + micro_batch],
                                 batch.response_width, temperature, with_entropy,
                                 None if batch.allowed is None else batch.allowed[s:s + micro_batch])
            lps.append(o.logp)
            if o.entropy is not None:
                ents.append(o.entropy)
        return ForwardOut(torch.cat(lps), torch.cat(ents) if ents else None)
    finally:
        model.train(was_training)
