"""Treasure hunt: walk between rooms, take the key, open the chest. Shows the whole TextEnv contract."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from aem_envs import StepResult, TaskSet, TextEnv

TASKS_DIR = Path(__file__).parent / "tasks"


class TreasureHuntEnv(TextEnv):
    """Reward 1 and ``won`` when the chest is opened; any command not in ``admissible_actions`` is invalid."""

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(TaskSet(TASKS_DIR), split=split, render_mode=render_mode)

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.task = task
        self.room, self.has_key = task["start"], False
        obs = f"You are hunting for treasure. Your task is to: open the chest.\n{self._describe()}"
        return obs, {}

    def _describe(self) -> str:
        t = self.task
        things = (["a key"] if t["key_room"] == self.room and not self.has_key else []) + (
            ["a chest"] if t["chest_room"] == self.room else [])
        exits = ", ".join(sorted(t["rooms"][self.room]))
        seen = f"You see {' and '.join(things)}." if things else "You see nothing special."
        return f"You are in the {self.room}. {seen} Exits: {exits}."

    def admissible_actions(self) -> list[str]:
        acts = ["look", "inventory"] + [f"go {d}" for d in sorted(self.task["rooms"][self.room])]
        if self.task["key_room"] == self.room and not self.has_key:
            acts.append("take key")
        if self.task["chest_room"] == self.room:
            acts.append("open chest")
        return acts

    def _step(self, action: str) -> StepResult:
        cmd = " ".join(action.strip().lower().split())
        if cmd not in self.admissible_actions():
            return StepResult("Nothing happens.", is_action_valid=False)
        if cmd == "look":
            return StepResult(self._describe())
        if cmd == "inventory":
            return StepResult("You carry a key." if self.has_key else "You carry nothing.")
        if cmd.startswith("go "):
            self.room = self.task["rooms"][self.room][cmd[3:]]
            return StepResult(self._describe())
        if cmd == "take key":
            self.has_key = True
            return StepResult("You take the key.")
        if not self.has_key:  # open chest without the key
            return StepResult("The chest is locked.")
        return StepResult("You unlock the chest with the key and open it. Treasure! You won.", reward=1.0,
                          terminated=True, won=True)

    def oracle_action(self) -> str | None:
        """Next step of a shortest plan: fetch the key, then walk to the chest and open it."""
        goal = self.task["chest_room"] if self.has_key else self.task["key_room"]
        if self.room == goal:
            return "open chest" if self.has_key else "take key"
        prev: dict[str, tuple[str, str] | None] = {self.room: None}
        queue = deque([self.room])
        while queue:
            room = queue.popleft()
            for d, nxt in sorted(self.task["rooms"][room].items()):
                if nxt not in prev:
                    prev[nxt] = (room, d)
                    queue.append(nxt)
        step = goal
        while prev[step] and prev[step][0] != self.room:
            step = prev[step][0]
        return f"go {prev[step][1]}"
