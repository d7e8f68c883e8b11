"""Response-token log-probs and full-vocabulary entropies from one forward pass of a causal LM.

The old-policy pass of a training step calls this once, under no-grad, and gets both the log-probs the
PPO ratio needs and the per-token entropies AEM needs: no extra forward (docs/training.md). Logits are divided
by the sampling temperature first (otherwise the ratios are off-policy from the first step) and reduced
in float32 (a float64 model stays in float64: the data-parallel equivalence tests run in it). Only the
response positions are sent through the LM head (``logits_to_keep``), which keeps memory at O(B·R·V)
instead of O(B·(P+R)·V).

Without gradients (the old-policy and reference passes) the vocabulary reductions run block by block
over response positions in cache-sized buffers that are reused: temperature, constrained-decoding mask
and log-softmax once per block, the target's log-prob gathered from it, and AEM's entropy
H = -Σ exp(L)·L from the same log-softmax block while it is still in cache. That makes the entropy one
exp and one dot product per position on top of what the log-probs need, with no O(B·R·V) temporaries
(``benchmarks/aem_overhead.py``). With gradients (the update) the plain differentiable ops are used.
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
                     temperature: float = 1.0, with_entropy: bool = False,
                     allowed: Tensor | None = None) -> ForwardOut:
    """Log-prob of every response token (and its entropy) for rows laid out as ``[prompt | response]``.
    ``allowed`` (``TurnBatch.allowed``): the rollout's constrained-decoding masks, applied after the
    temperature exactly as the sampler did, so log-probs and entropies are the masked distribution's."""
    pos = (attention_mask.cumsum(-1) - 1).clamp_min(0)  # left padding: positions from the mask
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=pos,
                logits_to_keep=response_width + 1, use_cache=False)
    raw = out.logits[:, :-1, :]  # position P+k-1 predicts response token k
    targets = input_ids[:, -response_width:]
    if not (torch.is_grad_enabled() and raw.requires_grad):
        return ForwardOut(*blocked_logp_entropy(raw, targets, temperature, allowed, with_entropy))
    logits = at_least_float32(raw)
    if temperature != 1.0:
        logits = logits / temperature
    logits = mask_logits(logits, allowed)
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ent = entropy_from_logits(logits) if with_entropy else None
    return ForwardOut(logp, ent)


BLOCK_FLOATS = 1 << 16  # ~256 KB of float32 per buffer: a block stays in cache between its reductions


@torch.no_grad()
def blocked_logp_entropy(logits: Tensor, targets: Tensor, temperature: float = 1.0,
                         allowed: Tensor | None = None,
                         with_entropy: bool = True) -> tuple[Tensor, Tensor | None]:
    """``(log π(target), H)`` per position of ``logits`` [B, R, V] (no gradient): see the module docstring."""
    b, r, v = logits.shape
    flat, tgt = logits.reshape(b * r, v), targets.reshape(b * r, 1)
    alw = None if allowed is None else allowed.reshape(b * r, allowed.shape[-1])
    rows = max(1, BLOCK_FLOATS // v)
    dtype = torch.promote_types(logits.dtype, torch.float32)
    lsm = torch.empty(min(rows, b * r), v, dtype=dtype, device=logits.device)
    ex = torch.empty_like(lsm) if with_entropy else None
    logp = torch.empty(b * r, dtype=dtype, device=logits.device)
    ent = torch.empty_like(logp) if with_entropy else None
    for i in range(0, b * r, rows):
        j = min(b * r, i + rows)
        x = flat[i:j].to(dtype)
        if temperature != 1.0:
            x = x / temperature
        if alw is not None:
            x = mask_logits(x, alw[i:j])
        out = lsm[:j - i]
        torch.log_softmax(x, dim=-1, out=out)
        logp[i:j] = out.gather(-1, tgt[i:j]).squeeze(-1)
        if ent is not None and ex is not None:
            e = ex[:j - i]
            torch.exp(out, out=e)
            ent[i:j] = -torch.linalg.vecdot(e, out)  # masked ids: exp(L) = 0, so they add 0
    return logp.reshape(b, r), None if ent is None else ent.reshape(b, r)


@torch.no_grad()
def old_policy_pass(model, batch: TurnBatch, micro_batch: int, temperature: float = 1.0,
                    with_entropy: bool = True) -> ForwardOut:
    """No-grad pass over the whole batch in micro-batches: old log-probs and entropies."""
    was_training = model.training
    model.eval()
    try:
        lps, ents = [], []
        for s in range(0, len(batch), micro_batch):
            o = response_forward(model, batch.input_ids[s:s + micro_batch],
                                 batch.attention_mask[s:s + micro_batch],
                                 batch.response_width, temperature, with_entropy,
                                 None if batch.allowed is None else batch.allowed[s:s + micro_batch])
            lps.append(o.logp)
            if o.entropy is not None:
                ents.append(o.entropy)
        return ForwardOut(torch.cat(lps), torch.cat(ents) if ents else None)
    finally:
        model.train(was_training)
