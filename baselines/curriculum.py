"""A reverse curriculum for training rollouts (``rollout.oracle_start``): episodes start part-way along the
env's oracle plan, and the head start shrinks to nothing as training proceeds.

Sparse outcome rewards give a weak policy almost no signal: in the CPU recipe the SFT model wins ~5% of
household episodes, so most rollout groups are all failures and GRPO's advantages vanish. Starting an
episode ``k`` oracle steps into the task (Florensa et al. 2017, "Reverse Curriculum Generation") puts the
agent in front of the last decisions first — take the goal object, carry it to the target, use the
appliance — where its own samples do win, and moves the start back as training goes on. Evaluation is
untouched: it always starts at the beginning (``collect.evaluate`` never adds this wrapper).

Per training step ``t`` of ``T``, ``k`` is uniform on ``0..K_t`` with ``K_t = round(K (1 - t / (a T)))``
(``K = rollout.oracle_start``, ``a = rollout.oracle_start_anneal``; 0 after ``a T`` steps), drawn from the
episode's reset seed, so the G copies of a group start from the same state. The oracle's steps happen
inside ``reset`` on the unwrapped env (no reward, no turn of the agent's budget), and never the winning
one: if the plan would end within ``k`` steps the head start is cut to leave its last step to the agent.
``reset`` returns the task's intro text (the prompt's task line) and the info of the warm state (its
admissible actions). Needs an env with ``oracle_action()`` (Household; ``TextEnv``'s hook).
"""

from __future__ import annotations

import random
from typing import Any

import gymnasium as gym


def head_start(k_max: int, anneal: float, step: int, steps: int) -> int:
    """``K_t``: the largest head start (oracle steps) at training step ``step`` of ``steps``."""
    if k_max <= 0 or anneal <= 0:
        return 0
    frac = step / max(1.0, anneal * steps)
    return max(0, round(k_max * (1.0 - frac)))


class OracleStart(gym.Wrapper[str, str, str, str]):
    """Start each episode ``k`` oracle steps in, ``k`` uniform on ``0..k_max`` given the reset seed."""

    def __init__(self, env: gym.Env, k_max: int):
        super().__init__(env)
        self.k_max = int(k_max)
        self.last_head_start = 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.last_head_start = 0
        if self.k_max <= 0:
            return obs, info
        if getattr(self.env.unwrapped, "oracle_action", None) is None:
            raise ValueError("rollout.oracle_start needs an env with an oracle (oracle_action()); "
                             "set it to 0")
        k = random.Random(f"oracle-start:{seed}").randint(0, self.k_max)
        taken, warm, ended = self._advance(k)
        if ended:  # the plan ends within k steps: start again, one step short of its end
            obs, info = self.env.reset(seed=seed, options=options)
            taken, warm, _ = self._advance(taken - 1)
        self.last_head_start = taken
        return obs, {**info, **warm}

    def _advance(self, k: int) -> tuple[int, dict[str, Any], bool]:
        """Up to ``k`` oracle steps on the unwrapped env: (steps taken, the last step's info, whether the
        episode ended on the last of them)."""
        base, warm = self.env.unwrapped, {}
        for i in range(k):
            action = base.oracle_action()
            if action is None:
                return i, warm, False
            _, _, terminated, truncated, warm = base.step(action)
            if terminated or truncated or warm.get("won"):
                return i + 1, warm, True
        return k, warm, False
