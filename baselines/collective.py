"""The hooks that make the one training step data-parallel: ``Collective`` (one process, the default) and
its reductions of step metrics.

``Trainer.train_step`` and ``update.ppo_update`` are written once. Every place where a data-parallel rank
must agree with the others goes through a ``Collective``: summing loss denominators, agreeing on the
number of mini- and micro-batches, switching the gradient all-reduce off between micro-batches, and
reducing the step's metrics. Here each is the identity; ``distributed.DataParallel`` implements them with
``torch.distributed`` collectives. So a one-process run and a data-parallel run share every line of the
step, and their metrics mean the same: each metric declares how it combines over ranks (``Stat``), such
that W ranks on disjoint whole groups report what one process reports on the union batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch

Op = Literal["mean", "sum", "min", "max"]


@dataclass(frozen=True)
class Stat:
    """A step metric and how it combines over ranks: ``mean`` weighted by ``weight`` (e.g. rows or tokens
    the value was averaged over), ``sum``, ``min`` or ``max``."""

    value: float
    weight: float = 1.0
    op: Op = "mean"


def mean(value: float, weight: float) -> Stat:
    return Stat(float(value), float(weight), "mean")


class Collective:
    """One process: every reduction is the identity, gradients are never synchronised."""

    world_size: int = 1
    rank: int = 0

    def sum(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def max(self, values: Sequence[float]) -> list[float]:
        return [float(v) for v in values]

    def all_gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Every rank's ``t`` (shapes may differ), in rank order."""
        return [t]

    def grad_sync(self, model: torch.nn.Module, sync: bool) -> AbstractContextManager:
        """Context for one micro-batch's backward; ``sync``: the last micro-batch of its mini-batch."""
        return nullcontext()

    def reduce(self, stats: dict[str, Stat]) -> dict[str, float]:
        """Combine ``stats`` over ranks (see ``Stat``); keys must be the same on every rank."""
        keys = sorted(stats)
        by_op = {op: [k for k in keys if stats[k].op == op] for op in ("mean", "sum", "min", "max")}
        sums = self.sum([stats[k].value * stats[k].weight for k in by_op["mean"]]
                        + [stats[k].weight for k in by_op["mean"]] + [stats[k].value for k in by_op["sum"]])
        maxes = self.max([stats[k].value for k in by_op["max"]] + [-stats[k].value for k in by_op["min"]])
        n = len(by_op["mean"])
        out: dict[str, float] = {}
        for i, k in enumerate(by_op["mean"]):
            w = sums[n + i]
            out[k] = sums[i] / w if w else stats[k].value  # nothing to average anywhere: the local default
        out.update(zip(by_op["sum"], sums[2 * n:], strict=True))
        out.update(zip(by_op["max"], maxes[:len(by_op["max"])], strict=True))
        out.update((k, -v) for k, v in zip(by_op["min"], maxes[len(by_op["max"]):], strict=True))
        return {k: out[k] for k in stats}  # the caller's order


LOCAL = Collective()
