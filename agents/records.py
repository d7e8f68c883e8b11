"""What the rollout engine returns: per-turn rows, whole trajectories, and their JSONL files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aem_envs.wrappers.recorder import to_jsonable
from aem_gym.agents.types import TurnRecord

jsonable = to_jsonable  # one implementation, shared with the recorder and the leaderboard


@dataclass
class Trajectory:
    """One episode. ``turns`` are its ``TurnRecord`` rows (token ids included); ``to_json`` writes a
    compact form (actions, observations, rewards) for logs and replay."""

    group_uid: str
    traj_uid: str
    env_id: str
    seed: int | None
    instance_id: str = ""
    task_type: str = ""
    first_observation: str = ""
    final_observation: str = ""
    episode_return: float = 0.0
    won: bool = False
    terminated: bool = False
    truncated: bool = False
    timed_out: bool = False
    error: str | None = None
    # The loop stopped it at its own turn budget (``EpisodeSpec.max_turns``) while the env still ran.
    budget_reached: bool = False
    # The policy's backend failed (``agents.errors.BackendError``): status "error", not the agent's loss.
    backend_error: bool = False
    wall_s: float = 0.0
    turns: list[TurnRecord] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.turns)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "turns"}
        d["length"] = self.length
        d["steps"] = [{"observation": t.observation, "action": t.action_text, "reward": t.reward,
                       "is_action_valid": t.is_action_valid} for t in self.turns]
        return d


@dataclass
class RolloutResult:
    """``turns``: every row of every trajectory, trajectory by trajectory in task order, turn by turn.
    ``trajectories``: in the same order (group 0 copies 0..G-1, group 1, ...)."""

    turns: list[TurnRecord]
    trajectories: list[Trajectory]
    stats: dict[str, float] = field(default_factory=dict)

    def active_mask(self) -> np.ndarray:
        """``[n_trajectories, max_turns]`` bool: True where the trajectory had that turn (verl-agent's
        ``active_masks``: padding for batched per-turn tensors)."""
        n = max((t.length for t in self.trajectories), default=0)
        mask = np.zeros((len(self.trajectories), n), dtype=bool)
        for i, t in enumerate(self.trajectories):
            mask[i, : t.length] = True
        return mask

    def groups(self) -> dict[str, list[Trajectory]]:
        out: dict[str, list[Trajectory]] = {}
        for t in self.trajectories:
            out.setdefault(t.group_uid, []).append(t)
        return out

    def summary(self) -> dict[str, float]:
        n = len(self.trajectories)
        return {
            "episodes": n,
            "success_rate": sum(t.won for t in self.trajectories) / n if n else 0.0,
            "mean_return": sum(t.episode_return for t in self.trajectories) / n if n else 0.0,
            "mean_length": sum(t.length for t in self.trajectories) / n if n else 0.0,
            "timed_out": sum(t.timed_out for t in self.trajectories),
            "errors": sum(t.error is not None for t in self.trajectories),
            "backend_errors": sum(t.backend_error for t in self.trajectories),
            **self.stats,
        }

    def write_jsonl(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``turns.jsonl`` (one row per turn) and ``trajectories.jsonl``; returns both paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        turns_path, traj_path = out / "turns.jsonl", out / "trajectories.jsonl"
        with turns_path.open("w", encoding="utf-8") as f:
            for r in self.turns:
                f.write(json.dumps(jsonable(r.to_json()), ensure_ascii=False) + "\n")
        with traj_path.open("w", encoding="utf-8") as f:
            for t in self.trajectories:
                f.write(json.dumps(jsonable(t.to_json()), ensure_ascii=False) + "\n")
        return turns_path, traj_path


def read_turns(path: str | Path) -> list[TurnRecord]:
    """Rows back from a ``turns.jsonl`` file."""
    with Path(path).open(encoding="utf-8") as f:
        return [TurnRecord(**json.loads(line)) for line in f if line.strip()]
