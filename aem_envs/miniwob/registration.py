"""Register ``aem/MiniWoB-<task>-v0`` for a handful of MiniWoB++ tasks, only if ``miniwob`` is installed.

Light: ``find_spec`` only (no selenium import, no browser). Install with ``pip install -e '.[miniwob]'``;
Chromium and chromedriver come from ``make system``.
"""

from __future__ import annotations

import importlib.util

from aem_envs.registration import register

# Tasks with a scripted oracle (oracles.py); kept in sync with generate.TASKS.
TASKS = ("click-test", "click-test-2", "click-button", "focus-text", "enter-text", "login-user")
MAX_EPISODE_STEPS = 10  # each is solved in 1-3 actions

if importlib.util.find_spec("miniwob") is not None:
    for _task in TASKS:
        register(f"aem/MiniWoB-{_task}-v0", entry_point="aem_envs.miniwob.env:MiniWoBEnv",
                 max_episode_steps=MAX_EPISODE_STEPS, kwargs={"task": _task})
