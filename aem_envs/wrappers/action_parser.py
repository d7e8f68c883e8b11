"""Extract the action from free LLM text (e.g. ``<think>…</think><action>go to desk 1</action>``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym

DEFAULT_PATTERN = r"<action>(.*?)</action>"
MAX_ACTION_CHARS = 20_000  # room for a tool call that writes a file; longer text is refused, not truncated
_DEFAULT_REGEX = re.compile(DEFAULT_PATTERN, re.DOTALL | re.IGNORECASE)


def parse_action(text: object, pattern: re.Pattern[str] = _DEFAULT_REGEX,
                 max_chars: int = MAX_ACTION_CHARS) -> str | None:
    """The action in LLM ``text``: the last ``pattern`` match, or ``None`` when there is none.

    A one-line action has its whitespace normalised ("go to  desk 1 " → "go to desk 1"); a multi-line one
    (a tool call carrying code or a patch) keeps its inner whitespace exactly, only trimmed at both ends.
    Empty actions and actions over ``max_chars`` characters count as unparsable.
    """
    if not isinstance(text, str):
        return None
    matches = pattern.findall(text)
    if not matches:
        return None
    raw = str(matches[-1]).strip()
    action = raw if "\n" in raw else " ".join(raw.split())
    if not action or len(action) > max_chars:
        return None
    return action


UNPARSABLE_OBSERVATION = (
    "Invalid action format: put exactly one action between <action> and </action>, "
    "e.g. <action>look</action>. Nothing happened."
)


class ActionParser(gym.Wrapper[str, str, str, str]):
    """Parse the action with ``pattern`` (the last match wins) or a custom ``parse`` function.

    Unparsable text does not reach the env: the agent sees ``invalid_observation`` (followed by the last
    observation so it loses no context), reward ``penalty``, ``info["is_action_valid"] = False`` and
    ``info["parse_error"] = True``. The raw text is kept in ``info["raw_action"]``.
    """

    def __init__(self, env: gym.Env, pattern: str = DEFAULT_PATTERN, penalty: float = 0.0,
                 parse: Callable[[str], str | None] | None = None,
                 invalid_observation: str = UNPARSABLE_OBSERVATION, max_action_chars: int = MAX_ACTION_CHARS):
        super().__init__(env)
        self._regex = re.compile(pattern, re.DOTALL | re.IGNORECASE)
        self._parse = parse
        self.penalty, self.invalid_observation, self.max_action_chars = penalty, invalid_observation, max_action_chars
        self._last_obs = ""
        self._last_info: dict[str, Any] = {}

    def parse(self, text: Any) -> str | None:
        if self._parse is not None:
            return self._parse(text) if isinstance(text, str) else None
        return parse_action(text, self._regex, self.max_action_chars)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self._last_obs, self._last_info = obs, info
        return obs, info

    def step(self, action: str):
        parsed = self.parse(action)
        if parsed is None:
            info = {**self._last_info, "is_action_valid": False, "parse_error": True, "raw_action": action}
            obs = f"{self.invalid_observation}\n{self._last_obs}"
            return obs, float(self.penalty), False, False, info
        obs, reward, terminated, truncated, info = self.env.step(parsed)
        info = {**info, "parse_error": False, "raw_action": action, "parsed_action": parsed}
        self._last_obs, self._last_info = obs, info
        return obs, reward, terminated, truncated, info
