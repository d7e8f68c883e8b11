"""Truncate an episode after a number of turns."""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class TurnLimit(gym.Wrapper[str, str, str, str]):
    """After ``max_turns`` steps the episode is truncated (``truncated=True``,
    ``info["turn_limit_reached"]``).

    Unlike gymnasium's ``TimeLimit`` it also reports the turn count in ``info["turns"]`` and refuses a
    step after the end instead of silently stepping on. An env with ``finish_at_turn_limit()`` (SWE: grade
    the repository as it stands) is asked for its final verdict at the limit; the step then terminates
    with that reward instead of truncating.
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
            final = getattr(self.env.unwrapped, "finish_at_turn_limit", None)
            graded = final() if callable(final) else None
            if graded is not None:  # the env grades the work as it stands (SWE): a terminal step
                obs, reward = f"{obs}\n\n{graded.observation}", float(reward) + float(graded.reward)
                terminated, truncated = True, False
                info = {**info, **graded.info, "won": bool(info.get("won")) or graded.won}
        self._ended = terminated or truncated
        return obs, reward, terminated, truncated, info
