"""Env ids, registration and ``make``.

Our envs are registered with ``gymnasium.register`` under ids ``aem/<Name>-v<N>``: each env folder
(``aem_envs/<family>/``) has a ``registration.py`` that is imported by ``load_builtin()``. Third-party
packages register theirs through the entry-point group ``aem_envs.envs`` (gymnasium ≥ 1.0 dropped its own
plugin loading), with either a module (registration on import) or a zero-argument function::

    [project.entry-points."aem_envs.envs"]
    my_envs = "my_package.envs:register_envs"

``aem_envs.make`` loads both, then defers to ``gymnasium.make``; an unknown id gets the nearest ids in
the error. ``gymnasium.make("aem/...")`` works too once ``aem_envs`` is imported.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
import re
import sys
import threading
import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

from aem_envs.error import UnknownEnvError

ENTRY_POINT_GROUP = "aem_envs.envs"
NAMESPACE = "aem"
_OUR_ID = re.compile(r"^aem/[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*-v\d+$")

_lock = threading.RLock()
_sources: dict[str, str] = {}  # env id -> "builtin" or the plugin's entry-point name
_builtin_loaded = False
_plugins_loaded = False
_plugin_errors: dict[str, str] = {}
_loaded_plugins: set[str] = set()


def register(env_id: str, entry_point: Any, *, source: str = "builtin", **kwargs: Any) -> None:
    """``gymnasium.register`` with our id rules: ids in the ``aem`` namespace must read ``aem/Name-vN``.

    Every env registered here gets ``aem_envs.core.EpisodeEnd`` outermost, so a ``TextEnv`` knows when
    ``make``'s ``TimeLimit`` truncated it and answers later steps with its end-of-episode observation.
    """
    if env_id.startswith(f"{NAMESPACE}/") and not _OUR_ID.match(env_id):
        raise ValueError(f"env id {env_id!r} must look like 'aem/<Name>-v<N>', e.g. 'aem/Household-v0'")
    end = WrapperSpec("EpisodeEnd", "aem_envs.core:EpisodeEnd", {})
    wrappers = tuple(kwargs.pop("additional_wrappers", ()))
    with _lock:
        if env_id in gym.registry and _sources.get(env_id) == source:
            return  # re-import of the same registration module: nothing to do
        gym.register(id=env_id, entry_point=entry_point, additional_wrappers=(*wrappers, end), **kwargs)
        _sources[env_id] = source


def load_builtin() -> None:
    """Import ``aem_envs.<family>.registration`` for every env folder in the package (once)."""
    global _builtin_loaded
    with _lock:
        if _builtin_loaded:
            return
        import aem_envs

        for mod in sorted(pkgutil.iter_modules(aem_envs.__path__), key=lambda m: m.name):
            if mod.ispkg and importlib.util.find_spec(f"aem_envs.{mod.name}.registration") is not None:
                importlib.import_module(f"aem_envs.{mod.name}.registration")
        _builtin_loaded = True


def load_plugins(force: bool = False) -> dict[str, str]:
    """Load every entry point of the ``aem_envs.envs`` group; returns ``{name: error}`` for broken ones.

    A broken plugin never stops the others from loading: its error is kept, warned once, and shown by
    ``aem envs``.
    """
    global _plugins_loaded
    with _lock:
        if _plugins_loaded and not force:
            return dict(_plugin_errors)
        pending = False
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in _loaded_plugins:
                continue
            if _initializing(ep.module):
                # The plugin itself is being imported and imported aem_envs on the way: load it on the
                # next call (make, list_envs) instead of failing on its half-built module.
                pending = True
                continue
            before = set(gym.registry)
            try:
                obj = ep.load()
                if callable(obj):
                    obj()
            except Exception as e:  # a third party's bug must not break `aem envs`
                _plugin_errors[ep.name] = f"{type(e).__name__}: {e}"
                warnings.warn(f"aem_envs plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)
                continue
            _loaded_plugins.add(ep.name)
            for env_id in set(gym.registry) - before:
                _sources.setdefault(env_id, ep.name)
        _plugins_loaded = not pending
        return dict(_plugin_errors)


def _initializing(module: str) -> bool:
    top = sys.modules.get(module.split(".")[0])
    mod = sys.modules.get(module)
    return any(getattr(getattr(m, "__spec__", None), "_initializing", False) for m in (top, mod) if m)


def load_all() -> None:
    load_builtin()
    load_plugins()


@dataclass(frozen=True)
class EnvInfo:
    """One row of ``list_envs()``."""

    id: str
    entry_point: str
    max_episode_steps: int | None
    source: str


def list_envs(include_gymnasium: bool = False) -> list[EnvInfo]:
    """Registered envs, ours and the plugins' (gymnasium's own classic-control ids only if asked)."""
    load_all()
    rows = []
    for env_id, spec in sorted(gym.registry.items()):
        source = _sources.get(env_id)
        if source is None and not include_gymnasium:
            continue
        ep = (spec.entry_point if isinstance(spec.entry_point, str)
              else getattr(spec.entry_point, "__qualname__", "?"))
        rows.append(EnvInfo(env_id, ep, spec.max_episode_steps, source or "gymnasium"))
    return rows


def suggest(env_id: str, n: int = 3) -> list[str]:
    """The registered ids nearest to ``env_id`` (case-insensitive, version-insensitive first)."""
    load_all()
    ids = list(gym.registry)
    lowered = {i.lower(): i for i in ids}
    hits = difflib.get_close_matches(env_id.lower(), list(lowered), n=n, cutoff=0.5)
    base = re.sub(r"-v\d+$", "", env_id).lower()
    same_base = [i for i in ids if re.sub(r"-v\d+$", "", i).lower() == base]
    out = same_base + [lowered[h] for h in hits]
    return list(dict.fromkeys(out))[:n]


def spec(env_id: str) -> gym.envs.registration.EnvSpec:
    load_all()
    if env_id not in gym.registry:
        near = suggest(env_id)
        hint = f" Did you mean {', '.join(repr(s) for s in near)}?" if near else ""
        raise UnknownEnvError(f"no env registered as {env_id!r}.{hint} `aem envs` lists them all.")
    return gym.registry[env_id]


def make(env_id: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` after loading our envs and the plugins; unknown ids get suggestions. The step
    limit (``max_episode_steps``) is also told to the env as ``turn_limit`` where it has that attribute
    (gymnasium hides it from the env; SWE grades the repository on its last turn)."""
    spec(env_id)
    env = gym.make(env_id, **kwargs)
    limit = getattr(env.spec, "max_episode_steps", None)
    if limit and hasattr(env.unwrapped, "turn_limit"):
        env.unwrapped.turn_limit = int(limit)
    return env


def source_of(env_id: str) -> str | None:
    return _sources.get(env_id)
