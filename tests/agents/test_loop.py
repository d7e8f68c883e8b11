"""The episode loop's scheduling and worker pools: process workers, the concurrency cap, the independent
schedule, per-episode budgets and replay."""

from __future__ import annotations

import threading
import time
from functools import partial

import gymnasium as gym
import pytest

from aem_gym.agents import EpisodeSpec, RolloutEngine, make_policy
from aem_gym.agents.replay import ReplayPolicy, replay, reply_for
from aem_gym.agents.types import Generation, GenerationRequest

ENV = "example/TreasureHunt-v0"


def rows_key(result):
    return [(r.traj_uid, r.turn_idx, r.observation, r.action_text, r.reward, r.done, r.truncated)
            for r in result.turns]


class SlowSeed(gym.Wrapper):
    """Steps of the episodes reset with ``seed`` sleep ``seconds`` (picklable: process workers build it)."""

    def __init__(self, env, seed: int, seconds: float):
        super().__init__(env)
        self.slow_seed, self.seconds, self.slow = seed, seconds, False

    def reset(self, **kw):
        self.slow = kw.get("seed") == self.slow_seed
        return self.env.reset(**kw)

    def step(self, action):
        if self.slow:
            time.sleep(self.seconds)
        return self.env.step(action)


class Crashy(gym.Wrapper):
    def step(self, action):
        if self.env.unwrapped.turn >= 1:
            raise RuntimeError("boom")
        return self.env.step(action)


def test_process_workers_give_the_same_rows_as_threads_and_inline():
    kw = dict(tasks=range(6), group_size=2, policy=make_policy("random"), max_turns=8, seed=3)
    inline = RolloutEngine(workers=1, progress=False).run(ENV, **kw)
    threads = RolloutEngine(workers=3, progress=False).run(ENV, **kw)
    with RolloutEngine(workers=2, progress=False, process=True) as engine:
        procs = engine.run(ENV, **kw)
        again = engine.run(ENV, **kw)  # the processes are reused by a second run
        oracle = engine.run(ENV, tasks=[0, 1], policy=make_policy("oracle"), max_turns=25)
    assert rows_key(inline) == rows_key(threads) == rows_key(procs) == rows_key(again)
    assert all(t.won for t in oracle.trajectories)  # context["oracle"] answers from the worker process


def test_process_workers_report_env_errors_per_episode():
    with RolloutEngine(workers=2, progress=False, process=True) as engine:
        res = engine.run(ENV, tasks=[0, 1], policy=make_policy("scripted:first"), max_turns=5,
                         wrappers=[Crashy])
    for t in res.trajectories:
        assert t.error and "boom" in t.error and t.length == 2 and t.turns[-1].info["step_failed"]


def test_hung_step_in_a_process_worker_times_out_and_the_worker_is_replaced():
    t0 = time.perf_counter()
    with RolloutEngine(workers=2, progress=False, process=True, episode_timeout_s=1.0) as engine:
        res = engine.run(ENV, tasks=[0, 1, 2, 3], policy=make_policy("oracle"), max_turns=25,
                         wrappers=[partial(SlowSeed, seed=1, seconds=30.0)])
        after = engine.run(ENV, tasks=[5], policy=make_policy("oracle"), max_turns=25)
    assert time.perf_counter() - t0 < 25  # did not wait for the hung step
    e0, slow, e2, e3 = res.trajectories
    assert slow.timed_out and slow.turns[-1].info["timed_out"] and not slow.won
    assert e0.won and e2.won  # on the other worker
    assert e3.error and "restarted" in e3.error  # shared the killed worker: its env is gone, said so
    assert after.trajectories[0].won  # the replacement worker serves the next run


def test_concurrency_cap_bounds_open_envs_and_keeps_the_rows():
    live, peak, lock = [0], [0], threading.Lock()

    class Count(gym.Wrapper):
        def reset(self, **kw):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            return self.env.reset(**kw)

        def close(self):
            with lock:
                live[0] -= 1
            return self.env.close()

    kw = dict(tasks=range(8), policy=make_policy("random"), max_turns=6, seed=1, wrappers=[Count])
    capped = RolloutEngine(workers=2, progress=False, max_concurrent=3).run(ENV, **kw)
    assert peak[0] <= 3 and live[0] == 0
    assert rows_key(capped) == rows_key(RolloutEngine(workers=2, progress=False).run(ENV, **kw))


class SlowFor:
    """Scripted ``first``, but each call holding an episode reset with ``seed`` takes ``seconds``; records
    which episodes' calls started while such a call was in flight."""

    needs_prompt = False

    def __init__(self, seed: int, seconds: float):
        self.seed, self.seconds, self.inner = seed, seconds, make_policy("scripted:first")
        self.slow_in_flight, self.overtaken = 0, []
        self.lock = threading.Lock()

    def generate(self, requests):
        slow = any(r.context["seed"] == self.seed for r in requests)
        with self.lock:
            if self.slow_in_flight:
                self.overtaken += [r.context["seed"] for r in requests]
            self.slow_in_flight += slow
        try:
            if slow:
                time.sleep(self.seconds)
            return self.inner.generate(requests)
        finally:
            with self.lock:
                self.slow_in_flight -= slow


def test_independent_schedule_has_no_barrier_and_lockstep_has_one():
    kw = dict(tasks=[0, 1, 2], max_turns=4, seed=0)
    free = SlowFor(seed=1, seconds=0.3)
    res = RolloutEngine(workers=2, progress=False, schedule="independent").run(ENV, policy=free, **kw)
    assert {0, 2} <= set(free.overtaken)  # the fast episodes went on while the slow one's call was out
    assert [t.length for t in res.trajectories] == [4, 4, 4]
    locked = SlowFor(seed=1, seconds=0.05)
    again = RolloutEngine(workers=2, progress=False).run(ENV, policy=locked, **kw)
    assert locked.overtaken == []  # one call per turn for every episode: nothing overtakes
    assert rows_key(again) == rows_key(res)  # same samples: seeds depend on the episode, not the schedule


def test_replay_plays_recorded_replies_and_stops_at_each_budget():
    run = RolloutEngine(workers=2, progress=False).run(ENV, tasks=[0, 1, 2], policy=make_policy("random"),
                                                        max_turns=6, seed=4)
    specs, replies = [], {}
    for t in run.trajectories:
        uid = t.traj_uid
        replies[uid] = [reply_for(r.info.get("parsed_action", r.action_text), bool(r.info.get("parse_error")))
                        for r in t.turns][:3]
        specs.append(EpisodeSpec(ENV, t.seed, t.instance_id, group_uid=uid, traj_uid=uid, max_turns=3))
    again = replay(specs, replies, 6, RolloutEngine(workers=2, progress=False))
    for old, new in zip(run.trajectories, again.trajectories, strict=True):
        assert [r.observation for r in new.turns] == [r.observation for r in old.turns][:3]
        assert [r.reward for r in new.turns] == [r.reward for r in old.turns][:3]
        ended = old.length <= 3
        assert new.budget_reached == (not ended) and new.turns[-1].done
    with pytest.raises(ValueError, match="turn budget"):
        replay([EpisodeSpec(ENV, 0, traj_uid="x")], {"x": ["<action>look</action>"]}, 6,
               RolloutEngine(progress=False))
    req = GenerationRequest([], context={"traj_uid": "u", "turn": 1})
    assert ReplayPolicy({"u": ["a", "b"]}).generate([req])[0].text == "b"


def test_unparsable_reply_gets_the_parser_answer_not_the_env_one():
    class Babble:
        needs_prompt = False

        def generate(self, requests):
            return [Generation(text="I think I will look around.") for _ in requests]

    res = RolloutEngine(workers=1, progress=False).run(ENV, tasks=[0], policy=Babble(), max_turns=2)
    first = res.trajectories[0]
    second_obs = first.turns[1].observation
    assert second_obs.startswith("Invalid action format") and first.first_observation in second_obs
    assert all(r.info["parse_error"] and not r.is_action_valid for r in first.turns)
