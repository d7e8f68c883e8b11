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
  ``admissible_actions`` (``help`` included as in ALFWorld 0.4), ``goal``.
* ``admissible_order``: ``"seeded"`` (default) lists the admissible commands in an order fixed by the
  reset seed (``TextEnv.seeded_order``: the same seed, the same order; the set is ALFWorld's); ``"sorted"``
  is ALFWorld's own sorted list (the differential tests against the real engine use it). The world, the
  texts and the rewards do not depend on the seed (docs/envs-seeds.md).
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
from aem_envs.registry import Registry
from aem_envs.tasks import TaskSet, tasks_root

REWARDS: Registry[float] = Registry("reward mode")  # mode -> the reward of a won episode
REWARDS.register("alfworld", 10.0)
REWARDS.register("binary", 1.0)
ADMISSIBLE_ORDERS = ("seeded", "sorted")
_GEN_PREFIX = "gen-"


class HouseholdTasks:
    """The stored splits plus on-the-fly tasks: ``gen-<split>-<seed>`` is ``make_task(seed, split)``."""

    def __init__(self, folder: Any = None):
        self._set = TaskSet(folder or tasks_root() / "household" / "v0")
        self.name, self.version = self._set.name, self._set.version
        self.manifest = self._set.manifest  # its sha256 identifies the task data on leaderboard boards

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
                raise UnknownTaskError(f"generated ids read 'gen-<split>-<seed>', e.g. 'gen-train-7'; got "
                                       f"{instance_id!r}")
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
            raise ValueError(f"task_types must be a non-empty list of {list(TASK_TYPES)}; got "
                             f"{list(task_types)}")
        self._base, self.name, self.version = base, base.name, base.version
        self._ids: dict[str, list[str]] = {}

    def splits(self) -> list[str]:
        return self._base.splits()

    def ids(self, split: str) -> list[str]:
        if split not in self._ids:
            self._ids[split] = [i for i in self._base.ids(split)
                                if self._base.get(i).get("task_type") in self.types]
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

    over_text = NOTHING_HAPPENS  # ALFWorld: after the end, every command answers this and changes nothing

    def __init__(self, split: str = "train", reward: str = "alfworld", syntax: str = "0.4",
                 tasks_dir: str | None = None, admissible_order: str = "seeded",
                 render_mode: str | None = None, task_types: Any = None):
        REWARDS.get(reward)  # an unknown mode fails here, listing the known ones
        if admissible_order not in ADMISSIBLE_ORDERS:
            raise ValueError(f"admissible_order must be one of {list(ADMISSIBLE_ORDERS)}, "
                             f"got {admissible_order!r}")
        tasks: Any = shared_tasks(tasks_dir)
        if task_types is not None:  # a curriculum or a sub-benchmark: only these of ALFWorld's six types
            tasks = TypedTasks(tasks, task_types)
        super().__init__(tasks, split=split, render_mode=render_mode)
        self.reward_mode, self.syntax, self.admissible_order = reward, syntax, admissible_order
        self._listed: tuple[int, list[str]] | None = None  # (world version, admissible list in episode order)
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
        self.world, self._listed = World(self._layout(task)), None
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
        if self.world is None:
            return None
        if self.admissible_order == "sorted":
            return list(self.world.admissible())
        if self._listed is None or self._listed[0] != self.world.version:
            self._listed = (self.world.version, self.seeded_order(self.world.admissible()))
        return list(self._listed[1])

    def oracle_action(self) -> str | None:
        return None if self.world is None else plan_next(self.world)
