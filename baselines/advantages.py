"""Advantage estimators over per-turn rows, in a registry (``@register_estimator``).

Contract of an estimator: ``fn(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor[N]`` (float32), one
scalar per row (per agent turn), computed under no-grad; the trainer broadcasts it over the row's response
tokens. Rows may come in any order: everything keys on the ids in ``inp``.

Each registered algorithm also declares its loss-side defaults (clip range, ratio level, KL, aggregation)
and sampler-side defaults (dynamic sampling), so ``dapo`` and ``gspo`` reuse the GRPO advantage and differ
only there (docs/training.md, implementation notes).

Group statistics default to **one value per trajectory** (``stats_level="trajectory"``): with per-turn
rows, computing them over rows counts a k-turn trajectory k times (episode-length bias,
docs/training.md). ``stats_level="row"`` reproduces verl-agent for parity runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from aem_envs.registry import Registry
from aem_gym.agents.groups import dense_ids, first_per_id, group_mean_std


@dataclass
class AdvantageInput:
    """Per-row ids and rewards. ``reward`` is the row's training reward (with the invalid-action penalty);
    ``env_reward`` the unshaped env reward (defaults to ``reward``); ``step_group`` are GiGPO anchor-state
    cluster ids (rows of one group with an identical raw observation share one id)."""

    group: Tensor
    traj: Tensor
    turn: Tensor
    reward: Tensor
    env_reward: Tensor | None = None
    step_group: Tensor | None = None

    def __post_init__(self) -> None:
        n = self.group.numel()
        for name in ("traj", "turn", "reward"):
            if getattr(self, name).numel() != n:
                raise ValueError(f"AdvantageInput.{name} has {getattr(self, name).numel()} rows, "
                                 f"group has {n}")
        if self.env_reward is None:
            self.env_reward = self.reward


@dataclass
class EstimatorConfig:
    stats_level: Literal["trajectory", "row"] = "trajectory"
    norm_by_std: bool = True  # False = Dr.GRPO (no division by the group std)
    eps: float = 1e-6
    gamma: float = 0.95  # GiGPO step returns (discount over env steps)
    gigpo_mode: Literal["mean_norm", "mean_std_norm"] = "mean_std_norm"
    step_weight: float = 1.0  # GiGPO omega


@dataclass(frozen=True)
class EstimatorSpec:
    name: str
    fn: Callable[[AdvantageInput, EstimatorConfig], Tensor]
    loss: dict[str, Any] = field(default_factory=dict)  # overrides of baselines.losses.LossConfig
    sampler: dict[str, Any] = field(default_factory=dict)  # e.g. {"dynamic_sampling": True}
    doc: str = ""


ESTIMATORS: Registry[EstimatorSpec] = Registry("estimator",
                                               fix="Register one with @register_estimator('NAME')")


def register_estimator(name: str, *, loss: dict[str, Any] | None = None,
                       sampler: dict[str, Any] | None = None):
    """Decorator: register ``fn(inp, cfg) -> Tensor[N]`` under ``name`` with its loss/sampler defaults."""

    def wrap(fn: Callable[[AdvantageInput, EstimatorConfig], Tensor]):
        ESTIMATORS.register(name, EstimatorSpec(name, fn, dict(loss or {}), dict(sampler or {}),
                                                (fn.__doc__ or "").strip()))
        return fn

    return wrap


def get_estimator(name: str) -> EstimatorSpec:
    return ESTIMATORS.get(name)


@torch.no_grad()
def compute_advantages(name: str, inp: AdvantageInput, cfg: EstimatorConfig | None = None) -> Tensor:
    out = get_estimator(name).fn(inp, cfg or EstimatorConfig())
    return out.float()


# -- shared pieces ----------------------------------------------------------------------------------------
@dataclass
class _Scores:
    """Values the group statistics run over: one per trajectory (or per row), their dense group id, and
    for every row the index of its value."""

    values: Tensor
    group: Tensor
    n_groups: int
    row_to_value: Tensor


def _scores(inp: AdvantageInput, cfg: EstimatorConfig) -> _Scores:
    g, n_groups = dense_ids(inp.group)
    # a trajectory id is only unique inside its group in some producers: key on (group, traj)
    t, n_traj = dense_ids(g * (int(inp.traj.max()) + 1 if inp.traj.numel() else 1) + inp.traj)
    reward, env_reward = inp.reward.double(), inp.env_reward.double()
    traj_sum = torch.zeros(n_traj, dtype=torch.float64, device=reward.device).index_add_(0, t, reward)
    if cfg.stats_level == "trajectory":
        return _Scores(traj_sum, g[first_per_id(t, n_traj)], n_groups, t)
    if cfg.stats_level == "row":
        # verl-agent: row score = the episode's env reward - this row's own penalty (not discounted)
        env_sum = torch.zeros(n_traj, dtype=torch.float64, device=reward.device).index_add_(0, t, env_reward)
        row_score = env_sum[t] + (reward - env_reward)
        return _Scores(row_score, g, n_groups, torch.arange(g.numel(), device=g.device))
    raise ValueError(f"stats_level must be 'trajectory' or 'row', got {cfg.stats_level!r}")


def _normalised(values: Tensor, group: Tensor, n: int, std: bool, eps: float, singleton_zero: bool) -> Tensor:
    mean, sd, cnt = group_mean_std(values, group, n)
    single = cnt[group] < 2
    mu, sigma = mean[group], sd[group]
    if not singleton_zero:  # verl: a singleton group uses mean 0, std 1 (the raw value passes through)
        mu = torch.where(single, torch.zeros_like(mu), mu)
        sigma = torch.where(single, torch.ones_like(sigma), sigma)
    adv = values - mu
    if std:
        adv = adv / (sigma + eps)
    if singleton_zero:
        adv = torch.where(single, torch.zeros_like(adv), adv)
    return adv


def grpo_advantage(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    s = _scores(inp, cfg)
    adv = _normalised(s.values, s.group, s.n_groups, cfg.norm_by_std, cfg.eps, singleton_zero=False)
    return adv[s.row_to_value]


# -- the estimators ---------------------------------------------------------------------------------------
@register_estimator("grpo", loss={"clip_low": 0.2, "clip_high": 0.2, "ratio_level": "token"})
def grpo(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    """Group-normalised outcome: (R - mean_G R) / (std_G R + eps), the same for every turn."""
    return grpo_advantage(inp, cfg)


@register_estimator("dapo", loss={"clip_low": 0.2, "clip_high": 0.28, "ratio_level": "token"},
                    sampler={"dynamic_sampling": True})
def dapo(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    """GRPO's advantage; clip-higher (0.2/0.28) on the loss side and dynamic sampling on the sampler side."""
    return grpo_advantage(inp, cfg)


@register_estimator("gspo", loss={"clip_low": 3e-4, "clip_high": 4e-4, "ratio_level": "sequence",
                                  "agg": "seq-mean-token-mean"})
def gspo(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    """GRPO's advantage; sequence-level length-normalised ratio with a tight clip on the loss side."""
    return grpo_advantage(inp, cfg)


@register_estimator("rloo")
def rloo(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    """Leave-one-out baseline: R_i - mean_{j != i} R_j = G/(G-1) (R_i - mean); a singleton gets 0."""
    s = _scores(inp, cfg)
    mean, _, cnt = group_mean_std(s.values, s.group, s.n_groups)
    c = cnt[s.group]
    adv = torch.where(c > 1, c / (c - 1).clamp_min(1) * (s.values - mean[s.group]),
                      torch.zeros_like(s.values))
    return adv[s.row_to_value]


def step_returns(inp: AdvantageInput, gamma: float) -> Tensor:
    """Discounted return of every row within its trajectory, in turn order: R_t = r_t + gamma R_{t+1}
    over the env rewards; the row's own invalid penalty is then added undiscounted (verl-agent)."""
    g, _ = dense_ids(inp.group)
    t, n_traj = dense_ids(g * (int(inp.traj.max()) + 1 if inp.traj.numel() else 1) + inp.traj)
    turn = inp.turn.long()
    n_turns = int(turn.max()) + 1 if turn.numel() else 0
    r = torch.zeros(n_traj, n_turns + 1, dtype=torch.float64, device=turn.device)
    r[t, turn] = inp.env_reward.double()
    ret = torch.zeros_like(r)
    for k in range(n_turns - 1, -1, -1):  # loop over turn index, vectorised over trajectories
        ret[:, k] = r[:, k] + gamma * ret[:, k + 1]
    return ret[t, turn] + (inp.reward.double() - inp.env_reward.double())


@register_estimator("gigpo")
def gigpo(inp: AdvantageInput, cfg: EstimatorConfig) -> Tensor:
    """Episode advantage (GRPO-like, ``gigpo_mode``) + omega x step advantage over rows of the group that
    saw the identical anchor observation (their discounted returns, normalised in the step group)."""
    if inp.step_group is None:
        raise ValueError("gigpo needs AdvantageInput.step_group (anchor-observation cluster ids)")
    std = cfg.gigpo_mode == "mean_std_norm"
    s = _scores(inp, cfg)
    episode = _normalised(s.values, s.group, s.n_groups, std, cfg.eps, singleton_zero=False)[s.row_to_value]
    sg, n_sg = dense_ids(inp.step_group)
    step = _normalised(step_returns(inp, cfg.gamma), sg, n_sg, std, cfg.eps, singleton_zero=True)
    return episode + cfg.step_weight * step
