"""Render the observation as a prompt holding the task and the last k turns."""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym

DEFAULT_TEMPLATE = "{task}\n\n{history}Current observation:\n{observation}\n{actions}"


class HistoryPrompt(gym.Wrapper[str, str, str, str]):
    """Observation becomes ``template`` filled with the task (the first observation), the last ``k`` turns
    as (observation the agent saw, action it took) pairs, the current observation and, where the env lists
    them, the admissible actions (the layout verl-agent's ALFWorld/WebShop prompts use).

    The raw observation stays in ``info["raw_observation"]``. ``k=0`` keeps no history.
    """

    def __init__(self, env: gym.Env, k: int = 3, template: str = DEFAULT_TEMPLATE, show_actions: bool = True,
                 max_actions_shown: int = 50):
        if k < 0:
            raise ValueError("k must be >= 0")
        super().__init__(env)
        self.k, self.template = k, template
        self.show_actions, self.max_actions_shown = show_actions, max_actions_shown
        self._history: deque[tuple[int, str, str]] = deque(maxlen=max(k, 1))
        self._task = self._last_obs = ""
        self._turn = 0

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._history.clear()
        self._task, self._last_obs, self._turn = obs, obs, 0
        return self._render(obs, info, first=True), {**info, "raw_observation": obs}

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._turn += 1
        if self.k:
            self._history.append((self._turn, self._last_obs, str(action)))
        self._last_obs = obs
        return (self._render(obs, info, first=False), reward, terminated, truncated,
                {**info, "raw_observation": obs})

    def _render(self, obs: str, info: dict[str, Any], first: bool) -> str:
        lines = [f"[Turn {t}] Observation: {o}\nAction: {a}" for t, o, a in self._history] if self.k else []
        history = ""
        if lines:
            history = (f"You have taken {self._turn} action(s); the last {len(lines)}:\n"
                       + "\n".join(lines) + "\n\n")
        acts = info.get("admissible_actions") if self.show_actions else None
        shown = ""
        if acts:
            more = len(acts) - self.max_actions_shown
            shown = ("Admissible actions: " + ", ".join(acts[: self.max_actions_shown])
                     + (f", … ({more} more)" if more > 0 else ""))
        task = "" if first else self._task
        return self.template.format(task=task, history=history, observation=obs, actions=shown).strip() + "\n"
