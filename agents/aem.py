"""AEM's coefficient α per turn: the formula, in one place for the trainer and the evaluator.

``aem_gym.baselines.aem`` applies it to advantages (with its ablations and logging); the leaderboard's
trajectory viewer shows the α a turn would get. It lives below both so that evaluation does not depend on
the trainer. For every turn, H̄ is the mean full-vocabulary token entropy over the response tokens; within
each group (all turns of the G trajectories of one task):

    H̃ = (H̄ - min_G H̄) / (max_G H̄ - min_G H̄)
    α = exp(-λ H̃) / mean_G exp(-λ H̃)        (α = 1 for the whole group if max - min < min_range)

The full specification, with the ablations, is in docs/training.md (section AEM).
"""

from __future__ import annotations

import torch
from torch import Tensor

from aem_gym.agents.groups import dense_ids, group_count, group_min_max, group_sum


@torch.no_grad()
def min_max_normalise(values: Tensor, group: Tensor, min_range: float = 0.0,
                      include: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(H̃, guarded)`` per row: H̃ = (v - min_G v) / (max_G v - min_G v) over the included rows of each
    group, in float64. Rows of a group whose range is below ``min_range`` or zero (or that has no included
    row), and excluded rows, get H̃ = 0 and ``guarded = True``. Shared by AEM and EMPG
    (docs/aem-neighbours.md)."""
    h = values.detach().double()
    ok = torch.isfinite(h) if include is None else (include.bool() & torch.isfinite(h))
    h = torch.where(ok, h, torch.zeros_like(h))
    inv, n = dense_ids(group)
    lo, hi = group_min_max(h, inv, n, include=ok)
    rng = hi - lo  # -inf/nan for groups with no included row
    flat = ~(rng >= min_range) | ~(rng > 0)
    htil = (h - lo[inv]) / torch.where(flat, torch.ones_like(rng), rng)[inv]
    guarded = flat[inv] | ~ok
    return torch.where(guarded, torch.zeros_like(htil), htil), guarded


@torch.no_grad()
def aem_alpha(mean_entropy: Tensor, group: Tensor, lam: float = 1.0, min_range: float = 0.1,
              include: Tensor | None = None, reverse: bool = False) -> Tensor:
    """AEM coefficient per row. ``mean_entropy``: Tensor[N] (H̄ per turn); ``group``: Tensor[N] int ids.

    ``include`` (bool Tensor[N], optional) marks rows that take part; excluded rows (empty responses,
    filtered rows, non-finite entropy) get α = 1 and do not stretch their group's range or enter its mean.
    ``reverse`` flips the direction (ablation). Returns a detached float32 Tensor[N].
    """
    if mean_entropy.shape != group.shape or mean_entropy.dim() != 1:
        raise ValueError(f"mean_entropy and group must be 1-D of equal length, got "
                         f"{tuple(mean_entropy.shape)} "
                         f"and {tuple(group.shape)}")
    if mean_entropy.numel() == 0:
        return torch.ones(0, device=mean_entropy.device)
    htil, guarded = min_max_normalise(mean_entropy, group, min_range, include)
    w = torch.where(guarded, torch.zeros_like(htil), torch.exp((lam if reverse else -lam) * htil))
    inv, n = dense_ids(group)
    mean_w = group_sum(w, inv, n) / group_count(inv, n, (~guarded).double()).clamp_min(1)
    alpha = w / torch.where(mean_w > 0, mean_w, torch.ones_like(mean_w))[inv]
    return torch.where(guarded, torch.ones_like(alpha), alpha).float()
