"""Small in-memory envs for testing the core, wrappers and checker (good ones and deliberately broken
ones)."""

from __future__ import annotations

from typing import Any

from aem_envs import StepResult, TextEnv


class DictTasks:
    """A TaskProvider over a dict, no files."""

    name, version = "toy", "v0"

    def __init__(self, n: int = 10):
        self.records = {f"toy-{i}": {"instance_id": f"toy-{i}", "task_type": "count", "target": i % 4 + 1}
                        for i in range(n)}
        ids = list(self.records)
        self._splits = {"train": ids[: n - 2], "test": ids[n - 2:]}

    def splits(self) -> list[str]:
        return list(self._splits)

    def ids(self, split: str) -> list[str]:
        return self._splits[split]

    def get(self, instance_id: str) -> dict[str, Any]:
        return self.records[instance_id]


class CounterEnv(TextEnv):
    """Say "inc" until the counter reaches the task's target, then "stop"."""

    def __init__(self, split: str = "train", render_mode: str | None = None):
        super().__init__(DictTasks(), split=split, render_mode=render_mode)

    def _reset_task(self, task, options):
        self.target, self.count = task["target"], 0
        return f"Reach {self.target}. Count is 0.", {}

    def admissible_actions(self):
        return ["inc", "stop"]

    def _step(self, action: str) -> StepResult:
        if action == "inc":
            self.count += 1
            return StepResult(f"Count is {self.count}.")
        if action == "stop":
            won = self.count == self.target
            return StepResult("You win." if won else "You lose.", reward=float(won), terminated=True, won=won)
        return StepResult("Nothing happens.", is_action_valid=False)

    def oracle_action(self):
        return "inc" if self.count < self.target else "stop"


class NondeterministicEnv(CounterEnv):
    """Broken: its observation depends on a global counter, so two copies disagree."""

    calls = 0

    def _reset_task(self, task, options):
        NondeterministicEnv.calls += 1
        obs, info = super()._reset_task(task, options)
        return f"{obs} (call {NondeterministicEnv.calls})", info


class CrashyEnv(CounterEnv):
    """Broken: raises on text it does not expect."""

    def _step(self, action: str) -> StepResult:
        if action not in ("inc", "stop"):
            raise ValueError(f"cannot parse {action!r}")
        return super()._step(action)


class LyingAdmissibleEnv(CounterEnv):
    """Broken: lists an action it then rejects."""

    def admissible_actions(self):
        return ["inc", "stop", "dance"]
