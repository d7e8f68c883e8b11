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
  run in threads give the same episodes. After choosing the task, ``reset`` draws ``episode_key`` from it:
  ``seeded_order`` orders things the env may legitimately present in any order (admissible commands,
  equally ranked search results) by that key, so the same seed gives the same episode in any process and
  the seed still matters when ``instance_id`` fixes the task (docs/envs-seeds.md says what each env uses).
* ``close()`` may be called any number of times.
* After an episode ends (``terminated`` or ``truncated``, also by a wrapper such as gymnasium's
  ``TimeLimit``: see ``EpisodeEnd``) every further ``step`` returns ``over_text`` with reward 0, the same
  end flags, ``is_action_valid=False``, ``info["episode_over"] = True`` and no admissible actions; the task
  is not touched again (a won chest cannot be opened twice, a truncated episode cannot still be won).
* ``reset(options=...)`` takes ``None`` or a dict whose keys are in the env's ``reset_options``; anything
  else is a ``ValueError``/``TypeError`` that names the allowed keys (``check_reset_options``).

Subclasses implement ``_reset_task(task, options)`` and ``_step(action)``; the base class handles task
choice, type checks, the info keys, the step counter and the end of the episode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium.utils import RecordConstructorArgs

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
BASE_RESET_OPTIONS = frozenset({"instance_id", "split"})


def check_reset_options(options: Any, allowed: frozenset[str] | set[str], env_name: str) -> dict[str, Any]:
    """``options`` as a fresh dict, or a clear error: it must be ``None`` or a mapping with string keys from
    ``allowed``; ``instance_id`` must be a string (or an int), ``split`` a string."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(f"{env_name}.reset(options=...) takes a dict (or None), "
                        f"got {type(options).__name__}; "
                        f"allowed keys: {sorted(allowed)}")
    unknown = sorted(repr(k) for k in options if k not in allowed)
    if unknown:
        raise ValueError(f"{env_name}.reset(options=...) got unknown key(s) {', '.join(unknown)}; "
                         f"allowed keys: {sorted(allowed)}")
    out = dict(options)
    iid = out.get("instance_id")
    if iid is not None and (isinstance(iid, bool) or not isinstance(iid, (str, int))):
        raise TypeError(f"options['instance_id'] must be a task id string, got {type(iid).__name__}")
    if "split" in out and not isinstance(out["split"], str):
        raise TypeError(f"options['split'] must be a split name string, got {type(out['split']).__name__}")
    return out


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


def keyed_order(items: Iterable[str], key: int, ranks: dict[str, bytes] | None = None) -> list[str]:
    """``items`` permuted by ``key`` (a keyed BLAKE2 digest of each item): the same key gives the same
    order in every process, and an item keeps its rank relative to the others as a set changes within an
    episode.
    ``ranks`` caches the digests of one key (an episode lists the same commands again and again)."""
    k = int(key).to_bytes(8, "little")
    ranks = {} if ranks is None else ranks

    def rank(s: str) -> tuple[bytes, str]:
        r = ranks.get(s)
        if r is None:
            r = ranks[s] = hashlib.blake2b(s.encode("utf-8", "surrogatepass"), key=k, digest_size=8).digest()
        return r, s

    return sorted(items, key=rank)


class TextEnv(gym.Env[str, str]):
    """Base of the suite's multi-turn text environments (see the module docstring for the contract)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"]}
    max_text_length: ClassVar[int] = 1 << 20
    reset_options: ClassVar[frozenset[str]] = BASE_RESET_OPTIONS  # subclasses add their own keys
    over_text: ClassVar[str] = "The episode is over; call reset()."

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
        self._ended: tuple[bool, bool] | None = None  # (terminated, truncated) once the episode is over
        self.episode_key = 0
        self._ranks: dict[str, bytes] = {}  # keyed_order's digests for this episode's key

    # -- hooks for subclasses -------------------------------------------------------------------------
    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Start the episode on ``task`` (the provider's record); return the first observation and info."""
        raise NotImplementedError

    def _step(self, action: str) -> StepResult:
        """Apply one well-typed action."""
        raise NotImplementedError

    def _task_type(self, task: Any) -> str:
        return str(task.get("task_type", "")) if hasattr(task, "get") else ""

    def task_stratum(self, task: Any) -> tuple[str, ...]:
        """The strata a default subset is balanced over (``aem_envs.subsets``): the task type here; an env
        whose tasks also differ by e.g. project adds it (``("logic", "repo-a")``)."""
        return (self._task_type(task),)

    def admissible_actions(self) -> list[str] | None:
        """The commands valid in the current state, or ``None`` if the env cannot list them."""
        return None

    def oracle_action(self) -> str | None:
        """The next action of a planner that solves the task from the current state (the env's oracle,
        used for demonstrations and as a baseline), or ``None`` where the env has no oracle."""
        return None

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        options = check_reset_options(options, self.reset_options, type(self).__name__)
        super().reset(seed=seed)
        instance_id = options.get("instance_id")
        if instance_id is None:
            ids = self.tasks.ids(options.get("split", self.split))
            if not ids:
                raise ValueError(f"split {options.get('split', self.split)!r} is empty")
            instance_id = ids[int(self.np_random.integers(len(ids)))]
        task = self.tasks.get(str(instance_id))
        # after the task draw: seed -> task unchanged
        self.episode_key = int(self.np_random.integers(1, 2**63))
        self._ranks = {}
        self.instance_id, self.task_type = str(instance_id), self._task_type(task)
        self.won, self.turn, self._ended = False, 0, None
        obs, info = self._reset_task(task, options)
        self._last_observation = obs
        return obs, self._complete_info(info, valid=True)

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.instance_id is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        if self._ended is not None:
            return self._over_step()
        self.turn += 1
        if not isinstance(action, str):
            res = StepResult(INVALID_TYPE_OBSERVATION, is_action_valid=False)
        else:
            res = self._step(action)
        self.won = self.won or res.won
        self._last_observation = res.observation
        info = self._complete_info(res.info, valid=res.is_action_valid)
        if res.terminated or res.truncated:
            self._ended = (bool(res.terminated), bool(res.truncated))
        return res.observation, float(res.reward), bool(res.terminated), bool(res.truncated), info

    def seeded_order(self, items: Iterable[str]) -> list[str]:
        """``items`` in this episode's order (``keyed_order`` with ``episode_key``)."""
        return keyed_order(items, self.episode_key, self._ranks)

    def end_episode(self, truncated: bool = True) -> None:
        """Mark the episode over from outside (a wrapper truncated it): later steps get ``over_text``."""
        if self.instance_id is not None and self._ended is None:
            self._ended = (not truncated, truncated)

    @property
    def episode_over(self) -> bool:
        return self._ended is not None

    def _over_step(self) -> tuple[str, float, bool, bool, dict[str, Any]]:
        terminated, truncated = self._ended or (True, False)
        info = self._complete_info({"episode_over": True, "admissible_actions": []}, valid=False)
        return self.over_text, 0.0, terminated, truncated, info

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


class EpisodeEnd(gym.Wrapper[str, str, str, str], RecordConstructorArgs):
    """Tells the ``TextEnv`` below when a wrapper between them ended the episode (gymnasium's ``TimeLimit``
    truncates outside the env, which would otherwise keep playing, and paying, after the limit).

    ``aem_envs.register`` puts it outermost on every env it registers, so ``make``'s ``TimeLimit`` (with the
    registered or a ``max_episode_steps=`` limit) is seen; an env built by hand is its own judge.
    """

    def __init__(self, env: gym.Env):
        RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: str) -> tuple[str, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            end = getattr(self.env.unwrapped, "end_episode", None)
            if end is not None:
                end(truncated=not terminated)
        return obs, reward, terminated, truncated, info
