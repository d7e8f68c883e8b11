"""Named evaluation suites: a suite is a function returning the env ids it covers *on this machine*.

    @suite("default")
    def default() -> list[str]: ...

``resolve_suite("default")`` gives the ids; ``resolve_suite("aem/Household-v0,aem/WebShop-v0")`` takes an
explicit comma-separated list instead. A suite may leave out envs whose runtime is missing (the software
repair env without a sandbox); the results record exactly which envs ran, so boards never mix them up.
"""

from __future__ import annotations

from collections.abc import Callable

SUITES: dict[str, Callable[[], list[str]]] = {}
DESCRIPTIONS: dict[str, str] = {}


def suite(name: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[], list[str]]) -> Callable[[], list[str]]:
        if name in SUITES:
            raise ValueError(f"suite {name!r} registered twice")
        SUITES[name] = fn
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


@suite("example", "the example plugin's treasure hunt (fast; for tests and demos)")
def example() -> list[str]:
    return ["example/TreasureHunt-v0"]


@suite("default", "household + web shopping, plus software repair where its sandbox runtime is available")
def default() -> list[str]:
    ids = [e for e in ("aem/Household-v0", "aem/WebShop-v0") if _registered(e)]
    if _can_start("aem/SWERepair-v0"):
        ids.append("aem/SWERepair-v0")
    return ids


def resolve_suite(name_or_ids: str) -> tuple[str, list[str]]:
    """``(suite_name, env_ids)`` for a suite name or a comma-separated list of env ids."""
    if name_or_ids in SUITES:
        ids = SUITES[name_or_ids]()
        if not ids:
            raise ValueError(f"suite {name_or_ids!r} has no env available on this machine (`aem envs` lists "
                             "what is registered)")
        return name_or_ids, ids
    ids = [s.strip() for s in name_or_ids.split(",") if s.strip()]
    if not ids or not all("/" in i or ":" in i for i in ids):
        raise ValueError(f"unknown suite {name_or_ids!r}; suites: {sorted(SUITES)}, or give env ids "
                         "separated by commas (e.g. aem/Household-v0,aem/WebShop-v0)")
    import aem_envs

    for i in ids:
        aem_envs.spec(i)  # unknown ids fail here with suggestions
    return "custom:" + ",".join(sorted(ids)), ids
