"""aem_envs: Gymnasium environments for multi-turn text tasks.

    import gymnasium as gym
    import aem_envs  # registers the aem/* ids and loads plugins from the `aem_envs.envs` entry points

    env = gym.make("aem/Household-v0")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(info["admissible_actions"][0])

This package imports none of the suite's other packages: an env knows no policy.
"""

from aem_envs.checker import CheckReport, check
from aem_envs.core import REQUIRED_INFO_KEYS, StepResult, TextEnv
from aem_envs.registration import list_envs, load_all, make, register, spec
from aem_envs.spaces import Unicode
from aem_envs.tasks import Manifest, TaskProvider, TaskSet, tasks_root, write_manifest, write_records

__version__ = "0.1.0"
__all__ = [
    "REQUIRED_INFO_KEYS", "CheckReport", "Manifest", "StepResult", "TaskProvider", "TaskSet", "TextEnv",
    "Unicode", "check", "list_envs", "load_all", "make", "register", "spec", "tasks_root", "write_manifest",
    "write_records",
]

load_all()
