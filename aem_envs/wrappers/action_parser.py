"""Extract the action from free LLM text (e.g. ``<think>…</think><action>go to desk 1</action>``).

The action reaches the env exactly as written between the tags, only trimmed at both ends: whitespace
inside it is never touched (``printf "a  b"``, an indented one-line edit and a verbatim ``<old>`` text
must arrive byte for byte). Envs with a fixed command grammar are tolerant themselves, and where the env
lists its admissible actions the wrapper maps a reply that differs from exactly one of them only in case
and runs of whitespace onto it (``match_admissible``).
"""

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

    The action is trimmed at both ends and otherwise kept exactly (inner whitespace included). Empty
    actions and actions over ``max_chars`` characters count as unparsable.
    """
    if not isinstance(text, str):
        return None
    matches = pattern.findall(text)
    if not matches:
        return None
    action = str(matches[-1]).strip()
    if not action or len(action) > max_chars:
        return None
    return action


def _key(action: str) -> str:
    return " ".join(action.split()).casefold()


def match_admissible(action: str, admissible: list[str] | None) -> str | None:
    """The admissible action ``action`` means: itself if listed, else the one listed action it equals up to
    case and runs of whitespace (``"Go to  Desk 1"`` → ``"go to desk 1"``); ``None`` when there is no such
    action or more than one."""
    if not admissible:
        return None
    if action in admissible:
        return action
    key = _key(action)
    hits = {a for a in admissible if _key(a) == key}
    return hits.pop() if len(hits) == 1 else None


class CutReply(str):
    """A reply the policy stopped at its token limit (``finish_reason == "length"``), as the episode loop
    hands it to the env stack: the text, plus ``cut_at`` (the tokens it was cut at)."""

    cut_at: int

    def __new__(cls, text: str, cut_at: int) -> CutReply:
        obj = super().__new__(cls, text)
        obj.cut_at = int(cut_at)
        return obj

    def __reduce__(self):  # keep cut_at across process workers
        return (CutReply, (str(self), self.cut_at))


def cut_observation(cut_at: int) -> str:
    return (f"Your reply was cut at {cut_at} tokens (the reply limit) before its action was complete; "
            "nothing happened. Reply again, shorter: think less, or split a long edit into smaller ones.")


def _unfinished(text: str) -> bool:
    """An ``<action>`` opened after the last one that closed (the reply ended inside it)."""
    low = text.lower()
    return low.rfind("<action>") > low.rfind("</action>")


UNPARSABLE_OBSERVATION = (
    "Invalid action format: put exactly one action between <action> and </action>, "
    "e.g. <action>look</action>. Nothing happened."
)


class ActionParser(gym.Wrapper[str, str, str, str]):
    """Parse the action with ``pattern`` (the last match wins) or a custom ``parse`` function.

    Unparsable text does not reach the env: the agent sees ``invalid_observation`` (followed by the last
    observation so it loses no context), reward ``penalty``, ``info["is_action_valid"] = False`` and
    ``info["parse_error"] = True``. The raw text is kept in ``info["raw_action"]``.

    A ``CutReply`` (the policy hit its token limit) whose action is incomplete gets ``cut_observation``
    instead (``info["reply_cut"]`` = the token count): the agent learns why, not a misleading format
    error; one whose action closed before the cut is executed (and also flagged ``reply_cut``). Where the
    last info lists ``admissible_actions``, a parsed action is mapped by ``match_admissible``.
    """

    def __init__(self, env: gym.Env, pattern: str = DEFAULT_PATTERN, penalty: float = 0.0,
                 parse: Callable[[str], str | None] | None = None,
                 invalid_observation: str = UNPARSABLE_OBSERVATION, max_action_chars: int = MAX_ACTION_CHARS):
        super().__init__(env)
        self._regex = re.compile(pattern, re.DOTALL | re.IGNORECASE)
        self._parse = parse
        self.penalty, self.invalid_observation = penalty, invalid_observation
        self.max_action_chars = max_action_chars
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
        cut = getattr(action, "cut_at", None)
        if parsed is None or (cut is not None and self._parse is None and _unfinished(action)):
            info = {**self._last_info, "is_action_valid": False, "parse_error": True,
                    "raw_action": str(action)}
            if cut is not None:
                info["reply_cut"] = cut
            head = self.invalid_observation if cut is None else cut_observation(cut)
            return f"{head}\n{self._last_obs}", float(self.penalty), False, False, info
        parsed = match_admissible(parsed, self._last_info.get("admissible_actions")) or parsed
        obs, reward, terminated, truncated, info = self.env.step(parsed)
        info = {**info, "parse_error": False, "raw_action": str(action), "parsed_action": parsed}
        if cut is not None:
            info["reply_cut"] = cut
        self._last_obs, self._last_info = obs, info
        return obs, reward, terminated, truncated, info
