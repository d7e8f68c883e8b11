"""aem/ScienceWorld-<task>-v0: contract, gold path, admissible actions, determinism (needs Java 17)."""

from __future__ import annotations

import importlib.util
import random

import pytest

import aem_envs

if importlib.util.find_spec("scienceworld") is None:
    pytest.skip("scienceworld is not installed (pip install -e '.[scienceworld]')", allow_module_level=True)

from aem_envs._upstream import java_problem  # noqa: E402

if java_problem():
    pytest.skip(f"ScienceWorld needs Java: {java_problem()}", allow_module_level=True)

ENV_ID = "aem/ScienceWorld-find-animal-v0"
INSTANCE = "find-animal-3"


@pytest.fixture(scope="module")
def env():
    e = aem_envs.make(ENV_ID)
    yield e
    e.close()


def test_all_thirty_tasks_registered_with_pinned_tasks():
    ids = [e.id for e in aem_envs.list_envs() if e.id.startswith("aem/ScienceWorld-")]
    assert len(ids) == 30 and "aem/ScienceWorld-boil-v0" in ids
    # Long gold paths (192 steps in inclined-plane-friction-unnamed-surfaces-120) fit in the step limit.
    friction = aem_envs.spec("aem/ScienceWorld-inclined-plane-friction-unnamed-surfaces-v0")
    assert friction.max_episode_steps >= 384
    assert aem_envs.spec("aem/ScienceWorld-find-animal-v0").max_episode_steps == 100
    from importlib import metadata

    ts = aem_envs.TaskSet.open("scienceworld", "v0")
    assert ts.manifest.backends == {"scienceworld": metadata.version("scienceworld")}
    assert ts.get("boil-0")["split"] == "train" and len(ts.ids("test")) > 1000


def test_aem_check_passes():
    # The valid-action listing is off here (it costs ~0.3 s a step); test_admissible covers it.
    aem_envs.check(ENV_ID, steps=3, max_admissible=2, fuzz=8)


def test_gold_path_wins(env):
    obs, info = env.reset(options={"instance_id": INSTANCE})
    assert "Your task is to find" in obs and info["score"] == 0 and "admissible_actions" not in info
    total, steps = 0.0, 0
    while (action := env.unwrapped.oracle_action()) is not None:
        obs, reward, terminated, truncated, info = env.step(action)
        total, steps = total + reward, steps + 1
        assert info["is_action_valid"], (action, obs)
        if terminated or truncated:
            break
    assert terminated and info["won"] and info["score"] == 100
    assert total == pytest.approx(1.0) and steps == len(env.unwrapped.gold_path())
    assert env.unwrapped.oracle_action() is None  # the episode is over


def test_same_seed_same_episode_and_off_path_oracle(env):
    first = [env.reset(seed=7)[0]] + [env.step(a)[0] for a in ("look around", "open door to hallway")]
    second = [env.reset(seed=7)[0]] + [env.step(a)[0] for a in ("look around", "open door to hallway")]
    assert first == second
    env.reset(options={"instance_id": INSTANCE})
    env.step("wait1")
    assert env.unwrapped.oracle_action() is None  # off the gold path: no planner to follow


def test_admissible_actions_are_accepted(env):
    rng = random.Random(0)
    env.reset(options={"instance_id": INSTANCE})
    prefix = env.unwrapped.gold_path()[:2]
    for a in prefix:
        env.step(a)
    listed = env.unwrapped.admissible_actions()
    assert listed and listed == sorted(set(listed))
    for action in rng.sample(listed, 4):
        env.reset(options={"instance_id": INSTANCE})
        for a in prefix:
            env.step(a)
        obs, *_, info = env.step(action)
        assert info["is_action_valid"], (action, obs)


def test_requested_admissible_in_info_and_bad_input(env):
    env.unwrapped.request_admissible = True  # what make(ENV_ID, admissible_actions=True) sets
    try:
        _, info = env.reset(options={"instance_id": INSTANCE})
        assert "look around" in info["admissible_actions"]
        for bad in ("", "x" * 10_000, "\ud800", "fly to the moon"):
            obs, reward, terminated, _, info = env.step(bad)
            assert not info["is_action_valid"] and reward == 0 and not terminated
            assert isinstance(info["admissible_actions"], list)
    finally:
        env.unwrapped.request_admissible = False
