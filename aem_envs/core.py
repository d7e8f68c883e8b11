"""The text-env contract every aem env follows.

``TextEnv`` is a ``gymnasium.Env[str, str]``:

* ``reset(*, seed=None, options=None) -> (observation: str, info: dict)``. ``options["instance_id"]``
  picks a task; otherwise one is drawn from ``options.get("split", self.split)`` with ``self.np_random``,
  so the same seed gives the same task and the same episode. ``options["split"]`` overrides the split.
* ``step(action: str) -> (observation, reward, terminated, truncated, info)``. An action that is not a
  string or not understood is never an exception: the env returns an observation that says so and
  ``info["is_action_valid"] = False``.
* ``info`` always has ``instance_id``, ``task_type``, ``won``, ``is_action_valid`` and, where the env can
  list them, ``admissible_actions`` (exactly the commands that are valid now).
* Each env owns its randomness (``self.np_random``, seeded by ``reset``); no module-level RNG, so copies
  run in threads give the same episodes.
* ``close()`` may be called any number of times.

Subclasses implement ``_reset_task(task, options)`` and ``_step(action)``; the base class handles task
choice, type checks, the info keys and the step counter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym

from aem_envs.spaces import Unicode
from aem_envs.tasks import TaskProvider

REQUIRED_INFO_KEYS = ("instance_id", "task_type", "won", "is_action_valid")


def clip_middle(text: str, max_chars: int, what: str = "") -> str:
    """``text`` cut to about ``max_chars`` characters: its head and tail, with a notice between them saying
    how much was left out (``[... output truncated: N of M characters omitted ...]`` with ``what="output
    truncated: "``). The one clipping function: env outputs and agent prompts say it the same way."""
    if len(text) <= max_chars:
        return text
    half = max_chars // 2
    return (f"{text[:half]}\n[... {what}{len(text) - max_chars} of {len(text)} characters omitted ...]\n"
            f"{text[len(text) - half:] if half else ''}")
INVALID_TYPE_OBSERVATION = "Invalid action: an action must be a string of text."


@dataclass
class StepResult:
    """What a subclass's ``_step`` returns; the base class turns it into gymnasium's 5-tuple."""

    observation: str
    reward: float = 0.0
    terminated: bool = False
    truncated: bool = False
    is_action_valid: bool = True
    won: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class TextEnv(gym.Env[str, str]):
    """Base of the suite's multi-turn text environments (see the module docstring for the contract)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"]}
    max_text_length: ClassVar[int] = 1 << 20

    def __init__(self, tasks: TaskProvider, split: str = "train", render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} not in {self.metadata['render_modes']}")
        if split not in tasks.splits():
            raise ValueError(f"unknown split {split!r}; {tasks.name}/{tasks.version} has {tasks.splits()}")
        self.tasks = tasks
        self.split = split
        self.render_mode = render_mode
        self.observation_space = Unicode(self.max_text_length)
        self.action_space = Unicode(self.max_text_length)
        self.instance_id: str | None = None
        self.task_type: str = ""
        self.won = False
        self.turn = 0
        self._last_observation = ""
        self._closed = False

    # -- hooks for subclasses -------------------------------------------------------------------------
    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Start the episode on ``task`` (the provider's record); return the first observation and info."""
        raise NotImplementedError

    def _step(self, action: str) -> StepResult:
        """Apply one well-typed action."""
        raise NotImplementedError

    def _task_type(self, task: Any) -> str:
        return str(task.get("task_type", "")) if hasattr(task, "get") else ""

    def admissible_actions(self) -> list[str] | None:
        """The commands valid in the current state, or ``None`` if the env cannot list them."""
        return None

    def oracle_action(self) -> str | None:
        """The next action of a planner that solves the task from the current state (the env's oracle,
        used for demonstrations and as a baseline), or ``None`` where the env has no oracle."""
        return None

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        instance_id = options.get("instance_id")
        if instance_id is None:
            ids = self.tasks.ids(options.get("split", self.split))
            if not ids:
                raise ValueError(f"split {options.get('split', self.split)!r} is empty")
            instance_id = ids[int(self.np_random.integers(len(ids)))]
        task = self.tasks.get(str(instance_id))
        self.instance_id, self.task_type = str(instance_id), self._task_type(task)
        self.won, self.turn = False, 0
        obs, info = self._reset_task(task, options)
        self._last_observation = obs
        return obs, self._complete_info(info, valid=True)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.instance_id is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        self.turn += 1
        if not isinstance(action, str):
            res = StepResult(INVALID_TYPE_OBSERVATION, is_action_valid=False)
        else:
            res = self._step(action)
        self.won = self.won or res.won
        self._last_observation = res.observation
        info = self._complete_info(res.info, valid=res.is_action_valid)
        return res.observation, float(res.reward), bool(res.terminated), bool(res.truncated), info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self._last_observation
        if self.render_mode == "human":
            print(self._last_observation)
        return None

    def close(self) -> None:
        self._closed = True

    def _complete_info(self, info: dict[str, Any], valid: bool) -> dict[str, Any]:
        out = {"instance_id": self.instance_id, "task_type": self.task_type, "won": self.won,
               "is_action_valid": valid, "turn": self.turn}
        out.update(info)
        if "admissible_actions" not in out:
            acts = self.admissible_actions()
            if acts is not None:
                out["admissible_actions"] = acts
        return out
