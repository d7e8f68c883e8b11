"""The optimisation half of a training step: K epochs over mini-batches, gradient accumulation over
micro-batches, gradient clipping, one AdamW step per mini-batch.

The batch arrives with ``old_logp``, ``ref_logp`` and the per-turn ``advantages`` (AEM already applied,
so α is a constant here and identical in every epoch and mini-batch). Mini-batches are taken in row order
(verl's ``shuffle: false``) unless ``shuffle`` is set, in which case the permutation comes from the given
generator so runs stay reproducible.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from aem_envs.registry import Registry
from aem_gym.baselines.batch import TurnBatch
from aem_gym.baselines.forward import response_forward
from aem_gym.baselines.losses import Denominators, LossConfig, policy_loss


@dataclass
class UpdateConfig:
    epochs: int = 1
    mini_batch_size: int = 256  # rows per optimiser step
    micro_batch_size: int = 32  # rows per forward/backward
    grad_clip: float = 1.0
    shuffle: bool = False
    temperature: float = 1.0  # the rollout's sampling temperature (logits are divided by it)
    traj_weight: str = "none"  # "inv_turns": weight each trajectory's rows by 1/T_i (docs/training.md)


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
               cfg: UpdateConfig, generator: torch.Generator | None = None) -> dict[str, float]:
    """Run the update; returns metrics averaged over mini-batches (plus ``grad_norm`` and ``opt_steps``)."""
    if batch.old_logp is None or batch.advantages is None:
        raise ValueError("ppo_update needs batch.old_logp and batch.advantages (run the old-policy pass first)")
    need_entropy = loss_cfg.entropy_coef > 0
    weights = row_weights(batch, cfg.traj_weight)
    sums: dict[str, float] = defaultdict(float)
    n_mb = 0
    params = [p for p in model.parameters() if p.requires_grad]
    for _ in range(cfg.epochs):
        order = torch.randperm(len(batch), generator=generator) if cfg.shuffle else torch.arange(len(batch))
        for s in range(0, len(batch), cfg.mini_batch_size):
            mb_idx = order[s:s + cfg.mini_batch_size]
            mb = batch.select(mb_idx)
            denom = Denominators.of(mb.response_mask)
            optimizer.zero_grad(set_to_none=True)
            for m in range(0, len(mb), cfg.micro_batch_size):
                sl = slice(m, m + cfg.micro_batch_size)
                fw = response_forward(model, mb.input_ids[sl], mb.attention_mask[sl], mb.response_width,
                                      cfg.temperature, with_entropy=need_entropy,
                                      allowed=None if mb.allowed is None else mb.allowed[sl])
                out = policy_loss(fw.logp, mb.old_logp[sl], mb.advantages[sl], mb.response_mask[sl], loss_cfg,
                                  ref_logp=None if mb.ref_logp is None else mb.ref_logp[sl], entropy=fw.entropy,
                                  denom=denom, weight=None if weights is None else weights[mb_idx][sl])
                out.loss.backward()
                for k, v in out.metrics.items():
                    # micro-batch losses are already scaled by mini-batch denominators: they add up
                    sums[k] += v if k.startswith("loss/") and k not in _RATE_KEYS else v * _share(mb, sl)
            gn = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip else _grad_norm(params)
            sums["grad_norm"] += float(gn)
            optimizer.step()
            n_mb += 1
    out_metrics = {k: v / max(n_mb, 1) for k, v in sums.items()}
    out_metrics["opt_steps"] = float(n_mb)
    return out_metrics


_RATE_KEYS = {"loss/clip_frac", "loss/lower_clip_frac", "loss/ppo_kl"}


def _share(mb: TurnBatch, sl: slice) -> float:
    """Token share of a micro-batch in its mini-batch (to average per-token rates)."""
    total = float(mb.response_mask.sum())
    return float(mb.response_mask[sl].sum()) / total if total else 0.0


def _grad_norm(params) -> torch.Tensor:
    norms = [p.grad.detach().norm() for p in params if p.grad is not None]
    return torch.stack(norms).norm() if norms else torch.tensor(0.0)
