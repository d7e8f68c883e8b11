"""One episode of the episode loop: what to run (``EpisodeSpec``), its env stack (``env_stack``), its
per-turn sampling seeds (``request_seed``) and its state while the loop drives it (``Episode``).

An episode moves through ``opening`` (its env is built and reset in a worker) → ``ready`` (it waits for an
action) → ``generating`` (its request is in a policy call) → ``stepping`` (its action is in a worker) →
``ready`` … → ``done``. The scheduler in ``aem_gym.agents.rollout`` decides *when* each transition
happens; this module decides *what* it does to the episode, so training rollouts, ``aem eval``, SFT
demonstrations and replay all record the same rows the same way.

The env stack is ``ActionParser`` around the registered env, then the caller's wrappers, then (when the
run has a turn limit) ``TurnLimit``: an unparsable reply never reaches the env (the agent sees
``UNPARSABLE_OBSERVATION`` and the last observation), and the turn limit is the env stack's own
``truncated``, so a replay through the same stack reproduces it.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

import aem_envs
from aem_envs.wrappers import ActionParser, TurnLimit
from aem_envs.wrappers.action_parser import CutReply
from aem_gym.agents.prompts import PromptBuilder, PromptState
from aem_gym.agents.records import Trajectory, jsonable
from aem_gym.agents.tools import encode_reply
from aem_gym.agents.types import Generation, GenerationRequest, SamplingParams, TurnRecord

EnvWrapper = Callable[[gym.Env], gym.Env]
EnvFactory = Callable[[str, dict[str, Any], Sequence[EnvWrapper]], gym.Env]


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode to run: the env, how to reset it, and its name in the run.

    ``options`` are extra ``reset`` options (e.g. ``{"split": "test"}``; ``instance_id`` is added from
    its own field). ``copy`` tells the G copies of a group apart (their samples differ). ``max_turns`` is
    this episode's own turn budget on top of the run's limit (replay plays exactly the recorded turns).
    """

    env_id: str
    seed: int
    instance_id: str | None = None
    group_uid: str = ""
    traj_uid: str = ""
    copy: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    max_turns: int | None = None

    def reset_options(self) -> dict[str, Any]:
        opts = dict(self.options)
        if self.instance_id is not None:
            opts["instance_id"] = self.instance_id
        return opts


def request_seed(root: int, spec: EpisodeSpec, turn: int) -> int:
    """The sampling seed of one request (31 bits): a hash of the run's root seed, the episode's identity
    (env, task, reset seed, copy) and the turn. It does not depend on the episode's position in the run,
    the batch it lands in or the number of workers, so a training eval and ``aem eval`` of the same
    episode with the same root seed send the policy the same seeds."""
    return _seed_from(_seed_key(root, spec), turn)


def _seed_key(root: int, spec: EpisodeSpec) -> bytes:
    return f"{root}|{spec.env_id}|{spec.instance_id or ''}|{spec.seed}|{spec.copy}|".encode()


def _seed_from(key: bytes, turn: int) -> int:
    return int.from_bytes(hashlib.blake2b(key + b"%d" % turn, digest_size=8).digest(), "little") >> 33


def recorded_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """What a row keeps of an env's info: all of it made JSON-safe, except the admissible actions (long, and
    the next state's; a replay recomputes them), of which it keeps the count (``n_admissible``). One pass:
    it runs every turn."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        if k == "admissible_actions":
            if v is not None:
                out["n_admissible"] = len(v)
        else:
            out[k if type(k) is str else str(k)] = v if type(v) in _PLAIN else jsonable(v)
    return out


_PLAIN = frozenset({str, int, bool, type(None)})


def _with_seed(sampling: SamplingParams, seed: int) -> SamplingParams:
    """A shallow copy of ``sampling`` with ``seed`` (``dataclasses.replace`` costs more than an env step)."""
    s = object.__new__(SamplingParams)
    s.__dict__.update(sampling.__dict__)
    s.seed = seed
    return s



def env_stack(env_id: str, env_kwargs: Mapping[str, Any], wrappers: Sequence[EnvWrapper] = ()) -> gym.Env:
    """The default env factory: ``ActionParser`` around the registered env, then ``wrappers`` in order."""
    env: gym.Env = ActionParser(aem_envs.make(env_id, **dict(env_kwargs)))
    for w in wrappers:
        env = w(env)
    return env


def with_turn_limit(wrappers: Sequence[EnvWrapper], max_turns: int | None) -> list[EnvWrapper]:
    """``wrappers`` plus ``TurnLimit(max_turns)`` outermost (every agent turn counts, parse errors too);
    a picklable list, so process and Ray workers can build the same stack."""
    out = list(wrappers)
    if max_turns is not None:
        out.append(functools.partial(TurnLimit, max_turns=max_turns))
    return out


def registered_limit(env_id: str) -> int | None:
    """The env's registered step limit (``max_episode_steps``), or None where it has none or is unknown."""
    try:
        return aem_envs.spec(env_id).max_episode_steps
    except Exception:  # an env built by a custom factory need not be registered
        return None


def oracle_of(env: gym.Env | None) -> Callable[[], Any]:
    """``env.unwrapped.oracle_action`` (looked up once per episode), or a function answering ``None``."""
    fn = getattr(env.unwrapped, "oracle_action", None) if env is not None else None
    return fn if callable(fn) else _no_oracle


def _no_oracle() -> None:
    return None


class Episode:
    """The loop's state of one episode. Every transition is a method; none of them touches an env (the
    worker pools do that), so the same state machine serves local threads, processes and Ray actors."""

    __slots__ = ("spec", "index", "traj", "obs", "info", "history", "oracle", "used", "started", "done",
                 "hung", "gen", "_seed_key", "reply_limit")

    def __init__(self, spec: EpisodeSpec, index: int):
        self.spec, self.index = spec, index
        self.traj = Trajectory(group_uid=spec.group_uid, traj_uid=spec.traj_uid, env_id=spec.env_id,
                               seed=spec.seed)
        self.obs, self.info = "", {}
        self.history: list[tuple[str, str]] = []
        self.oracle: Callable[[], Any] = _no_oracle
        self.used = 0.0  # the episode's own time: its env calls and the policy calls it took part in
        self.started = 0.0
        self.done = self.hung = False
        self.gen: Generation | None = None  # the reply being stepped
        self._seed_key: tuple[int, bytes] | None = None  # (root seed, its hash prefix for this episode)
        self.reply_limit = 0  # max_new_tokens of the last request

    @property
    def turn(self) -> int:
        return len(self.traj.turns)

    # -- transitions -------------------------------------------------------------------------------------
    def opened(self, obs: str, info: dict[str, Any], seconds: float) -> None:
        self.started = time.perf_counter() - seconds
        self.obs, self.info = obs, info
        t = self.traj
        t.first_observation = t.final_observation = obs
        t.instance_id, t.task_type = str(info.get("instance_id", "")), str(info.get("task_type", ""))

    def request(self, builder: PromptBuilder | None, sampling: SamplingParams,
                root_seed: int, max_turns: int | None = None,
                tools: list[dict[str, Any]] | None = None) -> GenerationRequest:
        """This turn's request. ``builder=None`` leaves ``messages`` empty (a policy that needs no prompt);
        ``max_turns``: the episode's turn limit, for the prompt's step counter; ``tools``: the function
        schemas a backend with native tool calling gets (``agents.tools``)."""
        acts = self.info.get("admissible_actions")
        turn = len(self.traj.turns)
        messages = [] if builder is None else builder.build(
            PromptState(self.spec.env_id, self.traj.first_observation, self.obs, self.history, acts, turn,
                        max_turns))
        if self._seed_key is None or self._seed_key[0] != root_seed:
            self._seed_key = (root_seed, _seed_key(root_seed, self.spec))
        s = _with_seed(sampling, _seed_from(self._seed_key[1], turn))
        self.reply_limit = s.max_new_tokens
        context = {"admissible_actions": acts, "oracle": self.oracle, "turn": turn,
                   "env_id": self.spec.env_id, "instance_id": self.traj.instance_id, "observation": self.obs,
                   "seed": self.spec.seed, "traj_uid": self.traj.traj_uid}
        return GenerationRequest(messages=messages, sampling=s, context=context, tools=tools)

    def reply(self, gen: Generation) -> str:
        """What the env stack receives for ``gen``: its text, as a ``CutReply`` when the policy stopped it at
        its token limit (the parser then says so instead of reporting a format error)."""
        self.gen = gen
        if gen.finish_reason != "length":
            return encode_reply(gen)
        tokens = gen.usage.completion_tokens or len(gen.response_ids or ()) or self.reply_limit
        return CutReply(gen.text, tokens)

    def stepped(self, result: tuple, budget: int | None) -> None:
        """The env answered ``self.gen``; ``budget``: the turns this episode may take (None: no cap)."""
        obs, reward, terminated, truncated, info = result
        terminated, truncated = bool(terminated), bool(truncated)
        out_of_turns = budget is not None and self.turn + 1 >= budget and not (terminated or truncated)
        last = terminated or truncated or out_of_turns
        self._record(float(reward), info, done=last, truncated=last and not terminated)
        action = info.get("parsed_action", encode_reply(self.gen))  # type: ignore[arg-type]
        self.history.append((str(action), obs))
        self.obs, self.info = obs, info
        self.traj.final_observation = obs
        if last:
            self.end(terminated=terminated, truncated=not terminated, budget_reached=out_of_turns)

    def step_failed(self, error: str | None) -> None:
        """The step never came back (``error=None``: it overran the episode's time) or raised ``error``. Its
        row keeps the reply (a trainer may learn from it) and says so: ``info["step_failed"]``."""
        what = {"timed_out": True} if error is None else {"error": error}
        self._record(0.0, {"step_failed": True, **what}, done=True, truncated=True)
        self.end(truncated=True, timed_out=error is None, error=error)

    def expire(self) -> None:
        """The episode's time ran out between turns: its last row becomes the end of the episode."""
        self._cut()
        self.end(truncated=True, timed_out=True)

    def abort(self, error: str) -> None:
        """The episode lost its env through no act of its own (a worker process was restarted)."""
        self._cut()
        self.end(truncated=True, error=error)

    def backend_failed(self, error: str) -> None:
        """The policy backend could not reply (after its retries): the episode ends with ``status="error"``
        and its env is not stepped; no row is recorded for the reply that never came."""
        self._cut()
        self.traj.status = "error"
        self.end(truncated=True, error=f"policy backend: {error}")

    def _cut(self) -> None:
        if self.traj.turns:
            self.traj.turns[-1].done = self.traj.turns[-1].truncated = True

    def end(self, terminated: bool = False, truncated: bool = False, timed_out: bool = False,
            error: str | None = None, budget_reached: bool = False) -> None:
        if self.done:
            return
        self.done = True
        t = self.traj
        t.terminated, t.truncated, t.timed_out = terminated, truncated, timed_out
        t.budget_reached = budget_reached
        t.error = None if error is None else str(error)
        t.wall_s = time.perf_counter() - self.started if self.started else 0.0
        for row in t.turns:  # the outcome on every row, so estimators need no join
            row.episode_return, row.won = t.episode_return, t.won

    def _record(self, reward: float, info: dict[str, Any], done: bool, truncated: bool) -> None:
        t, gen = self.traj, self.gen
        assert gen is not None
        t.episode_return += reward
        t.won = t.won or bool(info.get("won", False))
        row_info = recorded_info(info)
        row_info["finish_reason"] = gen.finish_reason
        if gen.error:
            row_info["policy_error"] = gen.error
        if gen.reasoning:
            row_info["reasoning"] = gen.reasoning
        t.turns.append(TurnRecord(
            group_uid=t.group_uid, traj_uid=t.traj_uid, turn_idx=len(t.turns), env_id=t.env_id,
            instance_id=t.instance_id, task_type=t.task_type, observation=self.obs,
            action_text=encode_reply(gen),
            reward=reward, done=done, prompt_ids=gen.prompt_ids, response_ids=gen.response_ids,
            logprobs=gen.logprobs, entropies=gen.entropies, allowed_token_ids=gen.allowed_token_ids,
            is_action_valid=bool(info.get("is_action_valid", True)), info=row_info,
            truncated=truncated, seed=t.seed, prompt_tokens=int(gen.usage.prompt_tokens),
            completion_tokens=int(gen.usage.completion_tokens)))
