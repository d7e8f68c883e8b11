"""Registers ``aem/WebShop-v0`` (kept import-light: a string entry point, no catalog loading)."""

from aem_envs.registration import register

# 15 steps: the limit of the ReAct notebook and of verl-agent's WebShop runs (docs/envs.md).
register("aem/WebShop-v0", entry_point="aem_envs.webshop.env:WebShopEnv", max_episode_steps=15)
