"""Truncate an episode after a number of turns."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class TurnLimit(gym.Wrapper[str, str, str, str]):
    """After ``max_turns`` steps the episode is truncated (``truncated=True``, ``info["turn_limit_reached"]``).

    Unlike gymnasium's ``TimeLimit`` it also reports the turn count in ``info["turns"]`` and refuses a
    step after the end instead of silently stepping on.
    """

    def __init__(self, env: gym.Env, max_turns: int):
        if max_turns < 1:
            raise ValueError(f"max_turns must be >= 1, got {max_turns}")
        super().__init__(env)
        self.max_turns = max_turns
        self._turns = 0
        self._ended = False

    def reset(self, **kwargs: Any):
        self._turns, self._ended = 0, False
        return self.env.reset(**kwargs)

    def step(self, action: str):
        if self._ended:
            raise gym.error.ResetNeeded("the episode has ended (turn limit or done); call reset()")
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._turns += 1
        info = {**info, "turns": self._turns}
        if self._turns >= self.max_turns and not terminated:
            truncated = True
            info["turn_limit_reached"] = True
        self._ended = terminated or truncated
        return obs, reward, terminated, truncated, info
