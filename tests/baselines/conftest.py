"""Shared fixture: a fast trainer config on TreasureHunt (the tiny model comes from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_config(tiny_model_dir, tmp_path):
    """A config whose train step takes well under a second: 2 groups x 2 copies, 3 turns, 8 new tokens."""
    from aem_gym.baselines.config import load_config

    def make(**over):
        base = {"algo": "grpo+aem", "out_dir": str(tmp_path / "run"), "model.init": str(tiny_model_dir),
                "env.id": "example/TreasureHunt-v0",
                "model.max_new_tokens": 8, "model.max_prompt_tokens": 160, "env.max_turns": 3,
                "rollout.groups": 2, "rollout.group_size": 2, "rl.steps": 2, "rl.lr": 0.01,
                "update.mini_batch_size": 6, "update.micro_batch_size": 4, "eval.every": 0,
                "eval.episodes": 2, "eval.final_episodes": 2, "checkpoint.every": 1,
                "checkpoint.keep_last": 5}
        base.update(over)
        return load_config(None, overrides=base)

    return make
