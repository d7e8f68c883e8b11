"""Every default subset (``aem eval --episodes N``, the leaderboard runner, ``make run``, the trainer's eval)
comes from ``aem_envs.subsets``: household's 6 (or 10) tasks cover all six task types."""

from __future__ import annotations

from collections import Counter

import aem_envs
from aem_envs.subsets import default_subset
from aem_gym.agents.evaluate import EvalConfig, plan_env
from aem_gym.baselines.collect import spread_tasks


def _types(ids):
    env = aem_envs.make("aem/Household-v0")
    try:
        return Counter(env.unwrapped.tasks.get(i)["task_type"] for i in ids)
    finally:
        env.close()


def test_eval_plan_uses_the_stratified_default_subset():
    for n in (6, 10):
        plan = plan_env("aem/Household-v0", EvalConfig(episodes=n, seeds=[0, 1]))
        assert plan.split == "valid_unseen" and len(plan.instances) == n
        assert len(_types(plan.instances)) == 6
        env = aem_envs.make("aem/Household-v0")
        assert plan.instances == default_subset(env, "valid_unseen", n)  # one function decides
        env.close()
        assert plan.tasks == [(i, s) for s in (0, 1) for i in plan.instances]


def test_trainer_eval_cycles_the_same_order():
    env = aem_envs.make("aem/Household-v0")
    order = default_subset(env, "valid_unseen", None)
    env.close()
    picks = spread_tasks(order, 8)
    assert [i for i, _ in picks] == order[:8] and {s for _, s in picks} == {1000}
    assert len(_types([i for i, _ in picks])) == 6
    more = spread_tasks(order[:3], 7)
    assert more == [(order[j % 3], 1000 + j // 3) for j in range(7)]
