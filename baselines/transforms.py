"""Advantage transforms: registered functions that rescale or shift any estimator's advantages after the
estimator and before the policy loss (AEM, token-level AEM, EMPG; ``@register_transform``).

Contract of a transform: ``fn(inp: TransformInput, cfg) -> TransformOut`` under no-grad, where ``cfg`` is
the transform's own config section of ``TrainConfig`` (a dataclass with an ``enabled`` flag; the section
name is given at registration). It may return per-turn advantages ``[B]`` or per-token ``[B, R]`` (the loss
takes both), plus the multiplicative coefficient it applied (for logging; ones where it does not apply one)
and its step statistics (``collective.Stat``, so data-parallel ranks report what one process reports).
Transforms see whole rollout groups (the trainer never splits one), may key on group, trajectory and turn
ids only (rows come in any order) and carry no gradient. Enabled transforms run in registration order.

Which transforms a run uses follows from its algorithm string (``grpo+aem``, ``rloo+empg``, ...;
``config.ALGO_PARTS``): every transform composes with every estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from aem_gym.baselines.collective import Stat


@dataclass
class TransformInput:
    advantages: Tensor  # [B] per turn (an estimator's output) or [B, R] after a per-token transform
    entropy: Tensor  # [B, R] the old policy's full-vocabulary token entropies
    mask: Tensor  # [B, R] response tokens
    group: Tensor  # [B] rollout-group ids
    traj: Tensor  # [B] trajectory ids (unique across groups)
    turn: Tensor  # [B] turn index within the trajectory
    generator: torch.Generator | None = None  # for random ablations (AEM's shuffle), saved in checkpoints

    @cached_property
    def mean_entropy(self) -> Tensor:
        """H̄ per row: the mean token entropy over the response (0 for an empty response)."""
        m = self.mask.to(self.entropy.dtype)
        return (self.entropy * m).sum(-1) / m.sum(-1).clamp_min(1)

    @cached_property
    def nonempty(self) -> Tensor:
        """Rows with at least one response token (the others take no part in any group statistic)."""
        return self.mask.sum(-1) > 0


@dataclass
class TransformOut:
    advantages: Tensor
    coef: Tensor  # the multiplicative coefficient applied, [B] or [B, R] (AEM's α, EMPG's g)
    stats: dict[str, Stat] = field(default_factory=dict)


@dataclass(frozen=True)
class Transform:
    name: str
    section: str  # the TrainConfig field holding this transform's config
    fn: Callable[[TransformInput, Any], TransformOut]
    doc: str = ""
    # whether cfg makes it use statistics over more than one rollout group (which a data-parallel rank,
    # holding whole groups but not the whole batch, cannot compute alone)
    batch_level: Callable[[Any], bool] = lambda cfg: False


TRANSFORMS: dict[str, Transform] = {}


def register_transform(name: str, section: str, batch_level: Callable[[Any], bool] | None = None):
    """Decorator: register ``fn(inp, cfg) -> TransformOut``, configured by ``TrainConfig.<section>``;
    ``batch_level(cfg)`` says whether that configuration needs statistics across rollout groups."""

    def wrap(fn: Callable[[TransformInput, Any], TransformOut]):
        if name in TRANSFORMS:
            raise ValueError(f"advantage transform {name!r} registered twice")
        TRANSFORMS[name] = Transform(name, section, fn, (fn.__doc__ or "").strip(),
                                     batch_level or (lambda cfg: False))
        return fn

    return wrap


def active_transforms(cfg: Any) -> list[Transform]:
    """The registered transforms whose config section of ``cfg`` (a ``TrainConfig``) is enabled."""
    return [t for t in TRANSFORMS.values() if getattr(getattr(cfg, t.section), "enabled", False)]


@torch.no_grad()
def apply_transforms(inp: TransformInput, cfg: Any, world_size: int = 1) -> TransformOut:
    """Run every enabled transform in turn; the coefficients multiply, the statistics merge. A data-parallel
    rank (``world_size > 1``) holds whole groups only, so batch-level statistics are refused there."""
    coef = torch.ones_like(inp.advantages, dtype=torch.float32)
    stats: dict[str, Stat] = {}
    for t in active_transforms(cfg):
        if world_size > 1 and t.batch_level(getattr(cfg, t.section)):
            raise ValueError(f"advantage transform {t.name!r} is configured with batch-level statistics, "
                             f"which a data-parallel rank cannot compute from its own groups: use group "
                             f"scope (e.g. --set {t.section}.scope=group) or one process")
        out = t.fn(inp, getattr(cfg, t.section))
        inp = TransformInput(out.advantages, inp.entropy, inp.mask, inp.group, inp.traj, inp.turn,
                             inp.generator)
        coef = _broadcast(coef, out.coef) * _broadcast(out.coef, coef)
        stats.update(out.stats)
    return TransformOut(inp.advantages, coef, stats)


def _broadcast(a: Tensor, like: Tensor) -> Tensor:
    """``a`` as ``[B, R]`` when ``like`` is per token and ``a`` per turn."""
    return a[:, None].expand_as(like) if a.dim() == 1 and like.dim() == 2 else a
