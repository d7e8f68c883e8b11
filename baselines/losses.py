"""Policy-gradient losses on per-turn rows: token-level PPO-clip (with dual clip), GSPO's sequence ratio,
KL to a frozen reference (k1/k2/k3) and an optional entropy bonus, aggregated like verl's ``agg_loss``.
The per-token surrogate is a registry (``loss.surrogate``): PPO-clip, and the covariance-based Clip-Cov and
KL-Cov of Cui et al. 2025 ("The Entropy Mechanism of RL for Reasoning LMs"), composable with every
estimator and advantage transform.

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
    # the per-token surrogate (SURROGATES): ppo_clip, or Cui et al.'s covariance-based clip_cov / kl_cov
    surrogate: str = "ppo_clip"
    cov_frac: float = 2e-4  # Clip-Cov / KL-Cov: fraction of the micro-batch's tokens selected (at least 1)
    clip_cov_bounds: tuple[float, float] = (1.0, 5.0)  # Clip-Cov: tokens with Cov in (lb, ub) are eligible
    kl_cov_coef: float = 1.0  # KL-Cov: weight of |log π - log π_old| on the selected tokens

    def __post_init__(self) -> None:
        if self.dual_clip is not None and self.dual_clip <= 1:
            raise ValueError(f"dual_clip must be > 1 (or None), got {self.dual_clip}")
        if self.clip_low < 0 or self.clip_high < 0:
            raise ValueError("clip ranges must be >= 0")
        if self.surrogate not in SURROGATES:
            known = ", ".join(sorted(SURROGATES))
            raise ValueError(f"unknown loss.surrogate {self.surrogate!r}; known: {known}")
        if not 0 < self.cov_frac <= 1:
            raise ValueError(f"loss.cov_frac must be in (0, 1], got {self.cov_frac}")
        self.clip_cov_bounds = tuple(self.clip_cov_bounds)  # a YAML list


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
                denom: Denominators | None = None, weight: Tensor | None = None,
                generator: torch.Generator | None = None) -> LossOutput:
    """Total loss = agg(L_pg) + β·agg(KL) - c_H·agg(H). ``entropy`` is the current policy's per-token
    entropy (with gradient), needed only when ``cfg.entropy_coef > 0``. L_pg is ``cfg.surrogate``'s
    per-token matrix; ``generator`` drives Clip-Cov's random choice of tokens."""
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
    pg, rates = SURROGATES[cfg.surrogate](Surrogate(logp, old_logp, adv, m, ratio, generator), cfg)
    total = agg_loss(pg, mask, cfg.agg, denom, weight, cfg.norm_length)
    metrics = {"loss/pg": float(total.detach()), **rates,
               "loss/ppo_kl": _masked_mean((-log_ratio).detach(), m)}
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


# -- per-token surrogates -------------------------------------------------------------------------------
@dataclass
class Surrogate:
    """What a surrogate sees: [B, R] log-probs (with gradient), old log-probs, per-token advantages, the
    float loss mask, the ratio (token or GSPO sequence level) and an RNG."""

    logp: Tensor
    old_logp: Tensor
    adv: Tensor
    mask: Tensor
    ratio: Tensor
    generator: torch.Generator | None = None


SurrogateFn = Callable[[Surrogate, LossConfig], tuple[Tensor, dict[str, float]]]
SURROGATES: dict[str, SurrogateFn] = {}
# per-token rates among a surrogate's metrics: averaged by token share over micro-batches, not summed
RATE_METRICS = {"loss/clip_frac", "loss/lower_clip_frac", "loss/ppo_kl", "loss/cov_frac"}


def register_surrogate(name: str):
    """Decorator: ``fn(s: Surrogate, cfg) -> (per-token loss [B, R], rate metrics)`` as ``loss.surrogate``."""

    def wrap(fn: SurrogateFn) -> SurrogateFn:
        if name in SURROGATES:
            raise ValueError(f"surrogate {name!r} registered twice")
        SURROGATES[name] = fn
        return fn

    return wrap


@register_surrogate("ppo_clip")
def ppo_clip(s: Surrogate, cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """max(-A·r, -A·clip(r, 1-ε_low, 1+ε_high)), capped at -A·c for A < 0 (dual clip, token ratios)."""
    l1 = -s.adv * s.ratio
    l2 = -s.adv * torch.clamp(s.ratio, 1.0 - cfg.clip_low, 1.0 + cfg.clip_high)
    pg = torch.maximum(l1, l2)
    lower = torch.zeros_like(pg, dtype=torch.bool)
    if cfg.dual_clip is not None and cfg.ratio_level == "token":
        l3 = -s.adv * cfg.dual_clip
        lower = (s.adv < 0) & (pg > l3)
        pg = torch.where(s.adv < 0, torch.minimum(pg, l3), pg)
    return pg, {"loss/clip_frac": _masked_mean((l2 > l1).to(s.mask.dtype), s.mask),
                "loss/lower_clip_frac": _masked_mean(lower.to(s.mask.dtype), s.mask)}


def token_cov(s: Surrogate) -> Tensor:
    """Cui et al.'s per-token covariance term (A - mean A)·(log π - mean log π), means over the masked
    tokens of the micro-batch; detached (it only selects tokens)."""
    valid = s.mask > 0
    logp = s.logp.detach()
    a_mean = s.adv[valid].mean() if bool(valid.any()) else 0.0
    l_mean = logp[valid].mean() if bool(valid.any()) else 0.0
    return ((s.adv - a_mean) * (logp - l_mean)).detach()


def _n_selected(mask: Tensor, frac: float) -> int:
    return max(int(frac * float((mask > 0).sum())), 1)


@register_surrogate("clip_cov")
def clip_cov(s: Surrogate, cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """Clip-Cov (Cui et al. 2025): PPO-clip, then the gradient of a random ``cov_frac`` of the tokens with
    Cov in ``clip_cov_bounds`` that PPO has not clipped already is detached (their loss value is kept)."""
    pg, rates = ppo_clip(s, cfg)
    l1 = -s.adv * s.ratio
    clipped = pg.detach() != l1.detach()  # PPO (or the dual clip) already cut this token's gradient
    lb, ub = cfg.clip_cov_bounds
    cov = token_cov(s)
    eligible = ((s.mask > 0) & ~clipped & (cov > lb) & (cov < ub)).reshape(-1).nonzero().squeeze(-1)
    pick = torch.randperm(eligible.numel(), generator=s.generator)[:_n_selected(s.mask, cfg.cov_frac)]
    chosen = torch.zeros(pg.numel(), dtype=torch.bool, device=pg.device)
    chosen[eligible[pick.to(eligible.device)]] = True
    chosen = chosen.reshape(pg.shape)
    rates["loss/cov_frac"] = _masked_mean(chosen.to(s.mask.dtype), s.mask)
    return torch.where(chosen, pg.detach(), pg), rates


@register_surrogate("kl_cov")
def kl_cov(s: Surrogate, cfg: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """KL-Cov (Cui et al. 2025): the unclipped surrogate -A·r on every token (no ratio clipping, as in the
    authors' code), plus ``kl_cov_coef``·|log π - log π_old| on the top ``cov_frac`` of tokens by Cov."""
    pg = -s.adv * s.ratio
    valid = (s.mask > 0).reshape(-1).nonzero().squeeze(-1)
    cov = token_cov(s).reshape(-1)[valid]
    top = valid[torch.topk(cov, min(_n_selected(s.mask, cfg.cov_frac), cov.numel())).indices]
    chosen = torch.zeros(pg.numel(), dtype=torch.bool, device=pg.device)
    chosen[top] = True
    chosen = chosen.reshape(pg.shape)
    penalty = cfg.kl_cov_coef * (s.logp - s.old_logp).abs()
    rates = {"loss/clip_frac": 0.0, "loss/lower_clip_frac": 0.0,
             "loss/cov_frac": _masked_mean(chosen.to(s.mask.dtype), s.mask)}
    return torch.where(chosen, pg + penalty, pg), rates
