"""Registers ``aem/Household-v0`` and, when alfworld and textworld are installed, ``aem/ALFWorld-v0``.

Kept light: string entry points and a ``find_spec`` probe, no heavy imports.
"""

from importlib.util import find_spec

from aem_envs.registration import register

MAX_STEPS = 50  # ALFWorld's max_nb_steps_per_episode; invalid commands count too

register("aem/Household-v0", entry_point="aem_envs.household.env:HouseholdEnv", max_episode_steps=MAX_STEPS)
if find_spec("alfworld") is not None and find_spec("textworld") is not None:
    register("aem/ALFWorld-v0", entry_point="aem_envs.household.alfworld_env:ALFWorldEnv",
             max_episode_steps=MAX_STEPS)
