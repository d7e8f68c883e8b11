from __future__ import annotations

import time
from functools import partial

import gymnasium as gym
import pytest

from aem_envs.wrappers import InvalidActionPenalty
from aem_gym.agents import RolloutEngine, make_policy, read_turns
from aem_gym.agents.types import Generation, SamplingParams

ENV = "example/TreasureHunt-v0"


def engine(**kw):
    return RolloutEngine(progress=False, **{"workers": 2, **kw})


def rows_key(result):
    return [(r.traj_uid, r.turn_idx, r.observation, r.action_text, r.reward, r.done) for r in result.turns]


def test_groups_uids_and_shared_start():
    res = engine().run(ENV, tasks=[(None, 0), (None, 1), ("treasure-003", 5)], group_size=3,
                       policy=make_policy("random"), max_turns=6)
    assert len(res.trajectories) == 9
    groups = res.groups()
    assert list(groups) == [f"{res.trajectories[0].group_uid[:-3]}-g{i}" for i in range(3)]
    for trajs in groups.values():
        assert [t.traj_uid for t in trajs] == [f"{t.group_uid}-{c}" for c, t in enumerate(trajs)]
        # same task, same start
        assert len({(t.instance_id, t.first_observation, t.seed) for t in trajs}) == 1
    assert groups[res.trajectories[6].group_uid][0].instance_id == "treasure-003"
    # copies act differently (per-copy sampling seeds)
    assert len({tuple(r.action_text for r in t.turns) for t in res.trajectories[:3]}) > 1
    for t in res.trajectories:
        assert [r.turn_idx for r in t.turns] == list(range(t.length))
        assert all(r.group_uid == t.group_uid and r.traj_uid == t.traj_uid and r.seed == t.seed
                   for r in t.turns)
        assert [r.done for r in t.turns] == [False] * (t.length - 1) + [True]
        assert all(r.episode_return == t.episode_return and r.won == t.won for r in t.turns)
        assert t.episode_return == pytest.approx(sum(r.reward for r in t.turns))


def test_oracle_wins_and_outcomes_are_recorded():
    res = engine().run(ENV, tasks=range(4), group_size=2, policy=make_policy("oracle"), max_turns=25)
    assert all(t.won and t.terminated and not t.truncated for t in res.trajectories)
    assert res.summary()["success_rate"] == 1.0
    last = res.trajectories[0].turns[-1]
    assert last.reward == 1.0 and last.done and not last.truncated and last.info["won"]


def test_turn_limit_truncates_and_masks_pad():
    res = engine().run(ENV, tasks=[0, 1], group_size=2, policy=make_policy("scripted:first"), max_turns=4)
    assert all(t.length == 4 and t.truncated and not t.terminated for t in res.trajectories)
    assert all(t.turns[-1].truncated for t in res.trajectories)
    mixed = engine().run(ENV, tasks=[0, 1, 2], policy=make_policy("oracle"), max_turns=7)
    mask = mixed.active_mask()
    assert mask.shape == (3, max(t.length for t in mixed.trajectories))
    assert mask.sum(1).tolist() == [t.length for t in mixed.trajectories]
    assert mask.sum() == len(mixed.turns)


def test_deterministic_for_any_number_of_workers():
    runs = [engine(workers=w).run(ENV, tasks=range(5), group_size=2, policy=make_policy("random", seed=s),
                                  max_turns=10, seed=7) for w, s in [(1, 0), (3, 1), (2, 2)]]
    assert rows_key(runs[0]) == rows_key(runs[1]) == rows_key(runs[2])
    other = engine().run(ENV, tasks=range(5), group_size=2, policy=make_policy("random"),
                         max_turns=10, seed=8)
    assert rows_key(other) != rows_key(runs[0])


def test_hf_policy_rows_carry_token_stats_and_repeat(tiny_policy):
    kw = dict(tasks=[0, 1], group_size=2, policy=tiny_policy, max_turns=2)
    sampling = SamplingParams(max_new_tokens=8)
    a = engine().run(ENV, sampling=sampling, **kw)
    b = engine(workers=1).run(ENV, sampling=sampling, **kw)
    assert rows_key(a) == rows_key(b)
    for r in a.turns:
        assert r.prompt_ids and len(r.response_ids) == len(r.logprobs) == len(r.entropies) <= 8
        assert r.info["finish_reason"] in {"stop", "length"}


class _Slow(gym.Wrapper):
    """Steps of the seed-1 episodes hang for ``seconds``."""

    def __init__(self, env, seconds):
        super().__init__(env)
        self.seconds, self.slow = seconds, False

    def reset(self, **kw):
        self.slow = kw.get("seed") == 1
        return self.env.reset(**kw)

    def step(self, action):
        if self.slow:
            time.sleep(self.seconds)
        return self.env.step(action)


def test_episode_timeout_truncates_only_the_slow_episode():
    t0 = time.perf_counter()
    res = engine(workers=4, episode_timeout_s=0.5).run(
        ENV, tasks=[0, 1, 2], group_size=1, policy=make_policy("oracle"), max_turns=25,
        wrappers=[partial(_Slow, seconds=2.0)])
    assert time.perf_counter() - t0 < 1.9  # did not wait for the hung step
    fast0, slow, fast2 = res.trajectories
    assert fast0.won and fast2.won and not fast0.timed_out
    assert slow.timed_out and slow.truncated and not slow.won and slow.length == 1
    assert slow.turns[-1].done and slow.turns[-1].truncated and slow.turns[-1].info["timed_out"]
    assert res.summary()["timed_out"] == 1


class _Crashy(gym.Wrapper):
    def step(self, action):
        if self.env.unwrapped.turn >= 2:
            raise RuntimeError("boom")
        return self.env.step(action)


def test_env_exception_ends_that_episode_only():
    res = engine().run(ENV, tasks=[0], group_size=2, policy=make_policy("scripted:first"), max_turns=6,
                       wrappers=[_Crashy])
    for t in res.trajectories:
        assert t.error and "boom" in t.error and t.truncated and t.length == 3
        assert t.turns[-1].done and "boom" in t.turns[-1].info["error"]


def test_wrappers_and_parse_errors():
    res = engine().run(ENV, tasks=[0], policy=make_policy("scripted:garbage"), max_turns=3,
                       wrappers=[partial(InvalidActionPenalty, penalty=-0.1)])
    assert [r.reward for r in res.turns] == pytest.approx([-0.1] * 3)
    assert all(not r.is_action_valid and r.info["parse_error"] for r in res.turns)


def test_bad_policy_stops_the_run_and_closes_envs(monkeypatch):
    closed = []
    import aem_example.env as ex

    monkeypatch.setattr(ex.TreasureHuntEnv, "close", lambda self: closed.append(1))

    class Short:
        def generate(self, requests):
            return [Generation(text="")]

    with pytest.raises(RuntimeError, match="1 generations for 3 requests"):
        engine().run(ENV, tasks=[0, 1, 2], policy=Short(), max_turns=3)
    assert len(closed) >= 3


def test_bad_arguments():
    with pytest.raises(ValueError):
        engine().run(ENV, tasks=["x"], policy=make_policy("random"))
    with pytest.raises(ValueError):
        engine().run(ENV, tasks=[0], policy=make_policy("random"), group_size=0)
    with pytest.raises(ValueError):
        RolloutEngine(workers=0)


def test_jsonl_round_trip(tmp_path):
    res = engine().run(ENV, tasks=[0, 1], group_size=2, policy=make_policy("oracle"), max_turns=20,
                       output_dir=tmp_path / "out")
    rows = read_turns(tmp_path / "out" / "turns.jsonl")
    assert [r.to_json() for r in rows] == [r.to_json() for r in res.turns]
    lines = (tmp_path / "out" / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"won": true' in lines[0] and '"steps"' in lines[0]


class _SlowReset(gym.Wrapper):
    def reset(self, **kw):
        if kw.get("seed") == 1:
            time.sleep(2.0)
        return self.env.reset(**kw)


def test_hung_reset_times_out_without_blocking_the_others():
    t0 = time.perf_counter()
    res = engine(workers=3, episode_timeout_s=0.5).run(ENV, tasks=[0, 1, 2], policy=make_policy("oracle"),
                                                       max_turns=25, wrappers=[_SlowReset])
    assert time.perf_counter() - t0 < 1.9
    ok0, hung, ok2 = res.trajectories
    assert ok0.won and ok2.won
    assert hung.timed_out and hung.truncated and hung.length == 0 and hung.instance_id == ""
