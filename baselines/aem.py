"""AEM (Adaptive Entropy Modulation) as a per-turn transform over any estimator's advantages.

For every turn (response span) the trainer already has H̄, the mean full-vocabulary token entropy over the
response tokens, from the old-policy pass it runs for the PPO ratio (no extra forward). Within each rollout
group (all turns of the G trajectories of one task; docs/training.md, section AEM):

    H̃ = (H̄ - min_G H̄) / (max_G H̄ - min_G H̄)
    α = exp(-λ H̃) / mean_G exp(-λ H̃)        (α = 1 for the whole group if max - min < min_range)
    A ← α · A  on every token of the turn      (α is a constant: no gradient flows through it)

Confident (low-entropy) turns get α > 1, surprising ones α < 1; the group mean of α is exactly 1 and the
sign of A is kept. Ablation switches (as in the paper): ``reverse`` (high entropy gets α > 1), ``shuffle``
(α permuted within its group), ``scope`` = group | trajectory | batch for the min-max and the mean, and
``level: token`` (one α per response token, a control). Registered as the advantage transform ``aem``
(``baselines/transforms.py``). Vectorised with scatter/index ops: O(rows), no Python loop over groups.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor

from aem_envs.registry import Registry
from aem_gym.agents.aem import aem_alpha, min_max_normalise
from aem_gym.agents.groups import dense_ids, group_sum, shuffle_within
from aem_gym.baselines.collective import Stat
from aem_gym.baselines.transforms import TransformInput, TransformOut, register_transform


@dataclass
class AEMConfig:
    enabled: bool = False
    lam: float = 1.0
    min_range: float = 0.1
    scope: Literal["group", "trajectory", "batch"] = "group"
    reverse: bool = False
    shuffle: bool = False
    level: Literal["response", "token"] = "response"  # token: one α per token (a control, not the paper's)


@dataclass
class AEMStats:
    """Logged per step (docs/training.md, section AEM)."""

    alpha_mean: float = 1.0
    alpha_min: float = 1.0
    alpha_max: float = 1.0
    guarded_frac: float = 0.0  # fraction of normalisation groups whose entropy range is below min_range
    n_scopes: int = 0  # normalisation groups and units (turns or tokens): the weights across ranks
    n_units: int = 0

    def to_dict(self) -> dict[str, float]:
        return {f"aem/{k}": v for k, v in asdict(self).items() if not k.startswith("n_")}

    def to_stats(self) -> dict[str, Stat]:
        """As step metrics (``collective.Stat``): means weighted by units and groups, min and max."""
        return {"aem/alpha_mean": Stat(self.alpha_mean, self.n_units),
                "aem/alpha_min": Stat(self.alpha_min, op="min"),
                "aem/alpha_max": Stat(self.alpha_max, op="max"),
                "aem/guarded_frac": Stat(self.guarded_frac, self.n_scopes)}


# scope -> fn(group ids, trajectory ids or None) -> the ids of the normalisation groups
SCOPES: Registry[Callable[[Tensor, Tensor | None], Tensor]] = Registry("AEM scope")
SCOPES.register("group", lambda group, traj: group)
SCOPES.register("batch", lambda group, traj: torch.zeros_like(group))


@SCOPES.register("trajectory")
def _trajectory_scope(group: Tensor, traj: Tensor | None) -> Tensor:
    if traj is None:
        raise ValueError("AEM scope 'trajectory' needs trajectory ids")
    g, _ = dense_ids(group)
    return g * (int(traj.max()) + 1) + traj  # trajectory ids may repeat across groups


def _scope_ids(cfg: AEMConfig, group: Tensor, traj: Tensor | None) -> Tensor:
    return SCOPES.get(cfg.scope)(group, traj)


@torch.no_grad()
def apply_aem(advantages: Tensor, mean_entropy: Tensor, group: Tensor, cfg: AEMConfig,
              traj: Tensor | None = None, include: Tensor | None = None,
              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, AEMStats]:
    """Scale per-row ``advantages`` by α (computed with ``cfg``); returns (advantages, α, stats).

    Run it after the base estimator and before any padding, duplication or reordering of rows; α stays
    fixed for all PPO epochs and mini-batches of the step.
    """
    if not cfg.enabled:
        ones = torch.ones_like(advantages, dtype=torch.float32)
        return advantages, ones, AEMStats()
    ids = _scope_ids(cfg, group, traj)
    alpha = _alpha(mean_entropy, ids, cfg, include, generator)
    stats = _stats(alpha, mean_entropy, ids, cfg, include)
    return _scaled(advantages, alpha), alpha, stats


@torch.no_grad()
def apply_token_aem(advantages: Tensor, entropy: Tensor, mask: Tensor, group: Tensor, cfg: AEMConfig,
                    traj: Tensor | None = None, generator: torch.Generator | None = None
                    ) -> tuple[Tensor, Tensor, AEMStats]:
    """Token-level AEM (a control, ``aem.level: token``): the same formula with every response token as a
    unit, α_k from the token's own entropy h_k, min-max and mean over all response tokens of the scope.
    Returns per-token advantages ``[B, R]`` (α = 1 on padding)."""
    m = mask > 0
    ids = _scope_ids(cfg, group, traj)[:, None].expand_as(entropy)[m]
    alpha = torch.ones_like(entropy, dtype=torch.float32)
    if not cfg.enabled or not bool(m.any()):
        return _scaled(advantages, alpha), alpha, AEMStats()
    alpha[m] = _alpha(entropy[m], ids, cfg, None, generator)
    return _scaled(advantages, alpha), alpha, _stats(alpha[m], entropy[m], ids, cfg, None)


def _alpha(h: Tensor, ids: Tensor, cfg: AEMConfig, include: Tensor | None, generator) -> Tensor:
    alpha = aem_alpha(h, ids, cfg.lam, cfg.min_range, include=include, reverse=cfg.reverse)
    if cfg.shuffle:
        inv, _ = dense_ids(ids)
        alpha = alpha[shuffle_within(inv, generator)]
    return alpha


def _scaled(advantages: Tensor, alpha: Tensor) -> Tensor:
    adv = advantages[:, None] if advantages.dim() == 1 and alpha.dim() == 2 else advantages
    return adv * alpha.to(advantages.dtype)


def _stats(alpha: Tensor, h: Tensor, ids: Tensor, cfg: AEMConfig, include: Tensor | None) -> AEMStats:
    if alpha.numel() == 0:
        return AEMStats()
    _, guarded = min_max_normalise(h, ids, cfg.min_range, include)
    inv, n = dense_ids(ids)
    modulated = group_sum((~guarded).double(), inv, n) > 0
    return AEMStats(float(alpha.mean()), float(alpha.min()), float(alpha.max()),
                    float((~modulated).double().mean()), n, alpha.numel())


@register_transform("aem", section="aem", batch_level=lambda cfg: cfg.scope == "batch")
def aem_transform(inp: TransformInput, cfg: AEMConfig) -> TransformOut:
    """AEM (docs/training.md, "AEM"): α = exp(-λH̃)/mean_G exp(-λH̃) per turn (or per token with
    ``level: token``)."""
    if cfg.level == "token":
        adv, alpha, st = apply_token_aem(inp.advantages, inp.entropy, inp.mask, inp.group, cfg, inp.traj,
                                         inp.generator)
    elif cfg.level == "response":
        adv, alpha, st = apply_aem(inp.advantages, inp.mean_entropy, inp.group, cfg, traj=inp.traj,
                                   include=inp.nonempty, generator=inp.generator)
    else:
        raise ValueError(f"aem.level must be 'response' or 'token', got {cfg.level!r}")
    return TransformOut(adv, alpha, st.to_stats())


def mean_response_entropy(entropies: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """H̄ per row over the loss mask: Σ m·H / max(Σ m, 1); also returns which rows have any token."""
    m = mask.to(entropies.dtype)
    n_tok = m.sum(-1)
    return (entropies * m).sum(-1) / n_tok.clamp_min(1), n_tok > 0
