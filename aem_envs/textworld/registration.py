"""Register ``aem/TextWorld-<kind>-v0`` (if ``textworld`` is installed) and ``aem/TWX-<game>-v0`` (if
``textworld_express`` is). Light: ``find_spec`` only, no upstream import, no JVM, no game generation.
Install with ``pip install -e '.[textworld]'``; TextWorldExpress needs Java 17 (``make system``).
"""

from __future__ import annotations

import importlib.util

from aem_envs.registration import register

TEXTWORLD_KINDS = ("coin", "treasure", "custom")  # as in generate.TEXTWORLD_KINDS (kept import-free here)
TWX_GAMES = ("cookingworld", "coin", "twc", "mapreader", "arithmetic", "sorting", "simonsays", "peckingorder")
# TextWorld games are solved in 3-20 commands; 100 is also TextWorldExpress's default envStepLimit.
MAX_EPISODE_STEPS = 100

if importlib.util.find_spec("textworld") is not None:
    for _kind in TEXTWORLD_KINDS:
        register(f"aem/TextWorld-{_kind}-v0", entry_point="aem_envs.textworld.tw:TextWorldEnv",
                 max_episode_steps=MAX_EPISODE_STEPS, kwargs={"kind": _kind})

if importlib.util.find_spec("textworld_express") is not None:
    for _game in TWX_GAMES:
        register(f"aem/TWX-{_game}-v0", entry_point="aem_envs.textworld.twx:TextWorldExpressEnv",
                 max_episode_steps=MAX_EPISODE_STEPS, kwargs={"game": _game})
