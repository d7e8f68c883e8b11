"""Record whole trajectories as JSON lines."""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _file_locks_guard:
        return _file_locks.setdefault(str(path.resolve()), threading.Lock())


def to_jsonable(x: Any, depth: int = 0) -> Any:
    """``x`` made JSON-safe (env infos may hold numpy scalars, sets, objects): containers are recursed into
    (to depth 6), non-finite floats become strings, and anything else JSON cannot hold becomes its repr."""
    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, np.generic):
        return to_jsonable(x.item(), depth)
    if depth > 6:
        return repr(x)
    if isinstance(x, dict):  # plain values are copied without a call: infos are recorded every turn
        return {(k if type(k) is str else str(k)): (v if type(v) in _PLAIN else to_jsonable(v, depth + 1))
                for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        if all(type(v) is str for v in x):  # the common case (admissible actions): nothing to convert
            return list(x)
        return [to_jsonable(v, depth + 1) for v in x]
    return repr(x)


_PLAIN = frozenset({str, int, bool, type(None)})  # exact types to_jsonable returns unchanged


class TrajectoryRecorder(gym.Wrapper[str, str, str, str]):
    """Append one JSON line per episode to ``path``: env id, seed, instance id, every turn, return, won.

    An episode is written when it ends, and an unfinished one when the env is reset or closed (marked
    ``"finished": false``), so nothing is lost. Several recorders may share one file (a lock per path).
    ``keep_info`` limits which info keys are stored (``None`` stores all).
    """

    def __init__(self, env: gym.Env, path: str | Path, keep_info: tuple[str, ...] | None = None):
        super().__init__(env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.keep_info = keep_info
        self._episode: dict[str, Any] | None = None

    def _info(self, info: dict[str, Any]) -> dict[str, Any]:
        kept = info if self.keep_info is None else {k: info[k] for k in self.keep_info if k in info}
        return to_jsonable(kept)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        self._flush(finished=False)
        obs, info = self.env.reset(seed=seed, options=options)
        spec = getattr(self.env, "spec", None)
        self._episode = {"env_id": spec.id if spec else None, "seed": seed,
                         "options": to_jsonable(options or {}),
                         "instance_id": info.get("instance_id"), "task_type": info.get("task_type"),
                         "started": time.time(), "observation": obs, "reset_info": self._info(info),
                         "turns": [], "return": 0.0, "won": False}
        return obs, info

    def step(self, action: str):
        obs, reward, terminated, truncated, info = self.env.step(action)
        if self._episode is not None:
            self._episode["turns"].append({"action": to_jsonable(action), "observation": obs,
                                           "reward": reward, "terminated": terminated,
                                           "truncated": truncated, "info": self._info(info)})
            self._episode["return"] += float(reward)
            self._episode["won"] = bool(info.get("won", False))
            if terminated or truncated:
                self._flush(finished=True)
        return obs, reward, terminated, truncated, info

    def _flush(self, finished: bool) -> None:
        if self._episode is None:
            return
        ep, self._episode = self._episode, None
        ep["finished"] = finished
        line = json.dumps(ep, ensure_ascii=False) + "\n"
        with _lock_for(self.path), open(self.path, "a", encoding="utf-8") as f:
            f.write(line)

    def close(self) -> None:
        self._flush(finished=False)
        super().close()
