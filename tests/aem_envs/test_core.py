from __future__ import annotations

import gymnasium as gym
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aem_envs import REQUIRED_INFO_KEYS, Unicode
from tests.aem_envs.toy import CounterEnv


def test_reset_gives_required_info_and_text():
    env = CounterEnv()
    obs, info = env.reset(seed=1)
    assert isinstance(obs, str) and obs.startswith("Reach")
    for k in REQUIRED_INFO_KEYS:
        assert k in info
    assert info["task_type"] == "count" and info["won"] is False
    assert info["admissible_actions"] == ["inc", "stop"]


def test_same_seed_same_task_different_seeds_cover_split():
    env = CounterEnv()
    a = [env.reset(seed=s)[1]["instance_id"] for s in range(30)]
    b = [env.reset(seed=s)[1]["instance_id"] for s in range(30)]
    assert a == b
    assert set(a) == set(env.tasks.ids("train"))  # 30 draws over 8 ids reach them all


def test_instance_id_and_split_options():
    env = CounterEnv()
    _, info = env.reset(options={"instance_id": "toy-9"})
    assert info["instance_id"] == "toy-9"
    ids = {env.reset(seed=s, options={"split": "test"})[1]["instance_id"] for s in range(20)}
    assert ids == {"toy-8", "toy-9"}


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split 'nope'"):
        CounterEnv(split="nope")


def test_oracle_wins_and_reward_terminates():
    env = CounterEnv()
    _, info = env.reset(seed=0)
    for _ in range(10):
        obs, r, term, trunc, info = env.step(env.oracle_action())
        if term:
            break
    assert term and r == 1.0 and info["won"] is True


def test_non_string_action_is_invalid_observation_not_exception():
    env = CounterEnv()
    env.reset(seed=0)
    for bad in (None, 3, b"inc", ["inc"]):
        obs, r, term, trunc, info = env.step(bad)
        assert info["is_action_valid"] is False and "must be a string" in obs and not term


def test_step_before_reset_raises_reset_needed():
    with pytest.raises(gym.error.ResetNeeded):
        CounterEnv().step("inc")


def test_render_ansi_returns_last_observation():
    env = CounterEnv(render_mode="ansi")
    obs, _ = env.reset(seed=0)
    assert env.render() == obs
    with pytest.raises(ValueError):
        CounterEnv(render_mode="rgb_array")


def test_unicode_space_accepts_llm_text_and_rejects_non_strings():
    space = Unicode(100)
    assert space.contains("take mug 1 from countertop 2. <action>go</action> 🍎\n")
    assert not space.contains(b"bytes") and not space.contains("x" * 101)
    assert not gym.spaces.Text(100).contains("take mug 1 from countertop 2.")  # why Unicode exists
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(20))


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_action_gives_a_well_formed_step(action):
    env = CounterEnv()
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(action)
    assert isinstance(obs, str) and isinstance(r, float)
    assert info["is_action_valid"] == (action in ("inc", "stop"))
