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

from aem_gym.baselines.collective import LOCAL, Collective, Stat


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
    # whether cfg makes it use statistics over more than one rollout group (a data-parallel rank holds
    # whole groups but not the whole batch: apply_transforms then gathers the batch's per-turn inputs)
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
def apply_transforms(inp: TransformInput, cfg: Any, collective: Collective = LOCAL) -> TransformOut:
    """Run every enabled transform in turn; the coefficients multiply, the statistics merge.

    A data-parallel rank holds whole groups, which is all a group-level transform needs. When a transform is
    configured with statistics over the whole batch (EMPG's defaults, AEM's ``scope: batch``), the ranks
    gather the per-turn inputs (a few numbers per row), every rank computes the transforms on the global
    batch and keeps its own rows: the result is the one-process result, whatever the sharding."""
    active = active_transforms(cfg)
    if collective.world_size > 1 and any(t.batch_level(getattr(cfg, t.section)) for t in active):
        return _on_global_batch(inp, cfg, collective)
    coef = torch.ones_like(inp.advantages, dtype=torch.float32)
    stats: dict[str, Stat] = {}
    for t in active:
        out = t.fn(inp, getattr(cfg, t.section))
        inp = TransformInput(out.advantages, inp.entropy, inp.mask, inp.group, inp.traj, inp.turn,
                             inp.generator)
        coef = _broadcast(coef, out.coef) * _broadcast(out.coef, coef)
        stats.update(out.stats)
    return TransformOut(inp.advantages, coef, stats)


def _on_global_batch(inp: TransformInput, cfg: Any, collective: Collective) -> TransformOut:
    """Gather every rank's rows (ids made unique by rank), transform them together, keep this rank's."""
    gather = collective.all_gather
    sizes = [int(t[0]) for t in gather(torch.tensor([len(inp.advantages)]))]
    start = sum(sizes[:collective.rank])

    def ids(x: Tensor) -> Tensor:  # dense ids of different ranks must not collide
        parts = gather(x)
        offsets = torch.tensor([0, *[int(p.max()) + 1 if p.numel() else 0 for p in parts]]).cumsum(0)
        return torch.cat([p + offsets[r] for r, p in enumerate(parts)])

    width = inp.mask.shape[1]
    full = TransformInput(torch.cat(_padded(gather(inp.advantages))), torch.cat(_padded(gather(inp.entropy))),
                          torch.cat(_padded(gather(inp.mask))), ids(inp.group), ids(inp.traj),
                          torch.cat(gather(inp.turn)), inp.generator)
    out = apply_transforms(full, cfg)
    mine = slice(start, start + len(inp.advantages))

    def local(x: Tensor) -> Tensor:
        return x[mine, :width] if x.dim() == 2 else x[mine]

    return TransformOut(local(out.advantages), local(out.coef), out.stats)


def _padded(parts: list[Tensor]) -> list[Tensor]:
    """Per-token tensors of different widths, zero-padded to the widest (padding is outside every mask)."""
    if parts[0].dim() < 2:
        return parts
    w = max(p.shape[1] for p in parts)
    return [torch.nn.functional.pad(p, (0, w - p.shape[1])) for p in parts]


def _broadcast(a: Tensor, like: Tensor) -> Tensor:
    """``a`` as ``[B, R]`` when ``like`` is per token and ``a`` per turn."""
    return a[:, None].expand_as(like) if a.dim() == 1 and like.dim() == 2 else a
