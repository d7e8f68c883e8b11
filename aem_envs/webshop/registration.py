"""Registers ``aem/WebShop-v1`` and ``-v0`` (kept import-light: string entry points, no catalog loading).

The id's version is the catalog's: ``-v1`` the harder catalog (the default, ``generate_v1``), ``-v0``
the first one, kept so that results on it stay reproducible. Rules and reward are the same (docs/webshop.md).
"""

from aem_envs.registration import register

# 15 steps: the limit of the ReAct notebook and of verl-agent's WebShop runs (docs/envs.md).
for _version in ("v0", "v1"):
    register(f"aem/WebShop-{_version}", entry_point="aem_envs.webshop.env:WebShopEnv", max_episode_steps=15,
             kwargs={"version": _version})
