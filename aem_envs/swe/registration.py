"""Registers aem/SWERepair-v0 (string entry point: nothing heavy is imported here)."""

from aem_envs.registration import register

register("aem/SWERepair-v0", entry_point="aem_envs.swe.env:SWERepairEnv", max_episode_steps=50)
