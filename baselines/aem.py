"""AEM (Adaptive Entropy Modulation) as a per-turn transform over any estimator's advantages.

For every turn (response span) the trainer already has H̄, the mean full-vocabulary token entropy over the
response tokens, from the old-policy pass it runs for the PPO ratio (no extra forward). Within each rollout
group (all turns of the G trajectories of one task; see ../shared/docs/aem.md §3):

    H̃ = (H̄ - min_G H̄) / (max_G H̄ - min_G H̄)
    α = exp(-λ H̃) / mean_G exp(-λ H̃)        (α = 1 for the whole group if max - min < min_range)
    A ← α · A  on every token of the turn      (α is a constant: no gradient flows through it)

Confident (low-entropy) turns get α > 1, surprising ones α < 1; the group mean of α is exactly 1 and the
sign of A is kept. Ablation switches (aem.md §5.3): ``reverse`` (high entropy gets α > 1), ``shuffle``
(α permuted within its group), ``scope`` = group | trajectory | batch for the min-max and the mean.
Everything is vectorised with scatter/index ops: O(rows), no Python loop over groups.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor

from aem_gym.agents.aem import aem_alpha
from aem_gym.agents.groups import dense_ids, group_min_max, shuffle_within


@dataclass
class AEMConfig:
    enabled: bool = False
    lam: float = 1.0
    min_range: float = 0.1
    scope: Literal["group", "trajectory", "batch"] = "group"
    reverse: bool = False
    shuffle: bool = False


@dataclass
class AEMStats:
    """Logged per step (aem.md §3, rl-algorithms.md §5.6)."""

    alpha_mean: float = 1.0
    alpha_min: float = 1.0
    alpha_max: float = 1.0
    guarded_frac: float = 0.0  # fraction of normalisation groups whose entropy range is below min_range
    n_scopes: int = 0  # normalisation groups (the weight of guarded_frac across data-parallel ranks)

    def to_dict(self) -> dict[str, float]:
        return {f"aem/{k}": v for k, v in asdict(self).items() if k != "n_scopes"}


def _scope_ids(cfg: AEMConfig, group: Tensor, traj: Tensor | None) -> Tensor:
    if cfg.scope == "group":
        return group
    if cfg.scope == "trajectory":
        if traj is None:
            raise ValueError("AEM scope 'trajectory' needs trajectory ids")
        g, _ = dense_ids(group)
        return g * (int(traj.max()) + 1) + traj  # trajectory ids may repeat across groups
    if cfg.scope == "batch":
        return torch.zeros_like(group)
    raise ValueError(f"AEM scope must be group, trajectory or batch, got {cfg.scope!r}")


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
    alpha = aem_alpha(mean_entropy, ids, cfg.lam, cfg.min_range, include=include, reverse=cfg.reverse)
    if cfg.shuffle:
        inv, _ = dense_ids(ids)
        alpha = alpha[shuffle_within(inv, generator)]
    stats = _stats(alpha, mean_entropy, ids, cfg, include)
    return advantages * alpha.to(advantages.dtype), alpha, stats


def _stats(alpha: Tensor, mean_entropy: Tensor, ids: Tensor, cfg: AEMConfig, include: Tensor | None) -> AEMStats:
    if alpha.numel() == 0:
        return AEMStats()
    h = mean_entropy.double()
    ok = torch.isfinite(h) if include is None else (include.bool() & torch.isfinite(h))
    inv, n = dense_ids(ids)
    lo, hi = group_min_max(torch.where(ok, h, torch.zeros_like(h)), inv, n, include=ok)
    guarded = ~((hi - lo) >= cfg.min_range)
    return AEMStats(float(alpha.mean()), float(alpha.min()), float(alpha.max()), float(guarded.double().mean()),
                    n)


def mean_response_entropy(entropies: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """H̄ per row over the loss mask: Σ m·H / max(Σ m, 1); also returns which rows have any token."""
    m = mask.to(entropies.dtype)
    n_tok = m.sum(-1)
    return (entropies * m).sum(-1) / n_tok.clamp_min(1), n_tok > 0
