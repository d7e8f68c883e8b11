"""Training-time shaping: a fixed penalty for every invalid action (−0.1 in the AEM paper)."""

from __future__ import annotations

import gymnasium as gym


class InvalidActionPenalty(gym.Wrapper[str, str, str, str]):
    """Add ``penalty`` (negative) to the reward of a step whose ``info["is_action_valid"]`` is False.

    This belongs to a training config, not to the env: evaluation and the leaderboard use raw rewards.
    The unshaped reward stays in ``info["env_reward"]``.
    """

    def __init__(self, env: gym.Env, penalty: float = -0.1):
        super().__init__(env)
        self.penalty = penalty

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        shaped = reward + (self.penalty if not info.get("is_action_valid", True) else 0.0)
        return obs, shaped, terminated, truncated, {**info, "env_reward": reward}
