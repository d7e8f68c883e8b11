"""The optimisation half of a training step: K epochs over mini-batches, gradient accumulation over
micro-batches, gradient clipping, one AdamW step per mini-batch; one process or data parallel (the
``collective`` hooks, ``baselines/collective.py``).

The batch arrives with ``old_logp``, ``ref_logp`` and the per-turn ``advantages`` (AEM already applied,
so α is a constant here and identical in every epoch and mini-batch). Mini-batches are taken in row order
(verl's ``shuffle: false``) unless ``shuffle`` is set, in which case the permutation comes from the given
generator so runs stay reproducible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from aem_envs.registry import Registry
from aem_gym.baselines.batch import TurnBatch
from aem_gym.baselines.collective import LOCAL, Collective
from aem_gym.baselines.forward import response_forward
from aem_gym.baselines.losses import RATE_METRICS, Denominators, LossConfig, policy_loss


@dataclass
class UpdateConfig:
    epochs: int = 1
    mini_batch_size: int = 256  # rows per optimiser step
    micro_batch_size: int = 32  # rows per forward/backward
    grad_clip: float = 1.0
    shuffle: bool = False
    temperature: float = 1.0  # the rollout's sampling temperature (logits are divided by it)
    traj_weight: str = "none"  # "inv_turns": weight each trajectory's rows by 1/T_i (docs/training.md)
    # rows whose advantages are all zero add nothing to the PPO-clip loss or its gradient when no KL or
    # entropy term is on: leave them out of the forward/backward (denominators still count them)
    skip_zero_advantage: bool = True


# traj_weight -> fn(batch) -> per-row loss weights (None: every row weighs 1)
TRAJ_WEIGHTS: Registry[Callable[[TurnBatch], torch.Tensor | None]] = Registry("traj_weight")
TRAJ_WEIGHTS.register("none", lambda batch: None)


@TRAJ_WEIGHTS.register("inv_turns")
def _inv_turns(batch: TurnBatch) -> torch.Tensor:
    n = int(batch.traj.max()) + 1
    turns = torch.zeros(n).index_add_(0, batch.traj, torch.ones(len(batch)))
    return 1.0 / turns[batch.traj]


def row_weights(batch: TurnBatch, mode: str) -> torch.Tensor | None:
    return TRAJ_WEIGHTS.get(mode)(batch)


def ppo_update(model, optimizer: torch.optim.Optimizer, batch: TurnBatch, loss_cfg: LossConfig,
               cfg: UpdateConfig, generator: torch.Generator | None = None,
               collective: Collective = LOCAL) -> dict[str, float]:
    """Run the update; returns metrics averaged over mini-batches (plus ``grad_norm`` and ``opt_steps``).

    Data parallel (``collective`` from ``distributed.DataParallel``; ``model`` the DDP/FSDP module): each
    rank passes its own rows (whole groups) and takes ``ceil(mini_batch_size / W)`` of them per mini-batch;
    loss denominators are summed over ranks, so every micro-batch loss is its share of the *global* loss
    and the all-reduced gradient equals the one-process gradient over the union batch (DDP/FSDP average
    gradients, hence the factor W). The numbers of mini- and micro-batches are agreed over ranks, and a
    rank that has run out of rows runs zero-weight stand-ins: every rank makes the same collective calls.
    Metrics: ``loss/*`` values are shares of the global loss (summed over ranks); rates
    (``losses.RATE_METRICS``) are weighted by the micro-batch's share of the mini-batch's tokens, so they
    sum to the token mean.
    ``generator`` orders mini-batches (``shuffle``) and drives random token choices in the loss (Clip-Cov).
    With ``skip_zero_advantage`` (and a loss in which such rows are inert: PPO-clip, no KL or entropy
    term) rows without a learning signal — GRPO groups whose trajectories all failed — are not run at all;
    the gradient is the same (up to float summation order), the step costs a fraction at low success.
    """
    if batch.old_logp is None or batch.advantages is None:
        raise ValueError("ppo_update needs batch.old_logp and batch.advantages "
                         "(run the old-policy pass first)")
    world = collective.world_size
    need_entropy = loss_cfg.entropy_coef > 0
    weights = row_weights(batch, cfg.traj_weight) if len(batch) else None
    params = [p for p in model.parameters() if p.requires_grad]
    skip = cfg.skip_zero_advantage and _zero_rows_inert(loss_cfg, batch)
    rows_per_mini = max(1, math.ceil(cfg.mini_batch_size / world))
    n_mini = int(collective.max([math.ceil(len(batch) / rows_per_mini)])[0])
    sums: dict[str, float] = defaultdict(float)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(batch), generator=generator) if cfg.shuffle else torch.arange(len(batch))
        for i in range(n_mini):
            mb_idx = order[i * rows_per_mini:(i + 1) * rows_per_mini]
            mb = batch.select(mb_idx)
            local = Denominators.of(mb.response_mask)
            tokens, seqs = collective.sum([local.tokens, local.seqs])
            denom = Denominators(tokens=tokens, seqs=seqs)
            if skip:
                keep = batch.advantages[mb_idx].reshape(len(mb_idx), -1).ne(0).any(-1)
                mb_idx, mb = mb_idx[keep], mb.select(keep)
            n_micro = int(collective.max([math.ceil(len(mb) / cfg.micro_batch_size)])[0])
            optimizer.zero_grad(set_to_none=True)
            for j in range(n_micro):
                sl = slice(j * cfg.micro_batch_size, (j + 1) * cfg.micro_batch_size)
                with collective.grad_sync(model, sync=j == n_micro - 1):
                    if len(mb.input_ids[sl]) == 0:  # this rank ran out of rows: a zero-weight stand-in
                        for k in _stand_in(model, batch, denom, loss_cfg, cfg, need_entropy):
                            sums[k] += 0.0  # every rank reduces the same metric keys below
                        continue
                    out = _micro_loss(model, mb, sl, denom, loss_cfg, cfg, need_entropy,
                                      None if weights is None else weights[mb_idx][sl], generator)
                    (out.loss * world if world > 1 else out.loss).backward()
                share = float(mb.response_mask[sl].sum()) / tokens if tokens else 0.0
                for k, v in out.metrics.items():  # loss/* values are already shares of the mini-batch loss
                    sums[k] += v if k.startswith("loss/") and k not in RATE_METRICS else v * share
            if n_micro == 0:  # no row with a signal on any rank: the zero gradient the full pass would give
                for p in params:
                    p.grad = torch.zeros_like(p)
            gn = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip if cfg.grad_clip else float("inf"))
            gn = gn.full_tensor() if hasattr(gn, "full_tensor") else gn  # FSDP: a DTensor
            sums["grad_norm"] += float(gn)
            optimizer.step()
    n = max(n_mini * cfg.epochs, 1)
    grad_norm = sums.pop("grad_norm", 0.0) / n  # identical on every rank after the gradient all-reduce
    keys = sorted(sums)
    out_metrics = dict(zip(keys, collective.sum([sums[k] / n for k in keys]), strict=True))
    out_metrics["grad_norm"] = grad_norm
    out_metrics["opt_steps"] = float(n)
    return out_metrics


def _zero_rows_inert(loss_cfg: LossConfig, batch: TurnBatch) -> bool:
    """Whether a row with zero advantages contributes exactly nothing to the loss (see ``ppo_update``)."""
    return (loss_cfg.surrogate == "ppo_clip" and not loss_cfg.entropy_coef
            and not (loss_cfg.kl_coef and batch.ref_logp is not None))


def _micro_loss(model, mb: TurnBatch, sl: slice, denom: Denominators, loss_cfg: LossConfig, cfg: UpdateConfig,
                need_entropy: bool, weight: torch.Tensor | None, generator: torch.Generator | None):
    fw = response_forward(model, mb.input_ids[sl], mb.attention_mask[sl], mb.response_width, cfg.temperature,
                          with_entropy=need_entropy, allowed=None if mb.allowed is None else mb.allowed[sl])
    return policy_loss(fw.logp, mb.old_logp[sl], mb.advantages[sl], mb.response_mask[sl], loss_cfg,
                       ref_logp=None if mb.ref_logp is None else mb.ref_logp[sl], entropy=fw.entropy,
                       denom=denom, weight=weight, generator=generator)


def _stand_in(model, batch: TurnBatch, denom: Denominators, loss_cfg: LossConfig, cfg: UpdateConfig,
              need_entropy: bool) -> list[str]:
    """Forward and backward of one row's loss with zero weight: the collectives inside DDP/FSDP still run.
    Returns the loss's metric keys: a rank whose rows were all skipped (``skip_zero_advantage``) must still
    reduce the same metrics as the others, or the ranks' next all-reduces pair up wrongly and hang."""
    gen = torch.Generator(device=batch.input_ids.device).manual_seed(0)  # leaves the global RNG alone
    out = _micro_loss(model, batch, slice(0, 1), denom, loss_cfg, cfg, need_entropy, None, gen)
    (out.loss * 0.0).backward()
    return list(out.metrics)
