"""Vectorised per-group statistics over per-turn rows (no Python loop over groups).

Every group operation keys on ids, never on row positions, so reordering rows cannot change a result
(docs/training.md, implementation notes). Ids may be any integers; ``dense_ids`` maps them to 0..G-1 first.
"""

from __future__ import annotations

import torch
from torch import Tensor


def dense_ids(ids: Tensor) -> tuple[Tensor, int]:
    """Map arbitrary integer ids to ``0..G-1`` (in sorted order of the ids); returns (inverse, G)."""
    if ids.numel() == 0:
        return ids.long(), 0
    uniq, inv = torch.unique(ids, return_inverse=True)
    return inv, int(uniq.numel())


def group_count(inv: Tensor, n: int, weight: Tensor | None = None) -> Tensor:
    w = torch.ones_like(inv, dtype=torch.float64) if weight is None else weight.double()
    return torch.zeros(n, dtype=torch.float64, device=inv.device).index_add_(0, inv, w)


def group_sum(values: Tensor, inv: Tensor, n: int) -> Tensor:
    return torch.zeros(n, dtype=torch.float64, device=values.device).index_add_(0, inv, values.double())


def group_mean_std(values: Tensor, inv: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group mean, **unbiased** std (0 for a singleton) and count, computed in float64."""
    cnt = group_count(inv, n)
    mean = group_sum(values, inv, n) / cnt.clamp_min(1)
    dev = (values.double() - mean[inv]) ** 2
    var = group_sum(dev, inv, n) / (cnt - 1).clamp_min(1)
    return mean, var.sqrt(), cnt


def group_min_max(values: Tensor, inv: Tensor, n: int,
                  include: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-group min and max; rows with ``include == False`` are ignored (their group may end up
    +inf/-inf)."""
    v = values.double()
    lo_src, hi_src = v, v
    if include is not None:
        lo_src = torch.where(include, v, torch.full_like(v, float("inf")))
        hi_src = torch.where(include, v, torch.full_like(v, float("-inf")))
    lo = torch.full((n,), float("inf"), dtype=torch.float64, device=v.device)
    hi = torch.full((n,), float("-inf"), dtype=torch.float64, device=v.device)
    lo = lo.scatter_reduce(0, inv, lo_src, reduce="amin", include_self=True)
    hi = hi.scatter_reduce(0, inv, hi_src, reduce="amax", include_self=True)
    return lo, hi


def first_per_id(ids: Tensor, n: int) -> Tensor:
    """Index of the first row of each dense id (rows in their given order)."""
    pos = torch.arange(ids.numel(), device=ids.device)
    out = torch.full((n,), ids.numel(), dtype=torch.long, device=ids.device)
    return out.scatter_reduce(0, ids, pos, reduce="amin", include_self=True)


def shuffle_within(inv: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """A permutation ``p`` of the rows that only moves rows inside their own group: ``inv[p] == inv``."""
    n = inv.numel()
    if n == 0:
        return inv.clone()
    r = torch.randperm(n, generator=generator, device=inv.device)
    by_group = torch.argsort(inv, stable=True)  # rows of each group in index order
    shuffled = r[torch.argsort(inv[r], stable=True)]  # rows of each group in random order
    perm = torch.empty_like(by_group)
    perm[by_group] = shuffled
    return perm
