"""Rollouts for the trainer, through ``aem_gym.agents.rollout.RolloutEngine`` with the live model as an
``HFPolicy``.

Training rollouts: ``rollout.groups`` tasks × ``rollout.group_size`` copies, the env wrapped in
reward scaling and ``InvalidActionPenalty`` (training-time shaping, −0.1 per invalid action as in the
paper). Reset and sampling seeds of step ``t`` come from ``(seed, t, try)`` only, so a step is a pure
function of the model and the config (exact resume).

Dynamic sampling (DAPO): groups whose trajectories all got the same outcome (zero advantage under
GRPO/RLOO) are dropped and new groups are drawn, up to ``rollout.max_gen_batches`` tries; the last try keeps
everything (verl-agent's cap, so a step never stalls). The kept groups are truncated to exactly
``rollout.groups`` (DAPO) so every step has the same cost. The filter looks at the unshaped outcome
(``won``), like verl-agent's filter on the reward before the penalty.

Evaluation: the one evaluator (``aem_gym.agents.evaluate``, the code ``aem eval`` runs) on one episode per
held-out task (the first ``n`` of the split's stratified order, ``aem_envs.subsets``, so every task type
is sampled; cycled with new seeds when more episodes than tasks are asked), at
``eval.temperature`` with the run's other settings (``eval_config``), raw rewards (no shaping).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from aem_gym.agents.types import TurnRecord
from aem_gym.baselines.config import TrainConfig
from aem_gym.baselines.curriculum import OracleStart, head_start


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) % (1 << 63) for p in parts]).generate_state(1)[0])


class ScaleReward(gym.Wrapper[str, str, str, str]):
    """Multiply the env reward (success 1 → 10, as in the paper's ALFWorld/WebShop setup)."""

    def __init__(self, env: gym.Env, scale: float):
        super().__init__(env)
        self.scale = scale

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward * self.scale, terminated, truncated, info


def _policy(model, tokenizer, cfg: TrainConfig):
    from aem_gym.agents.backends.hf import HFPolicy

    return HFPolicy(model, tokenizer, max_batch_size=256, seed=cfg.seed,
                    max_prompt_tokens=cfg.model.max_prompt_tokens)


def _engine(cfg: TrainConfig, progress: bool = False):
    from aem_gym.agents.rollout import RolloutEngine

    return RolloutEngine(workers=2, history_k=cfg.env.history, progress=progress)


def _sampling(cfg: TrainConfig, temperature: float):
    from aem_gym.agents.types import SamplingParams

    return SamplingParams(max_new_tokens=cfg.model.max_new_tokens, temperature=temperature,
                          top_p=cfg.rollout.top_p,
                          constrain=cfg.model.constrain)


@dataclass
class Collected:
    records: list[TurnRecord]
    success: float
    mean_return: float
    mean_turns: float
    groups_kept: int
    gen_batches: int
    episodes: int = 0  # trajectories sampled (all tries), the weight of success/return/turns
    head_start: int = 0  # the reverse curriculum's largest head start this step (oracle steps)


def training_groups(model, tokenizer, cfg: TrainConfig, step: int, groups: list[int] | None = None,
                    policy: Any = None, engine: Any = None) -> Collected:
    """``groups``: the global group indices to roll out (default all ``rollout.groups``; a data-parallel
    rank passes its share, so groups are never split and task seeds match the single-process run).
    ``policy``/``engine`` replace the live-model ``HFPolicy`` and the local thread pool (vLLM, Ray)."""
    from aem_envs.wrappers import InvalidActionPenalty

    r = cfg.rollout
    policy, engine = policy or _policy(model, tokenizer, cfg), engine or _engine(cfg)
    ids = list(range(r.groups)) if groups is None else list(groups)
    # uids and sampling streams differ by shard; all groups on one rank = the one-process run
    tag = "" if ids == list(range(r.groups)) else f"r{ids[0] if ids else 0}"
    wrappers = [functools.partial(ScaleReward, scale=cfg.env.reward_scale),
                functools.partial(InvalidActionPenalty, penalty=cfg.env.invalid_penalty)]
    k = head_start(r.oracle_start, r.oracle_start_anneal, step, cfg.rl.steps)
    if k > 0:  # reverse curriculum: start part-way along the oracle's plan (training only)
        wrappers.append(functools.partial(OracleStart, k_max=k))
    env_kwargs = {"split": cfg.env.train_split, **cfg.env.env_kwargs}
    dynamic = cfg.use_dynamic_sampling()
    tries = max(1, r.max_gen_batches) if dynamic else 1
    kept: list[list[Any]] = []  # trajectories of each kept group
    all_trajs: list[Any] = []
    used = 0
    for t in range(tries):
        used += 1
        tasks = [(None, _seed(cfg.seed, step, t, g) % (1 << 31)) for g in ids]
        res = engine.run(cfg.env.id, tasks, policy, group_size=r.group_size, max_turns=cfg.env.max_turns,
                         env_kwargs=env_kwargs, wrappers=wrappers, sampling=_sampling(cfg, r.temperature),
                         seed=(_seed(cfg.seed, step, t, 99) if not tag
                               else _seed(cfg.seed, step, t, 99, 1 + ids[0])),
                         run_id=f"s{step}t{t}{tag}")
        all_trajs += res.trajectories
        for trajs in res.groups().values():
            outcomes = {bool(x.won) for x in trajs}
            if not dynamic or t == tries - 1 or len(outcomes) > 1:
                kept.append(trajs)
        if len(kept) >= len(ids):
            break
    kept = kept[: len(ids)]
    trajs = [x for g in kept for x in g]
    records = [row for x in trajs for row in x.turns]
    # success/return of what was *sampled* this step (not only the kept groups): an unbiased train curve
    return Collected(records, float(np.mean([x.won for x in all_trajs])),
                     float(np.mean([x.episode_return for x in all_trajs])),
                     float(np.mean([x.length for x in all_trajs])), len(kept), used, len(all_trajs), k)


@dataclass
class EvalResult:
    success: float
    mean_return: float
    mean_turns: float
    per_type: dict[str, float] = field(default_factory=dict)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    split: str = ""  # the split evaluated (``env.eval_split: auto`` resolved)
    settings: dict[str, Any] = field(default_factory=dict)  # agents.evaluate.EvalConfig.settings()


def spread_tasks(ids: list[str], n: int) -> list[tuple[str, int]]:
    """``n`` episodes over a split's ids in stratified order (``aem eval``'s default subset, so every task
    type is sampled), reset seed 1000; cycled with seeds 1001, 1002, ... when ``n`` exceeds the split."""
    if not ids:
        raise ValueError("the evaluation split is empty")
    return [(ids[j % len(ids)], 1000 + j // len(ids)) for j in range(n)]


def eval_tasks(cfg: TrainConfig, split: str, n: int) -> list[tuple[str, int]]:
    """The trainer's evaluation episodes on ``split`` (``spread_tasks`` over its ids)."""
    from aem_gym.agents.evaluate import EvalConfig, plan_env

    return plan_env(cfg.env.id, EvalConfig(split=split), cfg.env.env_kwargs,
                    select=lambda ids: spread_tasks(ids, n)).tasks


def eval_config(cfg: TrainConfig, split: str, temperature: float, progress: bool = False):
    """The ``EvalConfig`` of this run's evaluations: the turn limit, prompt history, response length, prompt
    cut, top-p and constrained decoding it trains with, at the eval temperature, sampling seeds rooted at
    ``cfg.seed``, every episode open at once (one batch per turn, as training rollouts). ``aem eval`` with
    these settings (``make run`` reads them back from ``final/eval.json``) measures the same thing."""
    from aem_gym.agents.evaluate import EvalConfig

    return EvalConfig(split=split, max_turns=cfg.env.max_turns, history=cfg.env.history, history_tokens=None,
                      temperature=temperature, top_p=cfg.rollout.top_p,
                      max_new_tokens=cfg.model.max_new_tokens, constrain=cfg.model.constrain,
                      max_prompt_tokens=cfg.model.max_prompt_tokens, sampling_seed=cfg.seed,
                      max_concurrent=None,
                      progress=progress)


def evaluate(model, tokenizer, cfg: TrainConfig, split: str, n: int, temperature: float,
             progress: bool = False, policy: Any = None) -> EvalResult:
    """``n`` held-out episodes (``spread_tasks``) through the one evaluator (``aem_gym.agents.evaluate``), raw
    rewards; ``policy`` replaces the live-model ``HFPolicy``."""
    from aem_gym.agents.evaluate import plan_env, run_plan

    ecfg = eval_config(cfg, split, temperature, progress=False)
    plan = plan_env(cfg.env.id, ecfg, cfg.env.env_kwargs, select=lambda ids: spread_tasks(ids, n))
    res = run_plan(policy or _policy(model, tokenizer, cfg), plan, ecfg, cfg.env.env_kwargs)
    by_type: dict[str, list[bool]] = defaultdict(list)
    eps = []
    for (iid, seed), x in zip(plan.tasks, res.trajectories, strict=True):
        by_type[x.task_type or "all"].append(bool(x.won))
        eps.append({"instance_id": iid, "seed": seed, "task_type": x.task_type, "won": bool(x.won),
                    "return": float(x.episode_return), "turns": x.length,
                    "replies": [r.action_text for r in x.turns]})
    trajs = res.trajectories
    return EvalResult(float(np.mean([x.won for x in trajs])),
                      float(np.mean([x.episode_return for x in trajs])),
                      float(np.mean([x.length for x in trajs])),
                      {k: float(np.mean(v)) for k, v in sorted(by_type.items())}, eps, plan.split,
                      ecfg.settings())
