"""Data-parallel RL training under ``torchrun``: DDP, or FSDP2 for models that do not fit one GPU.

    torchrun --nproc_per_node 8 -m aem_gym.baselines.distributed --recipe gpu-qwen2.5-7b-household --algo grpo+aem

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
import math
import os
from collections import defaultdict
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.distributed as dist

from aem_gym.baselines.batch import TurnBatch
from aem_gym.baselines.forward import response_forward
from aem_gym.baselines.losses import Denominators, LossConfig, policy_loss
from aem_gym.baselines.trainer import Trainer
from aem_gym.baselines.update import UpdateConfig, row_weights

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
        raise ValueError(f"{n_groups} rollout groups cannot feed {world} ranks: every rank needs a whole group")
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
def _reduce(values: Sequence[float], op: str, ctx: DistContext) -> list[float]:
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=ctx.device if ctx.backend == "nccl" else "cpu")
    if ctx.active:
        dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
    return t.tolist()


def reduce_metrics(metrics: dict[str, float], ctx: DistContext, summed: Sequence[str] = ()) -> dict[str, float]:
    """Mean over ranks, except keys in ``summed`` (already shares of a global total)."""
    if not ctx.active:
        return dict(metrics)
    keys = sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))
    vals = _reduce([metrics[k] for k in keys], "sum", ctx)
    out = dict(metrics)
    out.update({k: v if k in summed else v / ctx.world_size for k, v in zip(keys, vals, strict=True)})
    return out


def broadcast_module(module: torch.nn.Module, ctx: DistContext, src: int = 0) -> None:
    """Make every rank's parameters and buffers rank ``src``'s."""
    if ctx.active:
        with torch.no_grad():
            for t in module.state_dict().values():
                dist.broadcast(t, src)


def wrap_model(model: torch.nn.Module, strategy: str, ctx: DistContext) -> torch.nn.Module:
    """DDP or FSDP2 (``fully_shard`` per decoder layer, then the root) around ``model`` (in place for FSDP)."""
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


def _grad_sync_context(model: torch.nn.Module, sync: bool):
    """DDP: skip the all-reduce on all but the last micro-batch; FSDP2: same via its own switch."""
    if hasattr(model, "no_sync"):
        return nullcontext() if sync else model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(sync)
    return nullcontext()


# -- the update ---------------------------------------------------------------------------------------
@dataclass
class _Plan:
    n_mini: int
    local_mini: int


def _plan(n_rows: int, cfg: UpdateConfig, ctx: DistContext) -> _Plan:
    local_mini = max(1, math.ceil(cfg.mini_batch_size / ctx.world_size))
    n_mini = int(_reduce([math.ceil(n_rows / local_mini)], "max", ctx)[0])
    return _Plan(n_mini, local_mini)


def distributed_update(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: TurnBatch,
                       loss_cfg: LossConfig, cfg: UpdateConfig, ctx: DistContext,
                       generator: torch.Generator | None = None) -> dict[str, float]:
    """``aem_gym.baselines.update.ppo_update`` across ranks (see the module docstring); ``model`` is the DDP/FSDP
    module. Each rank passes its own rows (whole groups); metrics come back reduced over ranks."""
    if batch.old_logp is None or batch.advantages is None:
        raise ValueError("distributed_update needs batch.old_logp and batch.advantages")
    need_entropy = loss_cfg.entropy_coef > 0
    weights = row_weights(batch, cfg.traj_weight) if len(batch) else None
    scale = float(ctx.world_size) if ctx.active else 1.0  # DDP/FSDP average the gradients; we want the sum
    params = [p for p in model.parameters() if p.requires_grad]
    sums: dict[str, float] = defaultdict(float)
    plan = _plan(len(batch), cfg, ctx)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(batch), generator=generator) if cfg.shuffle else torch.arange(len(batch))
        for i in range(plan.n_mini):
            mb_idx = order[i * plan.local_mini:(i + 1) * plan.local_mini]
            mb = batch.select(mb_idx)
            local = Denominators.of(mb.response_mask)
            tok, seq = _reduce([local.tokens, local.seqs], "sum", ctx)
            denom = Denominators(tokens=tok, seqs=seq)
            n_micro = int(_reduce([math.ceil(len(mb) / cfg.micro_batch_size)], "max", ctx)[0])
            optimizer.zero_grad(set_to_none=True)
            for j in range(n_micro):
                sl = slice(j * cfg.micro_batch_size, (j + 1) * cfg.micro_batch_size)
                real = len(mb.input_ids[sl]) > 0
                src, s2 = (mb, sl) if real else (batch, slice(0, 1))  # zero-weight stand-in keeps ranks in step
                with _grad_sync_context(model, sync=j == n_micro - 1):
                    fw = response_forward(model, src.input_ids[s2], src.attention_mask[s2], src.response_width,
                                          cfg.temperature, with_entropy=need_entropy,
                                          allowed=None if src.allowed is None else src.allowed[s2])
                    if not real:
                        (fw.logp.sum() * 0.0).backward()
                        continue
                    out = policy_loss(fw.logp, mb.old_logp[sl], mb.advantages[sl], mb.response_mask[sl], loss_cfg,
                                      ref_logp=None if mb.ref_logp is None else mb.ref_logp[sl], entropy=fw.entropy,
                                      denom=denom, weight=None if weights is None else weights[mb_idx][sl])
                    (out.loss * scale).backward()
                share = float(mb.response_mask[sl].sum()) / tok if tok else 0.0
                for k, v in out.metrics.items():  # loss/* are shares of the global loss: they add up
                    sums[k] += v if k.startswith("loss/") and k not in _RATE_KEYS else v * share * ctx.world_size
            gn = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip else float("inf"))
            gn = gn.full_tensor() if hasattr(gn, "full_tensor") else gn
            sums["grad_norm"] += float(gn)
            optimizer.step()
    n = max(plan.n_mini * cfg.epochs, 1)
    out_m = {k: v / n for k, v in sums.items()}
    out_m = reduce_metrics(out_m, ctx, summed=[k for k in out_m if k.startswith("loss/") and k not in _RATE_KEYS])
    out_m["grad_norm"] = sums["grad_norm"] / n  # identical on every rank after the sync
    out_m["opt_steps"] = float(n)
    return out_m


_RATE_KEYS = {"loss/clip_frac", "loss/lower_clip_frac", "loss/ppo_kl"}


def batch_to(batch: TurnBatch, device: torch.device) -> TurnBatch:
    return replace(batch, **{f.name: getattr(batch, f.name).to(device) for f in fields(batch)
                             if isinstance(getattr(batch, f.name), torch.Tensor)})


# -- the trainer --------------------------------------------------------------------------------------
class DistributedTrainer(Trainer):
    """``Trainer`` on one rank of a data-parallel job (``ctx`` from ``init_distributed``)."""

    def __init__(self, cfg, ctx: DistContext, progress: bool = True, log=None):
        self.ctx, self.dcfg = ctx, cfg.distributed
        if self.dcfg.strategy not in STRATEGIES:
            raise ValueError(f"distributed.strategy must be one of {STRATEGIES}, got {self.dcfg.strategy!r}")
        if self.dcfg.strategy == "fsdp" and cfg.sft.episodes > 0:
            raise ValueError("FSDP runs start from an instruct model: set sft.episodes=0 (SFT is single-replica)")
        self.my_groups = rank_groups(cfg.rollout.groups, ctx.rank, ctx.world_size)
        super().__init__(cfg, progress=progress and ctx.is_main, log=log if ctx.is_main else None)
        self.engine = self._make_engine()
        self.rollout_policy = None
        if self.dcfg.rollout == "vllm":
            from aem_gym.baselines.vllm_sync import VLLMWeightSync, make_vllm_policy

            self.rollout_policy = make_vllm_policy(self.cfg, self.model, self.tokenizer, self.out / "vllm-init", ctx)
            self.weight_sync = VLLMWeightSync(self.rollout_policy, self.model, after=self.weight_sync)
        elif self.dcfg.rollout != "hf":
            raise ValueError(f"distributed.rollout must be 'hf' or 'vllm', got {self.dcfg.rollout!r}")

    def _make_engine(self):
        if self.dcfg.env_workers == "ray":
            from aem_gym.agents.ray_pool import RayEnvPool, ray_engine

            self.ray_pool = RayEnvPool(num_workers=self.dcfg.ray_workers)
            return ray_engine(self.ray_pool, history_k=self.cfg.env.history, progress=False)
        if self.dcfg.env_workers != "local":
            raise ValueError(f"distributed.env_workers must be 'local' or 'ray', got {self.dcfg.env_workers!r}")
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

    def _make_optimizer(self) -> torch.optim.Optimizer:
        r = self.cfg.rl
        return torch.optim.AdamW(self.train_model.parameters(), lr=r.lr, weight_decay=r.weight_decay,
                                 betas=tuple(r.betas))

    def warm_start(self) -> None:
        super().warm_start()  # same demos and generator on every rank; rank 0's result is then imposed
        broadcast_module(self.model, self.ctx)
        if self.ref_model is not None:
            broadcast_module(self.ref_model, self.ctx)

    def train_step(self, step: int) -> dict[str, Any]:
        import time

        from aem_gym.baselines import collect
        from aem_gym.baselines.advantages import AdvantageInput, compute_advantages
        from aem_gym.baselines.aem import apply_aem, mean_response_entropy
        from aem_gym.baselines.batch import collate
        from aem_gym.baselines.forward import old_policy_pass

        cfg, dev = self.cfg, self.ctx.device
        t0 = time.perf_counter()
        rolled = collect.training_groups(self.model, self.tokenizer, cfg, step, groups=self.my_groups,
                                         policy=self.rollout_policy, engine=self.engine)
        t_roll = time.perf_counter()
        batch = batch_to(collate(rolled.records, self.pad_id, max_response=cfg.model.max_new_tokens + 1), dev)
        old = old_policy_pass(self.model, batch, cfg.update.micro_batch_size, cfg.rollout.temperature)
        batch.old_logp, batch.entropy = old.logp, old.entropy
        if self.ref_model is not None:
            batch.ref_logp = old_policy_pass(self.ref_model, batch, cfg.update.micro_batch_size,
                                             cfg.rollout.temperature, with_entropy=False).logp
        gap = None
        if self.rollout_policy is not None:
            from aem_gym.baselines.vllm_sync import logprob_gap

            gap = logprob_gap(rolled.records, batch.old_logp, batch.response_mask)
        inp = AdvantageInput(batch.group, batch.traj, batch.turn, batch.reward, batch.env_reward, batch.step_group)
        adv = compute_advantages(cfg.estimator_name, inp, cfg.estimator)  # whole groups: exact statistics
        hbar, nonempty = mean_response_entropy(batch.entropy, batch.response_mask)
        adv, alpha, aem_stats = apply_aem(adv, hbar, batch.group, cfg.aem, traj=batch.traj, include=nonempty,
                                          generator=self.gens["aem"])
        batch.advantages, batch.alpha = adv, alpha
        t_upd = time.perf_counter()
        up = distributed_update(self.train_model, self.optimizer, batch, self.loss_cfg, cfg.update, self.ctx,
                                self.gens["update"])
        self.weight_sync.push()
        t_end = time.perf_counter()
        m = batch.response_mask
        local = {"train/success": rolled.success, "train/return": rolled.mean_return, "train/turns": rolled.mean_turns,
                 "train/invalid_frac": float((~batch.valid).float().mean()), "train/groups_kept": rolled.groups_kept,
                 "rows": len(batch), "policy_entropy": float((batch.entropy * m).sum() / m.sum().clamp_min(1)),
                 "adv/mean_abs": float(adv.abs().mean()), **aem_stats.to_dict(),
                 "time/rollout_s": t_roll - t0, "time/update_s": t_end - t_upd, "time/step_s": t_end - t0,
                 **({"rollout/logprob_gap": gap} if gap is not None else {})}
        out = reduce_metrics(local, self.ctx, summed=["rows", "train/groups_kept"])
        return {"kind": "train", "step": step + 1, **out, **up, "world_size": self.ctx.world_size}

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
    """``torchrun --nproc_per_node N -m aem_gym.baselines.distributed --recipe R [--algo A] [--seed S] [--set k=v]``."""
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
