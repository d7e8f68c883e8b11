"""Register ``aem/ScienceWorld-<task>-v0`` for the 30 upstream tasks, only if ``scienceworld`` is installed.

Kept light: the task names are read from the package's own ``tasks.json`` file (no import of the package,
no JVM). Install with ``pip install -e '.[scienceworld]'``; Java 17 comes from ``make system``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from aem_envs.registration import register

MAX_EPISODE_STEPS = 100  # upstream's default envStepLimit
# Tasks whose gold paths are long: twice the gold path of the first test variation (scienceworld 1.2.3),
# rounded up to 50, so the oracle and a careful agent can finish (gold paths run up to 192 steps).
LONG_TASK_STEPS = {
    "boil": 200, "melt": 150, "freeze": 200, "change-the-state-of-matter-of": 150,
    "measure-melting-point-unknown-substance": 200, "grow-plant": 150, "grow-fruit": 200,
    "inclined-plane-determine-angle": 200, "inclined-plane-friction-named-surfaces": 250,
    "inclined-plane-friction-unnamed-surfaces": 400, "mendelian-genetics-known-plant": 300,
    "mendelian-genetics-unknown-plant": 300,
}


def upstream_task_names() -> list[str]:
    spec = importlib.util.find_spec("scienceworld")
    if spec is None or not spec.submodule_search_locations:
        return []
    path = Path(next(iter(spec.submodule_search_locations))) / "tasks.json"
    try:
        return [t["task_name"] for t in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, KeyError):
        return []


for _task in upstream_task_names():
    register(f"aem/ScienceWorld-{_task}-v0", entry_point="aem_envs.scienceworld.env:ScienceWorldEnv",
             max_episode_steps=LONG_TASK_STEPS.get(_task, MAX_EPISODE_STEPS), kwargs={"task_name": _task})
