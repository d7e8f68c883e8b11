"""Per-env-family prompt builders, in a registry keyed by env-id prefix.

A builder turns what the rollout engine knows about an episode (``PromptState``: the task, the current
observation, the past turns, the admissible actions, the step and the turn limit) into chat messages; the
backend renders them with its tokenizer's chat template. Each turn is a fresh prompt of bounded length,
not an ever-growing chat (as in verl-agent), so input length stays flat on long horizons:

* history: the newest past turns that fit ``history_tokens`` (estimated at 4 characters per token; the
  oldest are dropped first, with a note saying how many), capped at ``k`` turns where ``k`` is set (the
  trainer's tiny models use ``k=2``; ``aem eval`` uses the token budget alone, see docs/llm-agents.md);
* "Step k of N." in every prompt (N: the run's turn limit, or the env's own);
* the newest turn's observation is printed once, as the current observation;
* observations are clipped in one place with a notice (``clip_middle``); an env that clips its own
  output (SWE) is not clipped again.

The agent answers with one action between ``<action>`` and ``</action>`` (free thinking before it is
fine); ``parse_action`` (re-exported here) is ``aem_envs.wrappers.ActionParser``'s own parser (last match
wins, the action kept as written), and the episode loop wraps that wrapper around every env.

    @register_prompt("aem/MyEnv")          # every id starting with "aem/MyEnv"
    class MyPrompt(PromptBuilder):
        system = "You are ..."
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aem_envs.core import clip_middle
from aem_envs.registry import Registry
from aem_envs.wrappers.action_parser import parse_action  # noqa: F401 - re-exported: one parser
from aem_gym.agents.types import Message

# Turns of history in a prompt unless a run says otherwise: one value for the trainer (``env.history``),
# the rollout engine and the builders (verl-agent's default). A run records the value it used
# (``config.yaml``; ``metadata.yaml`` settings). ``aem eval`` caps history by tokens instead.
DEFAULT_HISTORY = 2
# ``aem eval``'s history budget, in estimated tokens (4 characters each): a few SWE outputs, a whole
# household or web-shop episode.
DEFAULT_HISTORY_TOKENS = 6000
CHARS_PER_TOKEN = 4


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
    turn: int = 0  # turns taken so far (this prompt asks for step turn + 1)
    max_turns: int | None = None  # the episode's turn limit, where known


class PromptBuilder:
    """Default builder: a system prompt and one user message (task, past turns, current observation, step
    counter, admissible actions, answer format). Subclasses usually only change the class attributes.

    ``k``: at most this many past turns (None: no cap). ``history_tokens``: the past turns shown fit in
    this many estimated tokens (None: no budget).
    """

    system: str = (
        "You are an agent acting in a text environment. Read the task and the observation, then choose "
        "the next action. Answer with exactly one action between <action> and </action>."
    )
    answer_format: str = "Reply with your next action as <action>...</action>."
    max_actions_shown: int = 60
    max_observation_chars: int | None = 4000  # None: the env clips its own output (never twice)
    max_task_chars: int = 8000
    limit_note: str = ""  # said when two steps or fewer are left, e.g. what happens at the limit

    def __init__(self, k: int | None = DEFAULT_HISTORY, history_tokens: int | None = None):
        if k is not None and k < 0:
            raise ValueError("k (turns of history) must be >= 0 (or None: no cap)")
        if history_tokens is not None and history_tokens < 0:
            raise ValueError("history_tokens must be >= 0 (or None: no budget)")
        self.k, self.history_tokens = k, history_tokens

    def _clip(self, text: str, limit: int | None = None) -> str:
        n = self.max_observation_chars if limit is None else limit
        return text if n is None else clip_middle(text, n)

    def task_part(self, s: PromptState) -> str:
        return f"Task:\n{self._clip(s.task, self.max_task_chars)}"

    def history_line(self, turn: int, action: str, observation: str, s: PromptState, newest: bool) -> str:
        if newest and s.turn > 0 and observation == s.observation:  # shown next as the current observation
            return f"[Turn {turn}] Action: {action}"
        return f"[Turn {turn}] Action: {action}\nObservation: {self._clip(observation)}"

    def history_part(self, s: PromptState) -> str | None:
        """The newest past turns within ``k`` and ``history_tokens`` (oldest dropped first), with a note
        on how many earlier turns were left out."""
        n = len(s.history) if self.k is None else min(self.k, len(s.history))
        budget = None if self.history_tokens is None else self.history_tokens * CHARS_PER_TOKEN
        lines: list[str] = []
        for i in range(len(s.history) - 1, len(s.history) - 1 - n, -1):
            action, obs = s.history[i]
            line = self.history_line(i + 1, action, obs, s, newest=i == len(s.history) - 1)
            if budget is not None and lines and len(line) > budget:
                break
            lines.append(line)
            budget = None if budget is None else budget - len(line)
        if not lines:
            return None
        omitted = len(s.history) - len(lines)
        note = f" ({omitted} earlier turn{'s' * (omitted != 1)} omitted)" if omitted else ""
        return f"Previous turns{note}:\n" + "\n".join(reversed(lines))

    def step_part(self, s: PromptState) -> str:
        step = s.turn + 1
        if s.max_turns is None:
            return f"Step {step}."
        left = s.max_turns - step
        note = f" {self.limit_note}" if self.limit_note and left <= 2 else ""
        return f"Step {step} of {s.max_turns} ({left} left after this one).{note}"

    def user_message(self, s: PromptState) -> str:
        parts = [self.task_part(s)]
        hist = self.history_part(s)
        if hist:
            parts.append(hist)
        if s.turn > 0:
            parts.append(f"Current observation:\n{self._clip(s.observation)}")
        parts.append(self.step_part(s))
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


def prompt_builder(env_id: str, k: int | None = DEFAULT_HISTORY,
                   history_tokens: int | None = None) -> PromptBuilder:
    """The builder registered for the longest prefix of ``env_id`` (the default one if none)."""
    prefix = max((p for p in _PROMPTS if env_id.startswith(p)), key=len)
    return _PROMPTS.get(prefix)(k=k, history_tokens=history_tokens)


@register_prompt("aem/Household")
class HouseholdPrompt(PromptBuilder):
    """Compact: the task is its goal sentence only (the intro's banner and room listing repeat what the
    admissible ``go to`` commands already list); nothing the agent could act on is dropped. The system
    prompt names the real command grammar (ALFWorld 0.4 syntax)."""

    system = (
        "You are an agent in a household. Commands: go to X, open X, close X, take X from Y, move X to Y, "
        "heat X with Y, cool X with Y, clean X with Y, use X, examine X, look, inventory. Reach the goal "
        "with as few steps as you can. Answer with one admissible action between <action> and </action>."
    )

    def task_part(self, s: PromptState) -> str:
        goal = next((ln.strip() for ln in s.task.splitlines() if ln.strip().startswith("Your task is to:")),
                    None)
        return f"Task: {goal}" if goal else super().task_part(s)


@register_prompt("aem/WebShop")
class WebShopPrompt(PromptBuilder):
    system = (
        "You are shopping on a web store for a customer. Search with search[query], open results and pick "
        "options with click[...], and buy the item that best matches every requirement in the instruction. "
        "Answer with one action between <action> and </action>."
    )


@register_prompt("aem/SWE")
class SWEPrompt(PromptBuilder):
    """The task (the env's intro) states the sandbox's rules: a fresh shell per command, its timeout, no
    network; the env clips its own output with a notice, so observations are not clipped again here."""

    system = (
        "You are a software engineer fixing a bug in a repository inside a sandbox. Each turn, run one "
        "tool call (a command or an edit) and read its output; submit with <submit/> when the fix is done. "
        "When the turn limit is reached the repository is graded as it stands. Answer with exactly one "
        "tool call between <action> and </action>."
    )
    max_observation_chars = None
    max_task_chars = 20_000
    limit_note = "At the limit the repository is graded as it stands: make sure your fix is in place."
