"""EMPG (Entropy-Modulated Policy Gradients, arXiv 2509.09265), AEM's closest published neighbour, as the
advantage transform ``empg`` (``baselines/transforms.py``): ``grpo+empg``, ``rloo+empg``, ...

Per step (agent turn) t with mean token entropy H_t (H̄ of docs/training.md, "AEM"):

    H̃_t = min-max of H over the batch                       (scope: batch)
    g(H_t) = exp(-k H̃_t) / mean_batch exp(-k H̃)             (self-calibrating gradient scaling)
    f(H_{t+1}) = exp(-k_f H̃_{t+1})                          (future clarity: the *next* turn's confidence)
    A_t <- g(H_t) A_t + ζ f(H_{t+1})                         (0 bonus on a trajectory's last turn)
    A <- A - mean_batch A                                    (center)

with k = k_f = 1 and ζ = 0.1 (the paper uses 0.05 or 0.1). g is computed by AEM's own ``aem_alpha`` with
λ = k, so the formula lives in one place. AEM is EMPG with every difference switched: group-level
normalisation (``empg.scope: group``), the 0.1 range guard (``empg.min_range: 0.1``), no future-step term
(``empg.zeta: 0``) and no centering (``empg.center: false``); with all four set, ``empg`` equals ``aem``
exactly (tested). Each difference is one ``--set`` away from either method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from aem_gym.agents.aem import aem_alpha, min_max_normalise
from aem_gym.agents.groups import dense_ids
from aem_gym.baselines.collective import Stat
from aem_gym.baselines.transforms import TransformInput, TransformOut, register_transform


@dataclass
class EMPGConfig:
    enabled: bool = False
    k: float = 1.0  # temperature of g (AEM's λ)
    k_f: float = 1.0  # temperature of the future-clarity term f
    zeta: float = 0.1  # ζ, weight of f(H_{t+1}); the paper uses 0.05 or 0.1; 0 = no future term (AEM)
    scope: Literal["batch", "group"] = "batch"  # where H is min-max normalised and g averaged (AEM: group)
    min_range: float = 0.0  # a scope whose H range is below this keeps g = 1, H̃ = 0 (AEM: 0.1)
    center: bool = True  # subtract the batch mean of the new advantages (AEM: false)

    def __post_init__(self) -> None:
        if self.scope not in ("batch", "group"):
            raise ValueError(f"empg.scope must be 'batch' or 'group', got {self.scope!r}")


@torch.no_grad()
def empg_advantages(advantages: Tensor, mean_entropy: Tensor, include: Tensor, group: Tensor, traj: Tensor,
                    turn: Tensor, cfg: EMPGConfig) -> tuple[Tensor, Tensor, dict[str, Stat]]:
    """EMPG's advantages (module docstring); returns (advantages, g, stats). ``advantages``: one per turn
    [B]; ``include`` marks rows with a response (the others get g = 1, no bonus, and enter no statistic)."""
    if advantages.dim() != 1:
        raise ValueError("EMPG modulates per-turn advantages; it cannot follow a per-token transform "
                         "(aem.level: token)")
    ids = torch.zeros_like(group) if cfg.scope == "batch" else group
    g = aem_alpha(mean_entropy, ids, cfg.k, cfg.min_range, include=include).double()
    htil, _ = min_max_normalise(mean_entropy, ids, cfg.min_range, include)
    f = torch.where(include, torch.exp(-cfg.k_f * htil), torch.zeros_like(htil))
    bonus = cfg.zeta * _next_turn(f, include, group, traj, turn)
    new = g * advantages.double() + bonus
    shift = float(new[include].mean()) if cfg.center and bool(include.any()) else 0.0
    new = new - shift
    n = float(include.sum())
    stats = {"empg/g_mean": Stat(float(g[include].mean()) if n else 1.0, n),
             "empg/g_min": Stat(float(g.min()) if g.numel() else 1.0, op="min"),
             "empg/g_max": Stat(float(g.max()) if g.numel() else 1.0, op="max"),
             "empg/bonus_mean": Stat(float(bonus[include].mean()) if n else 0.0, n),
             "empg/center_shift": Stat(shift, n)}
    return new.to(advantages.dtype), g.float(), stats


def _next_turn(values: Tensor, include: Tensor, group: Tensor, traj: Tensor, turn: Tensor) -> Tensor:
    """``values`` of the same trajectory's next turn (0 after the last turn or before an empty response).
    Keys on (group, trajectory, turn) ids, so row order does not matter."""
    if values.numel() == 0:
        return values
    gi, _ = dense_ids(group)
    t, n_traj = dense_ids(gi * (int(traj.max()) + 1) + traj)
    turn = turn.long()
    table = torch.zeros(n_traj, int(turn.max()) + 2, dtype=values.dtype, device=values.device)
    table[t, turn] = torch.where(include, values, torch.zeros_like(values))
    return table[t, turn + 1]


@register_transform("empg", section="empg", batch_level=lambda cfg: cfg.scope == "batch" or cfg.center)
def empg_transform(inp: TransformInput, cfg: EMPGConfig) -> TransformOut:
    """EMPG (arXiv 2509.09265): batch-normalised entropy scaling g, a future-clarity bonus, centering."""
    adv, g, stats = empg_advantages(inp.advantages, inp.mean_entropy, inp.nonempty, inp.group, inp.traj,
                                    inp.turn, cfg)
    return TransformOut(adv, g, stats)
