"""Named evaluation suites: a suite is a function returning the env ids it covers *on this machine*.

    @suite("default")
    def default() -> list[str]: ...

``resolve_suite("default")`` gives the ids; ``resolve_suite("aem/Household-v0,aem/WebShop-v1")`` takes an
explicit comma-separated list instead. A suite may leave out envs whose runtime is missing (the software
repair env without a sandbox); the results record exactly which envs ran, so boards never mix them up.

Installed packages add suites through the ``aem_gym.suites`` entry point group (name -> a function
returning env ids; its docstring's first line describes it), as the example plugin does for its
``example`` suite::

    [project.entry-points."aem_gym.suites"]
    example = "aem_example:example_suite"
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from importlib import metadata

from aem_envs.registry import Registry

SUITES: Registry[Callable[[], list[str]]] = Registry("suite")
DESCRIPTIONS: dict[str, str] = {}  # suite -> one line for `aem eval --help` and the web page
ENTRY_POINT_GROUP = "aem_gym.suites"
_plugins_loaded = False


def suite(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[], list[str]]) -> Callable[[], list[str]]:
        SUITES.register(name, fn)
        DESCRIPTIONS[name] = description or (fn.__doc__ or "").strip().splitlines()[0]
        return fn

    return wrap


def _registered(env_id: str) -> bool:
    import aem_envs
    from aem_envs.error import UnknownEnvError

    try:
        aem_envs.spec(env_id)
        return True
    except UnknownEnvError:
        return False


def _can_start(env_id: str) -> bool:
    """Whether the env can be made here (its runtime, e.g. a sandbox backend, is available)."""
    import aem_envs

    if not _registered(env_id):
        return False
    try:
        env = aem_envs.make(env_id)
    except Exception:  # noqa: BLE001 - any failure to start means "not available on this machine"
        return False
    env.close()
    return True


@suite("default", "household + web shopping, plus software repair where its sandbox runtime is available")
def default() -> list[str]:
    ids = [e for e in ("aem/Household-v0", "aem/WebShop-v1") if _registered(e)]
    if _can_start("aem/SWERepair-v0"):
        ids.append("aem/SWERepair-v0")
    return ids


def load_plugin_suites() -> None:
    """Register the suites installed packages declare (once). A plugin that fails to load, or takes a name
    already registered, is skipped with a warning: a third party's bug must not break ``aem eval``."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            if ep.name in SUITES:
                raise ValueError(f"suite {ep.name!r} is already registered")
            fn = ep.load()
            suite(ep.name, (fn.__doc__ or f"from {ep.value}").strip().splitlines()[0])(fn)
        except Exception as e:  # noqa: BLE001 - any failure: skip this plugin, keep the others
            warnings.warn(f"aem_gym suite plugin {ep.name!r} ({ep.value}) failed to load: {e}", stacklevel=2)


def resolve_suite(name_or_ids: str) -> tuple[str, list[str]]:
    """``(suite_name, env_ids)`` for a suite name or a comma-separated list of env ids."""
    load_plugin_suites()
    if name_or_ids in SUITES:
        ids = SUITES.get(name_or_ids)()
        if not ids:
            raise ValueError(f"suite {name_or_ids!r} has no env available on this machine (`aem envs` lists "
                             "what is registered)")
        return name_or_ids, ids
    ids = [s.strip() for s in name_or_ids.split(",") if s.strip()]
    if not ids or not all("/" in i or ":" in i for i in ids):
        raise ValueError(f"unknown suite {name_or_ids!r}; suites: {sorted(SUITES)}, or give env ids "
                         "separated by commas (e.g. aem/Household-v0,aem/WebShop-v1)")
    import aem_envs

    for i in ids:
        aem_envs.spec(i)  # unknown ids fail here with suggestions
    return "custom:" + ",".join(sorted(ids)), ids
