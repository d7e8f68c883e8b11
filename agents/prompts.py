"""Per-env-family prompt builders, in a registry keyed by env-id prefix.

A builder turns what the rollout engine knows about an episode (``PromptState``: the task, the last
observation, the last k turns, the admissible actions) into chat messages; the backend renders them with
its tokenizer's chat template. Each turn is a fresh prompt of bounded length (task + window of k turns),
not an ever-growing chat, as in verl-agent: input length stays flat on long horizons.

The agent answers with one action between ``<action>`` and ``</action>`` (free thinking before it is
fine); ``parse_action`` (re-exported here) is ``aem_envs.wrappers.ActionParser``'s own parser (last match
wins, one-line actions have their whitespace collapsed), and the episode loop wraps that wrapper around
every env.

    @register_prompt("aem/MyEnv")          # every id starting with "aem/MyEnv"
    class MyPrompt(PromptBuilder):
        system = "You are ..."
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aem_envs.registry import Registry
from aem_envs.wrappers.action_parser import parse_action  # noqa: F401 - re-exported: one parser
from aem_gym.agents.types import Message

# Turns of history in a prompt unless a run says otherwise: one value for the trainer (``env.history``),
# ``aem eval --history``, the rollout engine and the builders (verl-agent's default). A run records the
# value it used (``config.yaml``; ``metadata.yaml`` settings).
DEFAULT_HISTORY = 2


def format_action(action: str) -> str:
    """How scripted agents (and demonstrations) write an action."""
    return f"<action>{action}</action>"


def reply_text(action: str) -> str:
    """The reply a model is taught to give for ``action`` (SFT labels, constrained decoding):
    ``<action> {action}</action>``. The space matters for byte-level BPE: the prompt lists actions after
    ", ", so with it the reply's tokens are exactly a span of the admissible list (" take" and "take" are
    unrelated tokens); ``parse_action`` strips it."""
    return format_action(f" {action}")


@dataclass
class PromptState:
    """One episode as the prompt builder sees it at the start of a turn."""

    env_id: str
    task: str  # the first observation (it states the task)
    observation: str  # the current observation
    history: list[tuple[str, str]] = field(default_factory=list)  # (action, observation) of past turns
    admissible_actions: list[str] | None = None
    turn: int = 0


class PromptBuilder:
    """Default builder: a system prompt and one user message (task, last ``k`` turns, observation,
    admissible actions, answer format). Subclasses usually only change the class attributes."""

    system: str = (
        "You are an agent acting in a text environment. Read the task and the observation, then choose "
        "the next action. Answer with exactly one action between <action> and </action>."
    )
    answer_format: str = "Reply with your next action as <action>...</action>."
    max_actions_shown: int = 60
    max_observation_chars: int = 4000

    def __init__(self, k: int = DEFAULT_HISTORY):
        if k < 0:
            raise ValueError("k (turns of history) must be >= 0")
        self.k = k

    def _clip(self, text: str) -> str:
        n = self.max_observation_chars
        return text if len(text) <= n else text[: n // 2] + "\n[...]\n" + text[-n // 2:]

    def task_part(self, s: PromptState) -> str:
        return f"Task:\n{self._clip(s.task)}"

    def history_line(self, turn: int, action: str, observation: str, s: PromptState, newest: bool) -> str:
        return f"[Turn {turn}] Action: {action}\nObservation: {self._clip(observation)}"

    def user_message(self, s: PromptState) -> str:
        parts = [self.task_part(s)]
        window = s.history[-self.k:] if self.k else []
        if window:
            first = len(s.history) - len(window)
            lines = [self.history_line(first + i + 1, a, o, s, newest=i == len(window) - 1)
                     for i, (a, o) in enumerate(window)]
            parts.append("Previous turns:\n" + "\n".join(lines))
        if s.turn > 0:
            parts.append(f"Current observation (turn {s.turn + 1}):\n{self._clip(s.observation)}")
        if s.admissible_actions:
            parts.append(self.actions_part(s.admissible_actions))
        parts.append(self.answer_format)
        return "\n\n".join(parts)

    def actions_part(self, actions: list[str]) -> str:
        shown = actions[: self.max_actions_shown]
        more = len(actions) - len(shown)
        return "Admissible actions: " + ", ".join(shown) + (f", ... ({more} more)" if more > 0 else "")

    def build(self, s: PromptState) -> list[Message]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user_message(s)}]


_PROMPTS: Registry[type[PromptBuilder]] = Registry("prompt prefix")
_PROMPTS.register("", PromptBuilder)


def register_prompt(prefix: str) -> Callable[[type[PromptBuilder]], type[PromptBuilder]]:
    """Class decorator: use this builder for env ids starting with ``prefix`` (longest prefix wins)."""
    return _PROMPTS.register(prefix)


def prompt_builder(env_id: str, k: int = DEFAULT_HISTORY) -> PromptBuilder:
    """The builder registered for the longest prefix of ``env_id`` (the default one if none)."""
    prefix = max((p for p in _PROMPTS if env_id.startswith(p)), key=len)
    return _PROMPTS.get(prefix)(k=k)


@register_prompt("aem/Household")
class HouseholdPrompt(PromptBuilder):
    """Compact: the task is its goal sentence only (the intro's banner and room listing repeat what the
    admissible ``go to`` commands already list), and the newest history turn's observation is not printed
    twice (it is the current observation). About half the tokens of the default layout, which is most of
    the cost of the CPU recipe's tiny model; nothing the agent could act on is dropped."""

    system = (
        "You are an agent in a household: go to receptacles, take, put, open, heat, cool, clean and use "
        "objects to reach the goal. Answer with one admissible action between <action> and </action>."
    )

    def task_part(self, s: PromptState) -> str:
        goal = next((ln.strip() for ln in s.task.splitlines() if ln.strip().startswith("Your task is to:")), None)
        return f"Task: {goal}" if goal else super().task_part(s)

    def history_line(self, turn: int, action: str, observation: str, s: PromptState, newest: bool) -> str:
        if newest and s.turn > 0 and observation == s.observation:  # shown next as the current observation
            return f"[Turn {turn}] Action: {action}"
        return super().history_line(turn, action, observation, s, newest)


@register_prompt("aem/WebShop")
class WebShopPrompt(PromptBuilder):
    system = (
        "You are shopping on a web store for a customer. Search with search[query], open results and pick "
        "options with click[...], and buy the item that best matches every requirement in the instruction. "
        "Answer with one action between <action> and </action>."
    )


@register_prompt("aem/SWE")
class SWEPrompt(PromptBuilder):
    system = (
        "You are a software engineer fixing a bug in a repository inside a sandbox. Each turn, run one "
        "command or edit and read its output; submit when the tests pass. Answer with exactly one command "
        "between <action> and </action>."
    )
    max_observation_chars = 8000
