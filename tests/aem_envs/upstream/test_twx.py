"""aem/TWX-<game>-v0 (TextWorldExpress): contract, gold paths win, determinism (needs Java 17)."""

from __future__ import annotations

import importlib.util

import pytest

import aem_envs

if importlib.util.find_spec("textworld_express") is None:
    pytest.skip("textworld-express is not installed (pip install -e '.[textworld]')", allow_module_level=True)

from aem_envs._upstream import java_problem  # noqa: E402

if java_problem():
    pytest.skip(f"TextWorldExpress needs Java: {java_problem()}", allow_module_level=True)

GAMES = ("cookingworld", "coin", "twc", "mapreader", "arithmetic", "sorting", "simonsays", "peckingorder")


def test_registered_with_pinned_seed_folds():
    ids = {e.id for e in aem_envs.list_envs()}
    assert {f"aem/TWX-{g}-v0" for g in GAMES} <= ids
    ts = aem_envs.TaskSet.open("twx", "v0")
    assert set(ts.manifest.backends) == {"textworld-express"}
    rec = ts.get("coin-test-20000")
    assert (rec["fold"], rec["seed"], rec["split"]) == ("test", 20000, "test")


def test_aem_check_passes():
    aem_envs.check("aem/TWX-cookingworld-v0", steps=3, max_admissible=4, fuzz=16)


@pytest.mark.parametrize("game", GAMES)
def test_gold_path_wins(game):
    env = aem_envs.make(f"aem/TWX-{game}-v0", split="test")
    try:
        obs, info = env.reset(seed=3)
        assert obs.startswith(info["task_description"]) and info["admissible_actions"]
        total, terminated = 0.0, False
        while (action := env.unwrapped.oracle_action()) is not None:
            obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            if terminated or truncated:
                break
        assert terminated and info["won"] and total == pytest.approx(1.0), (game, obs)
        assert info["admissible_actions"] == [] and env.unwrapped.oracle_action() is None
    finally:
        env.close()


def test_same_seed_same_episode_and_invalid_text():
    env = aem_envs.make("aem/TWX-coin-v0")
    try:
        runs = []
        for _ in range(2):
            obs, info = env.reset(seed=11)
            acts = info["admissible_actions"]
            runs.append([obs] + [env.step(acts[0])[0], env.step("look around")[0]])
        assert runs[0] == runs[1]
        obs, reward, terminated, _, info = env.step("fly to the moon")
        assert not info["is_action_valid"] and obs.startswith("Unknown action") and reward == 0
        env.step("take")  # off the gold path now
        assert env.unwrapped.oracle_action() is None
    finally:
        env.close()
