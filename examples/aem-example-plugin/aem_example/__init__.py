"""An example third-party env: a tiny treasure hunt, registered as ``example/TreasureHunt-v0``."""

from aem_envs import register


def example_suite() -> list[str]:
    """the example plugin's treasure hunt (fast; for tests and demos)"""
    return ["example/TreasureHunt-v0"]


def register_envs() -> None:
    """Called by aem_envs through the ``aem_envs.envs`` entry point; keep it cheap (no heavy imports)."""
    register("example/TreasureHunt-v0", entry_point="aem_example.env:TreasureHuntEnv", source="example",
             max_episode_steps=30)
