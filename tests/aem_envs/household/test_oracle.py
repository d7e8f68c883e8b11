"""The oracle solves every task; the noisy oracle is reproducible and still mostly solves."""

from __future__ import annotations

import collections

import numpy as np

from aem_envs.household.constants import TASK_TYPES
from aem_envs.household.env import HouseholdEnv
from aem_envs.household.generate import make_task
from aem_envs.household.oracle import NoisyOracle, plan_next
from aem_envs.household.world import Layout, World


def solve(task: dict) -> tuple[bool, int]:
    w = World(Layout(task))
    for n in range(50):
        cmd = plan_next(w)
        if cmd is None:
            return w.goal_reached(), n
        assert cmd in w.commands(), f"{task['instance_id']}: oracle proposed inadmissible {cmd!r}"
        w.execute(cmd)
    return w.goal_reached(), 50


def test_oracle_solves_1200_generated_tasks_of_all_types():
    solved, lengths = collections.Counter(), []
    for split, base in (("train", 0), ("valid_seen", 0), ("valid_unseen", 0)):
        for seed in range(base, base + 400):
            task = make_task(seed, split)
            ok, n = solve(task)
            assert ok, f"oracle failed on {split} seed {seed} ({task['task_type']})"
            solved[task["task_type"]] += 1
            lengths.append(n)
    assert set(solved) == set(TASK_TYPES) and min(solved.values()) >= 100, solved
    assert max(lengths) <= 15


def test_oracle_solves_every_stored_valid_task():
    env = HouseholdEnv()
    for split in ("valid_seen", "valid_unseen"):
        for iid in env.tasks.ids(split):
            ok, _ = solve(env.tasks.get(iid))
            assert ok, iid


_ENV = None


def run_noisy(seed: int, epsilon: float) -> tuple[list[str], bool]:
    global _ENV
    env = _ENV = _ENV or HouseholdEnv()
    oracle = NoisyOracle(epsilon, np.random.default_rng(seed))
    env.reset(seed=seed)
    actions = []
    for _ in range(50):
        a = oracle(env)
        actions.append(a)
        *_, term, _, info = env.step(a)
        assert info["is_action_valid"]
        if term:
            return actions, True
    return actions, False


def test_noisy_oracle_is_reproducible_diverse_and_recovers():
    a1, _ = run_noisy(3, 0.3)
    a2, _ = run_noisy(3, 0.3)
    assert a1 == a2
    wins = [run_noisy(s, 0.2)[1] for s in range(60)]
    assert sum(wins) >= 55  # it re-plans from any state, so random detours rarely cost the episode
    clean = tuple(run_noisy(7, 0.0)[0])
    assert {tuple(run_noisy(7, 0.5)[0]), tuple(run_noisy(8, 0.5)[0])} & {clean} == set()


def test_noisy_oracle_rejects_bad_epsilon():
    import pytest

    with pytest.raises(ValueError):
        NoisyOracle(1.5, np.random.default_rng(0))
