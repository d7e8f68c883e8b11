"""``aem/Household-v0``: a fast native engine with ALFWorld's rules, text and admissible commands.

Contract (on top of ``aem_envs.core.TextEnv``):

* ``reset(seed=, options=)`` -> intro text exactly as ALFWorld prints it (``-= Welcome to TextWorld,
  ALFRED! =-`` ... ``Your task is to: put a hot apple in countertop.``). ``options["instance_id"]`` picks a
  stored task; an id ``gen-<split>-<seed>`` generates a fresh one from that seed.
* ``step(command)`` -> the command must be one of ``info["admissible_actions"]`` (exact match after
  stripping surrounding whitespace, as in ALFWorld); anything else -> ``"Nothing happens."`` with
  ``is_action_valid=False`` and no state change.
* reward: ``10`` on the winning step (ALFWorld/verl-agent), or ``1`` with ``reward="binary"``; no other
  shaping (the -0.1 invalid-action penalty is a wrapper of the training config). The episode terminates on
  a win; the 50-step limit is the registered ``max_episode_steps`` (truncation).
* ``info``: ``instance_id``, ``task_type`` (one of ALFWorld's six), ``won``, ``is_action_valid``, ``turn``,
  ``admissible_actions`` (sorted, ``help`` included as in ALFWorld 0.4), ``goal``.
* ``syntax="0.4"`` (``move X to Y``, default) or ``"0.3"`` (``put X in/on Y``, ``You arrive at loc 5.``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aem_envs.core import StepResult, TextEnv
from aem_envs.household.oracle import plan_next
from aem_envs.household.world import NOTHING_HAPPENS, Layout, World
from aem_envs.tasks import TaskSet, tasks_root

REWARDS = {"alfworld": 10.0, "binary": 1.0}
_GEN_PREFIX = "gen-"


class HouseholdTasks:
    """The stored splits plus on-the-fly tasks: ``gen-<split>-<seed>`` is ``make_task(seed, split)``."""

    def __init__(self, folder: Any = None):
        self._set = TaskSet(folder or tasks_root() / "household" / "v0")
        self.name, self.version = self._set.name, self._set.version

    def splits(self) -> list[str]:
        return self._set.splits()

    def ids(self, split: str) -> list[str]:
        return self._set.ids(split)

    def get(self, instance_id: str) -> Mapping[str, Any]:
        if instance_id.startswith(_GEN_PREFIX):
            from aem_envs.error import UnknownTaskError
            from aem_envs.household.generate import make_task

            split, _, seed = instance_id[len(_GEN_PREFIX):].rpartition("-")
            if split not in self.splits() or not seed.isdigit():
                raise UnknownTaskError(f"generated ids read 'gen-<split>-<seed>', e.g. 'gen-train-7'; got {instance_id!r}")
            return {**make_task(int(seed), split), "instance_id": instance_id}
        return self._set.get(instance_id)


class TypedTasks:
    """The stored tasks of some task types only (``HouseholdEnv(task_types=...)``): ``ids(split)`` keeps
    the ids of those types, in manifest order; ``get`` serves any id (generated ids included)."""

    def __init__(self, base: HouseholdTasks, task_types: Any):
        from aem_envs.household.constants import TASK_TYPES

        self.types = tuple(dict.fromkeys(str(t) for t in task_types))
        unknown = [t for t in self.types if t not in TASK_TYPES]
        if unknown or not self.types:
            raise ValueError(f"task_types must be a non-empty list of {list(TASK_TYPES)}; got {list(task_types)}")
        self._base, self.name, self.version = base, base.name, base.version
        self._ids: dict[str, list[str]] = {}

    def splits(self) -> list[str]:
        return self._base.splits()

    def ids(self, split: str) -> list[str]:
        if split not in self._ids:
            self._ids[split] = [i for i in self._base.ids(split) if self._base.get(i).get("task_type") in self.types]
        return self._ids[split]

    def get(self, instance_id: str) -> Mapping[str, Any]:
        return self._base.get(instance_id)


_shared: dict[str, HouseholdTasks] = {}
_shared_lock = threading.Lock()


def shared_tasks(folder: Any = None) -> HouseholdTasks:
    """One read-only ``HouseholdTasks`` per folder and process: the records (a few MB of JSON) are parsed
    once, not once per env copy (``aem check`` and vectorised envs make many)."""
    key = str(folder or tasks_root() / "household" / "v0")
    with _shared_lock:
        if key not in _shared:
            _shared[key] = HouseholdTasks(key)
        return _shared[key]


class HouseholdEnv(TextEnv):
    """ALFWorld's household tasks on a native engine (see the module docstring)."""

    def __init__(self, split: str = "train", reward: str = "alfworld", syntax: str = "0.4",
                 tasks_dir: str | None = None, render_mode: str | None = None, task_types: Any = None):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {sorted(REWARDS)}, got {reward!r}")
        tasks: Any = shared_tasks(tasks_dir)
        if task_types is not None:  # a curriculum or a sub-benchmark: only these of ALFWorld's six types
            tasks = TypedTasks(tasks, task_types)
        super().__init__(tasks, split=split, render_mode=render_mode)
        self.reward_mode, self.syntax = reward, syntax
        self.world: World | None = None
        self._layouts: OrderedDict[str, Layout] = OrderedDict()
        self._lock = threading.Lock()

    def _layout(self, task: Mapping[str, Any]) -> Layout:
        key = task["instance_id"]
        with self._lock:
            lay = self._layouts.get(key)
            if lay is None:
                lay = self._layouts[key] = Layout(task, self.syntax)
                if len(self._layouts) > 512:
                    self._layouts.popitem(last=False)
            return lay

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.world = World(self._layout(task))
        self.won = self.world.goal_reached()
        return self.world.intro(), {"goal": task["goal_text"]}

    def _step(self, action: str) -> StepResult:
        w = self.world
        assert w is not None
        if self.won:  # ALFWorld: after the end, further commands change nothing
            return StepResult(NOTHING_HAPPENS, is_action_valid=False, terminated=True, won=True)
        text = w.execute(action.strip())
        if text is None:
            return StepResult(NOTHING_HAPPENS, is_action_valid=False)
        won = w.goal_reached()
        return StepResult(text, reward=REWARDS[self.reward_mode] if won else 0.0, terminated=won, won=won)

    def admissible_actions(self) -> list[str] | None:
        return None if self.world is None else list(self.world.admissible())

    def oracle_action(self) -> str | None:
        return None if self.world is None else plan_next(self.world)
