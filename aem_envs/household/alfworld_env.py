"""``aem/ALFWorld-v0``: the same tasks on the real ALFWorld/TextWorld engine (needs the household extra).

Two sources, one contract (that of ``aem/Household-v0``: same observations, info keys, reward and
``admissible_actions``):

* ``source="generated"`` (default): our generated tasks (stored splits and ``gen-<split>-<seed>`` ids),
  each written as a PDDL problem with ALFWorld's own domain and grammar (``pddl.game_json``) and played by
  TextWorld's PDDL engine (Fast Downward) with ALFWorld's name demangler.
* ``source="official"``: ALFWorld's own game files under ``$ALFWORLD_DATA`` (or ``data_dir=``), laid out as
  ``json_2.1.1/{train,valid_seen,valid_unseen}/<task dir>/trial_*/game.tw-pddl``, filtered the way
  ``AlfredTWEnv.collect_game_files`` does (no movable/Sliced trials, ``solvable`` games only). Ids are the
  trial paths relative to the split folder, so per-type metrics can key on them.

The real engine is slow (a reset grounds the whole problem, ~0.3-1 s); it exists for fidelity checks
(the differential test) and for users with the official data, not for training throughput.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aem_envs.core import StepResult, TextEnv
from aem_envs.error import UnknownTaskError
from aem_envs.household.constants import TASK_TYPES
from aem_envs.household.env import REWARDS, shared_tasks
from aem_envs.household.world import NOTHING_HAPPENS
from aem_envs.tasks import check_backends

OFFICIAL_SPLITS = ("train", "valid_seen", "valid_unseen")


class OfficialGames:
    """ALFWorld's downloaded game files as a ``TaskProvider`` (records are read lazily from
    traj_data.json)."""

    name, version = "alfworld-official", "json_2.1.1"

    def __init__(self, data_dir: str | os.PathLike | None = None):
        root = data_dir or os.environ.get("ALFWORLD_DATA")
        if not root:
            raise UnknownTaskError("source='official' needs the ALFWorld game files: set ALFWORLD_DATA or "
                                   "pass data_dir=")
        self.root = Path(root) / "json_2.1.1" if (Path(root) / "json_2.1.1").is_dir() else Path(root)
        self._ids: dict[str, list[str]] = {}

    def splits(self) -> list[str]:
        return [s for s in OFFICIAL_SPLITS if (self.root / s).is_dir()] or list(OFFICIAL_SPLITS)

    def ids(self, split: str) -> list[str]:
        if split not in self._ids:
            found = []
            for game in sorted((self.root / split).glob("*/*/game.tw-pddl")):
                rel = str(game.parent.relative_to(self.root / split))
                if "movable" in rel or "Sliced" in rel:
                    continue
                try:
                    if not json.loads(game.read_text(encoding="utf-8")).get("solvable", False):
                        continue
                except (OSError, json.JSONDecodeError):
                    continue
                found.append(f"{split}/{rel}")
            self._ids[split] = found
        return list(self._ids[split])

    def get(self, instance_id: str) -> Mapping[str, Any]:
        folder = self.root / instance_id
        try:
            traj = json.loads((folder / "traj_data.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise UnknownTaskError(
                f"no readable ALFWorld game {instance_id!r} under {self.root}: {e}") from None
        if traj.get("task_type") not in TASK_TYPES:
            raise UnknownTaskError(f"{instance_id!r} has task type {traj.get('task_type')!r}, "
                                   "not one of ALFWorld's six")
        return {"instance_id": instance_id, "task_type": traj["task_type"],
                "game_file": str(folder / "game.tw-pddl")}


class ALFWorldEnv(TextEnv):
    """The real engine behind our text-env contract (see the module docstring)."""

    over_text = NOTHING_HAPPENS

    def __init__(self, split: str = "train", source: str = "generated", data_dir: str | None = None,
                 tasks_dir: str | None = None, reward: str = "alfworld", render_mode: str | None = None):
        try:
            import textworld  # noqa: F401
            from alfworld.agents.environment.alfred_tw_env import AlfredDemangler  # noqa: F401
        except ImportError as e:
            raise ImportError("aem/ALFWorld-v0 needs the household extra "
                              f"(pip install 'aem-gym[household]'): {e}") from None
        if source not in ("generated", "official"):
            raise ValueError(f"source must be 'generated' or 'official', got {source!r}")
        REWARDS.get(reward)  # an unknown mode fails here, listing the known ones
        tasks = shared_tasks(tasks_dir) if source == "generated" else OfficialGames(data_dir)
        if source == "generated":
            # the game files embed the installed alfworld's domain/grammar
            check_backends(tasks._set.manifest)
        super().__init__(tasks, split=split, render_mode=render_mode)
        self.source, self.reward_mode = source, reward
        self._tw: Any = None
        self._admissible: list[str] = []

    def _load(self, task: Mapping[str, Any]) -> Any:
        import textworld
        from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredInfos
        from textworld.envs.pddl import PddlEnv

        infos = textworld.EnvInfos(won=True, admissible_commands=True)
        env = AlfredInfos(AlfredDemangler(PddlEnv(infos)))
        if self.source == "official":
            env.load(task["game_file"])
        else:
            from aem_envs.household.pddl import game_json

            env.load(game_json(task))
        return env

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._close_tw()
        self._tw = self._load(task)
        state = self._tw.reset()
        self._admissible = list(state["admissible_commands"])
        self.won = bool(state["won"])
        goal = task.get("goal_text") or state.feedback.rpartition("Your task is to: ")[2].rstrip(".")
        return state.feedback, {"goal": goal}

    def _step(self, action: str) -> StepResult:
        if self.won:
            return StepResult(NOTHING_HAPPENS, is_action_valid=False, terminated=True, won=True)
        valid = action.strip() in self._admissible
        state, _, _ = self._tw.step(action)
        self._admissible = list(state["admissible_commands"])
        won = bool(state["won"])
        return StepResult(state.feedback, reward=REWARDS[self.reward_mode] if won else 0.0, terminated=won,
                          won=won, is_action_valid=valid)

    def admissible_actions(self) -> list[str] | None:
        return list(self._admissible) if self._tw is not None else None

    def _close_tw(self) -> None:
        if self._tw is not None:
            try:
                self._tw.close()
            finally:
                self._tw = None

    def close(self) -> None:
        self._close_tw()
        super().close()
