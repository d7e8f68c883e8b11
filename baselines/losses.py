"""Policy-gradient losses on per-turn rows: token-level PPO-clip (with dual clip), GSPO's sequence ratio,
KL to a frozen reference (k1/k2/k3) and an optional entropy bonus, aggregated like verl's ``agg_loss``.

Shapes: ``logp``, ``old_logp``, ``ref_logp``, ``mask``: Tensor[B, R] over response tokens; advantages are
Tensor[B] (one per turn, broadcast over its tokens) or Tensor[B, R]. The mask is the loss mask (includes the
generated EOS, excludes padding). With gradient accumulation, pass the **mini-batch** denominators
(``Denominators``) so the micro-batch losses add up to exactly the mini-batch loss (docs/training.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from aem_envs.registry import Registry

AggMode = Literal["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm"]


@dataclass
class LossConfig:
    clip_low: float = 0.2
    clip_high: float = 0.2
    dual_clip: float | None = 3.0  # c > 1 caps the loss of A < 0 tokens whose ratio exploded; None = off
    ratio_level: Literal["token", "sequence"] = "token"  # "sequence" = GSPO(-token)
    agg: AggMode = "token-mean"
    kl_coef: float = 0.01
    kl_type: Literal["k1", "k2", "k3"] = "k3"
    entropy_coef: float = 0.0
    norm_length: int | None = None  # C of seq-mean-token-sum-norm (default: the response width)

    def __post_init__(self) -> None:
        if self.dual_clip is not None and self.dual_clip <= 1:
            raise ValueError(f"dual_clip must be > 1 (or None), got {self.dual_clip}")
        if self.clip_low < 0 or self.clip_high < 0:
            raise ValueError("clip ranges must be >= 0")


@dataclass
class Denominators:
    """Mini-batch totals for aggregation across micro-batches."""

    tokens: float
    seqs: float

    @classmethod
    def of(cls, mask: Tensor) -> Denominators:
        n_tok = mask.sum(-1)
        return cls(tokens=float(n_tok.sum()), seqs=float((n_tok > 0).sum()))


# Per-token estimates of KL(π_θ || π_ref) from sampled tokens (Schulman 2020), fn(δ = logp - ref_logp).
KL_ESTIMATORS: Registry[Callable[[Tensor], Tensor]] = Registry("KL estimator")
KL_ESTIMATORS.register("k1", lambda delta: delta)
KL_ESTIMATORS.register("k2", lambda delta: 0.5 * delta.square())


@KL_ESTIMATORS.register("k3")
def _k3(delta: Tensor) -> Tensor:
    neg = torch.clamp(-delta, -20.0, 20.0)  # log(π_ref/π_θ)
    return torch.clamp(torch.exp(neg) - neg - 1.0, -10.0, 10.0)


def kl_penalty(logp: Tensor, ref_logp: Tensor, kind: str = "k3") -> Tensor:
    """Per-token KL estimate of KL(π_θ || π_ref) from sampled tokens (Schulman 2020).

    k3 = e^{-δ} + δ - 1 with δ = logp - ref_logp; the inner log-ratio is clamped to ±20 and the value to ±10
    (where the clamp binds the gradient is zero), as in verl's ``low_var_kl``.
    """
    return KL_ESTIMATORS.get(kind)(logp - ref_logp)


# mode -> fn(weighted per-token matrix, float mask, denominators, norm_length) -> scalar
AGGREGATIONS: Registry[Callable[[Tensor, Tensor, Denominators, int], Tensor]] = Registry("loss aggregation")
AGGREGATIONS.register("token-mean", lambda mw, m, d, n: mw.sum() / max(d.tokens, 1.0))
AGGREGATIONS.register("seq-mean-token-mean",
                      lambda mw, m, d, n: (mw.sum(-1) / m.sum(-1).clamp_min(1)).sum() / max(d.seqs, 1.0))
AGGREGATIONS.register("seq-mean-token-sum", lambda mw, m, d, n: mw.sum() / max(d.seqs, 1.0))
AGGREGATIONS.register("seq-mean-token-sum-norm", lambda mw, m, d, n: mw.sum() / float(n))


def agg_loss(mat: Tensor, mask: Tensor, mode: str, denom: Denominators | None = None,
             weight: Tensor | None = None, norm_length: int | None = None) -> Tensor:
    """Aggregate a per-token matrix to a scalar. ``weight`` (Tensor[B]) scales rows in the numerator
    (e.g. 1/T_i per trajectory); denominators stay counts so weights of 1 change nothing."""
    aggregate = AGGREGATIONS.get(mode)
    m = mask.to(mat.dtype)
    w = m if weight is None else m * weight.to(mat.dtype)[:, None]
    return aggregate(mat * w, m, denom or Denominators.of(mask), norm_length or mask.shape[-1])


@dataclass
class LossOutput:
    loss: Tensor
    metrics: dict[str, float]


def _masked_mean(x: Tensor, m: Tensor) -> float:
    return float((x * m).sum() / m.sum().clamp_min(1))


def policy_loss(logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, cfg: LossConfig,
                ref_logp: Tensor | None = None, entropy: Tensor | None = None,
                denom: Denominators | None = None, weight: Tensor | None = None) -> LossOutput:
    """Total loss = agg(L_pg) + β·agg(KL) - c_H·agg(H). ``entropy`` is the current policy's per-token
    entropy (with gradient), needed only when ``cfg.entropy_coef > 0``."""
    m = mask.to(logp.dtype)
    adv = advantages[:, None].expand_as(logp) if advantages.dim() == 1 else advantages
    adv = adv.to(logp.dtype)
    log_ratio = logp - old_logp
    if cfg.ratio_level == "token":
        ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    elif cfg.ratio_level == "sequence":
        # GSPO-token: value = geometric-mean sequence ratio s_i, per-token gradient s_i ∇log π_θ(y_t)
        seq = (log_ratio * m).sum(-1) / m.sum(-1).clamp_min(1)
        log_s = logp - logp.detach() + seq.detach()[:, None]
        ratio = torch.exp(torch.clamp(log_s, max=10.0))
    else:
        raise ValueError(f"ratio_level must be 'token' or 'sequence', got {cfg.ratio_level!r}")
    l1 = -adv * ratio
    l2 = -adv * torch.clamp(ratio, 1.0 - cfg.clip_low, 1.0 + cfg.clip_high)
    l_clip = torch.maximum(l1, l2)
    pg = l_clip
    lower = torch.zeros_like(l_clip, dtype=torch.bool)
    if cfg.dual_clip is not None and cfg.ratio_level == "token":
        l3 = -adv * cfg.dual_clip
        lower = (adv < 0) & (l_clip > l3)
        pg = torch.where(adv < 0, torch.minimum(l_clip, l3), l_clip)
    total = agg_loss(pg, mask, cfg.agg, denom, weight, cfg.norm_length)
    metrics = {
        "loss/pg": float(total.detach()),
        "loss/clip_frac": _masked_mean((l2 > l1).to(m.dtype), m),
        "loss/lower_clip_frac": _masked_mean(lower.to(m.dtype), m),
        "loss/ppo_kl": _masked_mean((-log_ratio).detach(), m),
    }
    if cfg.kl_coef and ref_logp is not None:
        kl = agg_loss(kl_penalty(logp, ref_logp, cfg.kl_type), mask, cfg.agg, denom, weight, cfg.norm_length)
        total = total + cfg.kl_coef * kl
        metrics["loss/kl"] = float(kl.detach())
    if cfg.entropy_coef and entropy is not None:
        ent = agg_loss(entropy, mask, cfg.agg, denom, weight, cfg.norm_length)
        total = total - cfg.entropy_coef * ent
        metrics["loss/entropy_bonus"] = float(ent.detach())
    metrics["loss/total"] = float(total.detach())
    return LossOutput(total, metrics)
