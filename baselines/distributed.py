"""Data-parallel RL training under ``torchrun``: DDP, or FSDP2 for models that do not fit one GPU.

    torchrun --nproc_per_node 8 -m aem_gym.baselines.distributed \
        --recipe gpu-qwen2.5-7b-household --algo grpo+aem

How a step is split (docs/training.md, implementation notes: group statistics must see whole groups):

* **Shard by group, never split one.** Rank r rolls out the global groups ``rank_groups(G, r, W)`` with
  the same task seeds as a single-process run, so every rank holds whole groups and the estimators' and
  AEM's group statistics (mean/std, min-max, mean α) are exactly those of the full batch. Rows collected
  elsewhere (one driver, Ray) are split with ``shard_by_group`` (balanced by rows, groups kept whole).
* **Exact gradients.** ``mini_batch_size`` is global (verl divides it by the data-parallel size). Every
  mini-batch's loss denominators (tokens, sequences) are summed over ranks, so each rank's micro-batch
  loss is its share of the *global* token-mean and the summed gradients equal the single-process gradient
  over the union batch. DDP and FSDP average gradients over ranks, so the loss is multiplied by W first.
* **No collective mismatch.** Ranks have different numbers of turns, so the numbers of mini- and
  micro-batches are agreed (all-reduce max) and a rank with fewer rows runs zero-weight micro-batches:
  every rank makes the same forward/backward calls (DDP and FSDP hang otherwise).
* **Weights for rollouts.** DDP: every rank samples with its own full replica. FSDP: parameters are
  sharded, so a full-weight rollout copy is refreshed after every update (``vllm_sync.ReplicaSync``);
  with ``distributed.rollout: vllm`` the weights go into a vLLM engine instead (``vllm_sync``). The
  old-policy pass (log-probs and AEM's entropies) runs on the full-weight copy, identical to the policy.
* Only rank 0 writes metrics, checkpoints and runs evaluation. FSDP checkpoints hold the full model
  weights but no optimizer moments (resume restarts them).
"""

from __future__ import annotations

import argparse
import copy
import os
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from aem_gym.baselines.batch import TurnBatch
from aem_gym.baselines.collective import Collective
from aem_gym.baselines.losses import LossConfig
from aem_gym.baselines.trainer import Trainer
from aem_gym.baselines.update import UpdateConfig, ppo_update

STRATEGIES = ("ddp", "fsdp")


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = "none"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()


def init_distributed(backend: str = "auto") -> DistContext:
    """Join the process group torchrun describes (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``...); a plain
    process gets a one-rank context. ``backend="auto"``: nccl with CUDA, else gloo."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world <= 1:
        return DistContext(device=device)
    backend = ("nccl" if cuda else "gloo") if backend == "auto" else backend
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistContext(rank, world, local, device, backend)


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# -- group-aware sharding -----------------------------------------------------------------------------
def rank_groups(n_groups: int, rank: int, world: int) -> list[int]:
    """Contiguous share of ``range(n_groups)`` for ``rank`` (sizes differ by at most one)."""
    if n_groups < world:
        raise ValueError(f"{n_groups} rollout groups cannot feed {world} ranks: "
                         "every rank needs a whole group")
    return list(range(rank * n_groups // world, (rank + 1) * n_groups // world))


def shard_by_group(group_keys: Sequence[Any], world: int) -> list[list[int]]:
    """Row indices per rank: whole groups only, greedily balanced by row count (largest group first,
    ties by first appearance: deterministic). Rows keep their order within a rank."""
    rows: dict[Any, list[int]] = defaultdict(list)
    for i, k in enumerate(group_keys):
        rows[k].append(i)
    if len(rows) < world:
        raise ValueError(f"{len(rows)} groups cannot feed {world} ranks without splitting a group")
    load, owner = [0] * world, {}
    for k in sorted(rows, key=lambda k: -len(rows[k])):  # stable: ties keep first-appearance order
        r = min(range(world), key=lambda j: (load[j], j))
        owner[k], load[r] = r, load[r] + len(rows[k])
    return [sorted(i for k, idx in rows.items() if owner[k] == r for i in idx) for r in range(world)]


# -- collectives --------------------------------------------------------------------------------------
class DataParallel(Collective):
    """``collective.Collective`` over the process group of ``ctx``: sums and maxima are all-reduces (in
    float64), and DDP/FSDP skip the gradient all-reduce on all but the last micro-batch."""

    def __init__(self, ctx: DistContext):
        self.ctx = ctx
        self.world_size, self.rank = (ctx.world_size, ctx.rank) if ctx.active else (1, 0)

    def _all_reduce(self, values: Sequence[float], op) -> list[float]:
        if not values:
            return []
        t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                         device=self.ctx.device if self.ctx.backend == "nccl" else "cpu")
        if self.ctx.active:
            dist.all_reduce(t, op=op)
        return t.tolist()

    def sum(self, values: Sequence[float]) -> list[float]:
        return self._all_reduce(values, dist.ReduceOp.SUM)

    def max(self, values: Sequence[float]) -> list[float]:
        return self._all_reduce(values, dist.ReduceOp.MAX)

    def all_gather(self, t: torch.Tensor) -> list[torch.Tensor]:
        """Tensors of up to 2 dimensions whose shapes differ by rank: shapes first, then padded data."""
        if not self.ctx.active:
            return [t]
        dev = self.ctx.device if self.ctx.backend == "nccl" else torch.device("cpu")
        shape = torch.tensor([*t.shape, *[1] * (2 - t.dim())], dtype=torch.long, device=dev)
        shapes = [torch.zeros_like(shape) for _ in range(self.world_size)]
        dist.all_gather(shapes, shape)
        big = torch.stack(shapes).amax(0).tolist()
        src = t.reshape(shape.tolist()).to(dev)
        src = src.to(torch.uint8) if src.dtype == torch.bool else src
        padded = torch.zeros(big, dtype=src.dtype, device=dev)
        padded[:src.shape[0], :src.shape[1]] = src
        out = [torch.zeros_like(padded) for _ in range(self.world_size)]
        dist.all_gather(out, padded)
        return [o[:s[0], :s[1]].reshape(s[:t.dim()].tolist() if t.dim() else []).to(t.device, t.dtype)
                for o, s in zip(out, shapes, strict=True)]

    def grad_sync(self, model: torch.nn.Module, sync: bool):
        if hasattr(model, "no_sync"):  # DDP
            return nullcontext() if sync else model.no_sync()
        if hasattr(model, "set_requires_gradient_sync"):  # FSDP2
            model.set_requires_gradient_sync(sync)
        return nullcontext()


def broadcast_module(module: torch.nn.Module, ctx: DistContext, src: int = 0) -> None:
    """Make every rank's parameters and buffers rank ``src``'s."""
    if ctx.active:
        with torch.no_grad():
            for t in module.state_dict().values():
                dist.broadcast(t, src)


def wrap_model(model: torch.nn.Module, strategy: str, ctx: DistContext) -> torch.nn.Module:
    """DDP or FSDP2 (``fully_shard`` per decoder layer, then the root) around ``model`` (in place for
    FSDP)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"distributed.strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not ctx.active:
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)
    from torch.distributed.fsdp import fully_shard

    layers = getattr(getattr(model, "model", None), "layers", None)
    for layer in layers or []:
        fully_shard(layer)
    fully_shard(model)
    return model


def distributed_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: TurnBatch,
                       loss_cfg: LossConfig, cfg: UpdateConfig, ctx: DistContext,
                       generator: torch.Generator | None = None) -> dict[str, float]:
    """``update.ppo_update`` across the ranks of ``ctx`` (``model``: the DDP/FSDP module; each rank passes
    its own rows, whole groups); metrics come back reduced over ranks."""
    return ppo_update(model, optimizer, batch, loss_cfg, cfg, generator, DataParallel(ctx))


# -- the trainer --------------------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """``Trainer`` on one rank of a data-parallel job (``ctx`` from ``init_distributed``)."""

    def __init__(self, cfg, ctx: DistContext, progress: bool = True, log=None):
        self.ctx, self.dcfg = ctx, cfg.distributed
        if self.dcfg.strategy not in STRATEGIES:
            raise ValueError(f"distributed.strategy must be one of {STRATEGIES}, got {self.dcfg.strategy!r}")
        if self.dcfg.strategy == "fsdp" and cfg.sft.episodes > 0:
            raise ValueError("FSDP runs start from an instruct model: "
                             "set sft.episodes=0 (SFT is single-replica)")
        super().__init__(cfg, progress=progress and ctx.is_main, log=log if ctx.is_main else None)
        self.engine = self._make_engine()
        if self.dcfg.rollout == "vllm":
            from aem_gym.baselines.vllm_sync import VLLMWeightSync, make_vllm_policy

            self.rollout_policy = make_vllm_policy(self.cfg, self.model, self.tokenizer,
                                                   self.out / "vllm-init", ctx)
            self.weight_sync = VLLMWeightSync(self.rollout_policy, self.model, after=self.weight_sync)
        elif self.dcfg.rollout != "hf":
            raise ValueError(f"distributed.rollout must be 'hf' or 'vllm', got {self.dcfg.rollout!r}")

    def _collective(self) -> Collective:
        return DataParallel(self.ctx)

    def _my_groups(self) -> list[int]:
        return rank_groups(self.cfg.rollout.groups, self.ctx.rank, self.ctx.world_size)

    def _make_engine(self):
        if self.dcfg.env_workers == "ray":
            from aem_gym.agents.ray_pool import RayEnvPool, ray_engine

            self.ray_pool = RayEnvPool(num_workers=self.dcfg.ray_workers)
            return ray_engine(self.ray_pool, history_k=self.cfg.env.history, progress=False)
        if self.dcfg.env_workers != "local":
            raise ValueError(f"distributed.env_workers must be 'local' or 'ray', got "
                             f"{self.dcfg.env_workers!r}")
        return None  # collect's default thread pool

    def _init_model(self):
        from aem_gym.baselines.vllm_sync import NoSync, ReplicaSync

        ctx = self.ctx
        if not ctx.is_main and ctx.active:
            dist.barrier()  # rank 0 builds a tiny init model first: no two ranks write one directory
        model, tok = super()._init_model()
        if ctx.is_main and ctx.active:
            dist.barrier()
        model.to(ctx.device)
        broadcast_module(model, ctx)
        if self.dcfg.strategy == "fsdp" and ctx.active:
            full = copy.deepcopy(model)  # full-weight copy for rollouts and the old-policy pass
            self.train_model = wrap_model(model, "fsdp", ctx)
            self.weight_sync = ReplicaSync(self.train_model, full)
            return full, tok
        self.train_model = wrap_model(model, self.dcfg.strategy, ctx)
        self.weight_sync = NoSync()
        return model, tok

    def warm_start(self) -> None:
        super().warm_start()  # same demos and generator on every rank; rank 0's result is then imposed
        broadcast_module(self.model, self.ctx)
        if self.ref_model is not None:
            broadcast_module(self.ref_model, self.ctx)

    def evaluate(self, step: int, final: bool = False) -> dict[str, Any]:
        if self.ctx.is_main:
            return super().evaluate(step, final)
        return {"kind": "final" if final else "eval", "step": step, "eval/success": float("nan")}

    def _record(self, m: dict[str, Any]) -> None:
        if self.ctx.is_main:
            super()._record(m)

    def save(self, path):
        from aem_gym.baselines.checkpoint import save_checkpoint

        if self.ctx.active:
            dist.barrier()
        if not self.ctx.is_main:
            return path
        opt = None if self.dcfg.strategy == "fsdp" and self.ctx.active else self.optimizer  # sharded moments
        return save_checkpoint(path, self.model, self.tokenizer, opt, self.state, self.gens,
                               extra={"config": self.cfg.to_dict(), "world_size": self.ctx.world_size})

    def close(self) -> None:
        pool = getattr(self, "ray_pool", None)
        if pool is not None:
            pool.shutdown()


def main(argv: list[str] | None = None) -> int:
    """``torchrun --nproc_per_node N -m aem_gym.baselines.distributed --recipe R [--algo A] [--seed S]
    [--set k=v]``."""
    from aem_gym.baselines.config import load_config

    p = argparse.ArgumentParser(prog="python -m aem_gym.baselines.distributed", description=main.__doc__)
    p.add_argument("--recipe", required=True)
    p.add_argument("--algo")
    p.add_argument("--seed", type=int)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    over = {k: v for k, v in (("algo", args.algo), ("seed", args.seed)) if v is not None}
    cfg = load_config(args.recipe, overrides=over, sets=args.set)
    ctx = init_distributed(cfg.distributed.backend)
    trainer = DistributedTrainer(cfg, ctx, log=print)
    try:
        final = trainer.fit()
        if ctx.is_main:
            print(f"final eval success {final['eval/success']:.3f} -> {trainer.out / 'final'}")
    finally:
        trainer.close()
        shutdown_distributed()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
