"""Contract points every registered env must keep (issue 17's env fixes): nothing is paid after the end of
an episode, ``reset(options=...)`` refuses bad options, and ``AsyncVectorEnv`` works with its default
shared memory.

Every registered id is checked for the end-of-episode wrapper; the behaviour runs once per env class (ids of
one family share the class, e.g. the 30 ScienceWorld tasks), skipping a class whose runtime is missing here.
"""

from __future__ import annotations

from collections import defaultdict

import gymnasium as gym
import pytest

import aem_envs
from aem_envs.core import EpisodeEnd, TextEnv

ALL_IDS = sorted(e.id for e in aem_envs.list_envs())
_BY_CLASS: dict[str, list[str]] = defaultdict(list)
for _e in aem_envs.list_envs():
    _BY_CLASS[_e.entry_point].append(_e.id)
ONE_PER_CLASS = sorted(min(ids) for ids in _BY_CLASS.values())
FAST = ["aem/Household-v0", "aem/WebShop-v0", "example/TreasureHunt-v0"]


def _make(env_id: str, **kwargs) -> gym.Env:
    try:
        return aem_envs.make(env_id, **kwargs)
    except (ImportError, RuntimeError, OSError) as e:  # a runtime (sandbox, JVM, browser) missing here
        pytest.skip(f"{env_id} cannot start here: {type(e).__name__}: {e}")


def _act(env: gym.Env, info: dict) -> str:
    act = env.unwrapped.oracle_action()
    return act if act is not None else (info.get("admissible_actions") or ["look"])[0]


def test_both_lists_cover_the_fast_envs():
    assert set(FAST) <= set(ALL_IDS) and set(ONE_PER_CLASS) <= set(ALL_IDS)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_every_registered_env_ends_episodes_in_the_core(env_id):
    spec = aem_envs.spec(env_id)
    assert [w.name for w in spec.additional_wrappers][-1:] == ["EpisodeEnd"], spec.additional_wrappers


@pytest.mark.parametrize("env_id", ONE_PER_CLASS)
def test_after_truncation_nothing_is_paid_and_the_end_repeats(env_id):
    env = _make(env_id, max_episode_steps=1)
    try:
        assert isinstance(env, EpisodeEnd) and isinstance(env.unwrapped, TextEnv)
        obs, info = env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(_act(env, info))
        assert terminated or truncated
        won = info["won"]  # a one-step task may be won on the truncating step itself
        for _ in range(40 if env_id in FAST else 4):  # enough for the oracle to win the task if it could play
            obs, reward, term2, trunc2, info = env.step(_act(env, info))
            assert reward == 0.0 and obs == env.unwrapped.over_text
            assert (term2, trunc2) == (terminated, truncated) and info["episode_over"] is True
            assert info["is_action_valid"] is False and info.get("admissible_actions", []) == []
            assert info["won"] is won
        env.reset(seed=0)  # and a reset starts a playable episode again
        assert not env.unwrapped.episode_over
    finally:
        env.close()


@pytest.mark.parametrize("env_id", FAST)
def test_after_a_win_nothing_is_paid_again(env_id):
    env = _make(env_id)
    try:
        obs, info = env.reset(seed=0)
        for _ in range(60):
            obs, reward, terminated, truncated, info = env.step(_act(env, info))
            if terminated or truncated:
                break
        assert terminated and info["won"] and reward > 0
        last = env.unwrapped._last_observation
        for action in ("open chest", "click[buy now]", "look", last):
            obs, reward, term2, trunc2, info2 = env.step(action)
            assert (reward, term2, trunc2, obs) == (0.0, True, False, env.unwrapped.over_text)
            assert info2["won"] is True and info2["episode_over"] is True
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ONE_PER_CLASS)
def test_reset_options_are_checked(env_id):
    env = _make(env_id)
    try:
        name = type(env.unwrapped).__name__
        for bad in ([("instance_id", "x")], "instance_id", 3):
            with pytest.raises(TypeError, match=r"takes a dict .*allowed keys: \['instance_id', 'split'"):
                env.reset(seed=0, options=bad)
        with pytest.raises(ValueError,
                           match=rf"{name}.reset\(options=...\) got unknown key\(s\) 'instanceid'"):
            env.reset(seed=0, options={"instanceid": "x"})
        with pytest.raises(TypeError, match="options\\['instance_id'\\] must be a task id string"):
            env.reset(seed=0, options={"instance_id": ["x"]})
        with pytest.raises(TypeError, match="options\\['split'\\] must be a split name string"):
            env.reset(seed=0, options={"split": 1})
        _, info = env.reset(seed=0, options={"split": env.unwrapped.split})  # good options still work
        assert info["instance_id"] in env.unwrapped.tasks.ids(env.unwrapped.split)
    finally:
        env.close()


@pytest.mark.parametrize("env_id", ["example/TreasureHunt-v0", "aem/WebShop-v0", "aem/Household-v0"])
def test_async_vector_env_with_default_shared_memory(env_id):
    def fn():
        return aem_envs.make(env_id)

    def play(shared: bool) -> list:
        vec = gym.vector.AsyncVectorEnv([fn, fn], shared_memory=shared)
        try:
            obs, infos = vec.reset(seed=[3, 4])
            out = [tuple(obs)]
            for _ in range(2):
                acts = tuple(a[0] if len(a) else "look" for a in infos["admissible_actions"])
                obs, *_, infos = vec.step(acts)
                out.append(tuple(obs))
            return out
        finally:
            vec.close()

    with_shm = play(True)
    assert with_shm == play(False)
    single = aem_envs.make(env_id)
    try:
        assert with_shm[0][0] == single.reset(seed=3)[0]  # exact text: no padding, no lost characters
    finally:
        single.close()
    assert all("\n" in o or "[SEP]" in o for o in with_shm[0]) and max(len(o) for o in with_shm[0]) < 10_000


def test_unicode_shared_memory_round_trips_any_text():
    import copy
    import multiprocessing
    import pickle

    from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

    from aem_envs.spaces import Unicode

    space = Unicode(16)
    mem = create_shared_memory(space, n=3, ctx=multiprocessing.get_context("spawn"))
    view = read_from_shared_memory(space, mem, n=3)
    texts = ["a=b\n\tc", "", "é😀\ud800 ok"]
    for i, t in enumerate(texts):
        write_to_shared_memory(space, i, t, mem)
    assert tuple(view) == tuple(texts) and view == texts and view[1:] == tuple(texts[1:])
    snapshot = copy.deepcopy(view)
    write_to_shared_memory(space, 0, "new", mem)
    assert snapshot == tuple(texts) and type(snapshot) is tuple and view[0] == "new"
    assert pickle.loads(pickle.dumps(view))[0] == "new"
    with pytest.raises(ValueError, match="at most 16 characters"):
        write_to_shared_memory(space, 0, "x" * 17, mem)


@pytest.mark.parametrize("env_id", ONE_PER_CLASS)
def test_an_unknown_split_raises_with_the_splits_there_are(env_id):
    with pytest.raises(ValueError, match=r"unknown split 'no-such-split'; .* has \["):
        env = _make(env_id, split="no-such-split")
        env.close()


def test_swe_without_a_split_takes_the_sources_first():
    env = _make("aem/SWERepair-v0")
    try:
        assert env.unwrapped.split == env.unwrapped.tasks.splits()[0] == "train"
    finally:
        env.close()
