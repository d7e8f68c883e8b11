"""The rollout engine: B tasks × G copies, in lockstep, one policy call per turn.

    engine = RolloutEngine(workers=4, episode_timeout_s=600)
    result = engine.run("aem/Household-v0", tasks=[(None, 0), ("task-17", 5)], group_size=8,
                        policy=make_policy("hf:runs/tiny"), max_turns=30)
    result.turns            # list[TurnRecord], one per agent turn
    result.trajectories     # list[Trajectory]
    result.write_jsonl("runs/rollouts/iter-3")

Contract:

* ``tasks`` is a list of ``(instance_id | None, seed)`` (a bare int means ``(None, seed)``). Each task is a
  group: its G copies are reset with the same seed (and instance id), so they start from the same state;
  they differ only by the policy's samples (per-request sampling seeds differ by copy and turn).
* Lockstep: each turn, the prompts of all active episodes go to ONE ``policy.generate`` call; then the
  env steps run in a thread pool of ``workers`` threads (env creation, reset and close run there too).
* The env is wrapped in ``ActionParser`` (``<action>…</action>``), then in ``wrappers`` (callables
  ``env -> env``, e.g. ``functools.partial(InvalidActionPenalty, penalty=-0.1)``), in that order.
* ``request.context`` carries ``admissible_actions``, ``oracle`` (calls ``env.unwrapped.oracle_action``),
  ``turn``, ``env_id``, ``instance_id`` and ``observation``, for scripted, oracle and human policies.
* An episode ends when the env terminates or truncates, after ``max_turns`` turns (truncated), when its
  wall time since reset exceeds ``episode_timeout_s`` (truncated, ``timed_out``; a step still running
  is abandoned and its row recorded with ``info["timed_out"]``), or when the env raises (truncated, the
  error kept). A policy exception stops the run (after closing the envs): it is not an episode's fault.
* Deterministic given the seeds and a deterministic policy: same arguments → same rows, for any
  ``workers``. Uids are ``{run_id}-g{group}`` and ``{group_uid}-{copy}``; ``run_id`` defaults to a hash
  of the arguments.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import aem_envs
from aem_envs.wrappers import ActionParser
from aem_gym.agents.policy import Policy, check_generations
from aem_gym.agents.prompts import PromptBuilder, PromptState, prompt_builder
from aem_gym.agents.records import RolloutResult, Trajectory, jsonable
from aem_gym.agents.types import GenerationRequest, SamplingParams, TurnRecord

TaskSpec = tuple[str | None, int] | int
EnvWrapper = Callable[[gym.Env], gym.Env]


@dataclass
class _Episode:
    traj: Trajectory
    index: int  # position in the run (group * G + copy): the per-request sampling seed uses it
    instance_id: str | None
    env: gym.Env | None = None
    obs: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)
    started: float = 0.0
    used: float = 0.0  # the episode's own time: its reset, its steps, the policy calls it took part in
    running_since: float | None = None  # set while a worker runs this episode's reset or step
    done: bool = False
    hung: bool = False  # a step or reset never returned: its thread still owns the env


def _normalize_tasks(tasks: Sequence[TaskSpec]) -> list[tuple[str | None, int]]:
    out = []
    for t in tasks:
        if isinstance(t, int | np.integer):
            out.append((None, int(t)))
        elif isinstance(t, tuple | list) and len(t) == 2:
            out.append((None if t[0] is None else str(t[0]), int(t[1])))
        else:
            raise ValueError(f"a task is (instance_id | None, seed) or a seed, got {t!r}")
    return out


class RolloutEngine:
    """Runs groups of episodes in lockstep (see the module docstring for the full contract).

    ``workers``: env threads. ``episode_timeout_s``: wall-clock budget per episode (None = none).
    ``history_k``: turns of history in the prompt. ``prompt``: a ``PromptBuilder`` (default: the one
    registered for the env id). ``progress``: show a tqdm bar of finished episodes. ``env_factory``:
    ``(env_id, env_kwargs, wrappers) -> env`` building each episode's wrapped env (default: in this
    process); ``aem_gym.agents.ray_pool.RayEnvPool`` places the envs in Ray actors instead.
    """

    def __init__(self, workers: int = 4, episode_timeout_s: float | None = None, history_k: int = 3,
                 prompt: PromptBuilder | None = None, progress: bool = True,
                 env_factory: Callable[[str, dict[str, Any], Sequence[EnvWrapper]], gym.Env] | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers, self.episode_timeout_s = workers, episode_timeout_s
        self.history_k, self.prompt, self.progress = history_k, prompt, progress
        self.env_factory = env_factory

    # -- public API -----------------------------------------------------------------------------------
    def run(self, env_id: str, tasks: Sequence[TaskSpec], policy: Policy, group_size: int = 1,
            max_turns: int = 50, env_kwargs: dict[str, Any] | None = None,
            wrappers: Sequence[EnvWrapper] = (), sampling: SamplingParams | None = None, seed: int = 0,
            run_id: str | None = None, output_dir: str | Path | None = None) -> RolloutResult:
        """Roll out ``len(tasks) × group_size`` episodes; see the module docstring."""
        if group_size < 1 or max_turns < 1:
            raise ValueError("group_size and max_turns must be >= 1")
        task_list = _normalize_tasks(tasks)
        sampling = sampling or SamplingParams()
        run_id = run_id or "r" + hashlib.sha1(repr((env_id, task_list, group_size, seed)).encode()).hexdigest()[:8]
        builder = self.prompt or prompt_builder(env_id, k=self.history_k)
        episodes = []
        for g, (iid, s) in enumerate(task_list):
            for c in range(group_size):
                traj = Trajectory(group_uid=f"{run_id}-g{g}", traj_uid=f"{run_id}-g{g}-{c}", env_id=env_id, seed=s)
                episodes.append(_Episode(traj, g * group_size + c, iid))
        t0 = time.perf_counter()
        stats = {"policy_s": 0.0, "env_s": 0.0}
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="aem-rollout")
        bar = _progress(len(episodes), env_id, self.progress)
        try:
            te = time.perf_counter()
            self._open_all(pool, episodes, env_id, env_kwargs or {}, wrappers, bar)
            stats["env_s"] += time.perf_counter() - te
            for turn in range(max_turns):
                active = [ep for ep in episodes if not ep.done and not self._expired(ep, bar)]
                if not active:
                    break
                tp = time.perf_counter()
                reqs = [self._request(ep, builder, sampling, seed, turn, env_id) for ep in active]
                gens = check_generations(reqs, policy.generate(reqs))
                dt = time.perf_counter() - tp
                stats["policy_s"] += dt
                for ep in active:
                    ep.used += dt
                te = time.perf_counter()
                self._step_all(pool, active, gens, turn, max_turns, bar)
                stats["env_s"] += time.perf_counter() - te
            for ep in episodes:
                if not ep.done:  # only possible after max_turns
                    self._end(ep, truncated=True, bar=bar)
        finally:
            bar.close()
            self._close_all(pool, episodes)
        wall = time.perf_counter() - t0
        turns = [row for ep in episodes for row in ep.traj.turns]
        stats.update(wall_s=wall, turns_per_s=len(turns) / wall if wall > 0 else 0.0, n_turns=len(turns))
        result = RolloutResult(turns=turns, trajectories=[ep.traj for ep in episodes], stats=stats)
        if output_dir is not None:
            result.write_jsonl(output_dir)
        return result

    # -- episode lifecycle ----------------------------------------------------------------------------
    def _open(self, ep: _Episode, env_id: str, env_kwargs: dict[str, Any], wrappers: Sequence[EnvWrapper]) -> None:
        env = (self.env_factory or local_env)(env_id, env_kwargs, wrappers)
        ep.env = env
        options = {"instance_id": ep.instance_id} if ep.instance_id is not None else {}
        obs, info = env.reset(seed=ep.traj.seed, options=options)
        ep.obs, ep.info = obs, info
        ep.traj.first_observation = ep.traj.final_observation = obs
        ep.traj.instance_id, ep.traj.task_type = str(info.get("instance_id", "")), str(info.get("task_type", ""))

    def _request(self, ep: _Episode, builder: PromptBuilder, sampling: SamplingParams, seed: int, turn: int,
                 env_id: str) -> GenerationRequest:
        acts = ep.info.get("admissible_actions")
        state = PromptState(env_id, ep.traj.first_observation, ep.obs, ep.history, acts, turn)
        unwrapped = ep.env.unwrapped if ep.env is not None else None
        oracle = getattr(unwrapped, "oracle_action", None)
        # Per-request seed: copies of a group and successive turns sample differently, reproducibly.
        req_seed = int(np.random.SeedSequence([seed, ep.index, turn]).generate_state(1)[0])
        context = {"admissible_actions": acts, "oracle": oracle if callable(oracle) else (lambda: None),
                   "turn": turn, "env_id": env_id, "instance_id": ep.traj.instance_id, "observation": ep.obs}
        return GenerationRequest(messages=builder.build(state), sampling=replace(sampling, seed=req_seed),
                                 context=context)

    def _step_all(self, pool: ThreadPoolExecutor, active: list[_Episode], gens: list, turn: int,
                  max_turns: int, bar: Any) -> None:
        futures = {pool.submit(self._timed, ep, ep.env.step, gen.text): (ep, gen)  # type: ignore[union-attr]
                   for ep, gen in zip(active, gens, strict=True)}
        for f, hung in self._drain(futures, {f: ep for f, (ep, _) in futures.items()}):
            ep, gen = futures[f]
            if hung:  # abandon the step: record the turn that never came back and end the episode
                self._record(ep, gen, turn, 0.0, {"timed_out": True}, done=True, truncated=True)
                self._end(ep, truncated=True, timed_out=True, bar=bar)
                continue
            try:
                obs, reward, terminated, truncated, info = f.result()
            except Exception as e:  # an env bug ends this episode, not the run
                self._record(ep, gen, turn, 0.0, {"error": repr(e)}, done=True, truncated=True)
                self._end(ep, truncated=True, error=repr(e), bar=bar)
                continue
            last = terminated or truncated or turn + 1 >= max_turns
            self._record(ep, gen, turn, float(reward), info, done=last, truncated=not terminated and last)
            ep.history.append((str(info.get("parsed_action", gen.text)), obs))
            ep.obs, ep.info = obs, info
            ep.traj.final_observation = obs
            if last:
                self._end(ep, terminated=terminated, truncated=not terminated, bar=bar)

    def _record(self, ep: _Episode, gen: Any, turn: int, reward: float, info: dict[str, Any],
                done: bool, truncated: bool = False) -> None:
        t = ep.traj
        t.episode_return += reward
        t.won = t.won or bool(info.get("won", False))
        t.turns.append(TurnRecord(
            group_uid=t.group_uid, traj_uid=t.traj_uid, turn_idx=turn, env_id=t.env_id,
            instance_id=t.instance_id, task_type=t.task_type, observation=ep.obs, action_text=gen.text,
            reward=reward, done=done, prompt_ids=gen.prompt_ids, response_ids=gen.response_ids,
            logprobs=gen.logprobs, entropies=gen.entropies,
            allowed_token_ids=getattr(gen, "allowed_token_ids", None),
            is_action_valid=bool(info.get("is_action_valid", True)),
            info={**jsonable(info), "finish_reason": gen.finish_reason,
                  **({"policy_error": gen.error} if getattr(gen, "error", None) else {})},
            truncated=truncated, seed=t.seed))

    def _expired(self, ep: _Episode, bar: Any) -> bool:
        if self.episode_timeout_s is None or ep.used < self.episode_timeout_s:
            return False
        if ep.traj.turns:  # the last row becomes the end of the episode
            ep.traj.turns[-1].done, ep.traj.turns[-1].truncated = True, True
        self._end(ep, truncated=True, timed_out=True, bar=bar)
        return True

    def _end(self, ep: _Episode, terminated: bool = False, truncated: bool = False, timed_out: bool = False,
             error: str | None = None, bar: Any = None) -> None:
        if ep.done:
            return
        ep.done = True
        t = ep.traj
        t.terminated, t.truncated, t.timed_out = terminated, truncated, timed_out
        t.error = error if error is None else str(error)
        t.wall_s = time.perf_counter() - ep.started if ep.started else 0.0
        for row in t.turns:  # outcome on every row, so estimators need no join
            row.episode_return, row.won = t.episode_return, t.won
        if bar is not None:
            bar.update(1)

    # -- pool helpers ---------------------------------------------------------------------------------
    def _open_all(self, pool: ThreadPoolExecutor, episodes: list[_Episode], env_id: str,
                  env_kwargs: dict[str, Any], wrappers: Sequence[EnvWrapper], bar: Any) -> None:
        futures = {pool.submit(self._timed, ep, self._open, ep, env_id, env_kwargs, wrappers): ep for ep in episodes}
        for f, hung in self._drain(futures, futures):
            ep = futures[f]
            if hung:
                self._end(ep, truncated=True, timed_out=True, bar=bar)
            elif f.exception() is not None:
                self._end(ep, truncated=True, error=repr(f.exception()), bar=bar)

    @staticmethod
    def _timed(ep: _Episode, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn`` in a worker, charging its duration to the episode (time queued is not charged)."""
        ep.running_since = start = time.perf_counter()
        ep.started = ep.started or start
        try:
            return fn(*args)
        finally:
            ep.used += time.perf_counter() - start
            ep.running_since = None

    def _drain(self, futures: dict[Future, Any], owner: dict[Future, _Episode]):
        """Yield ``(future, hung)`` as futures finish; ``hung`` when the episode's own time ran out while
        its call was running. A hung call's env is closed by a callback when (if) it returns."""
        pending = set(futures)
        while pending:
            now = time.perf_counter()
            deadlines = {f: self._deadline(owner[f]) for f in pending}
            for f in [f for f in pending if deadlines[f] <= now and not f.done()]:
                pending.discard(f)
                owner[f].hung = True
                f.add_done_callback(lambda _f, ep=owner[f]: _safe_close(ep.env))
                yield f, True
            if not pending:
                break
            soonest = min(deadlines[f] for f in pending)
            done, pending = wait(pending, timeout=None if soonest == float("inf") else max(0.0, soonest - now) + 1e-3,
                                 return_when=FIRST_COMPLETED)
            for f in done:
                yield f, False

    def _deadline(self, ep: _Episode) -> float:
        since = ep.running_since
        if self.episode_timeout_s is None:
            return float("inf")
        if since is None:  # queued behind other episodes' work, or just finishing: not charged yet
            return time.perf_counter() + max(0.0, self.episode_timeout_s - ep.used) + 0.05
        return since + max(0.0, self.episode_timeout_s - ep.used)

    def _close_all(self, pool: ThreadPoolExecutor, episodes: list[_Episode]) -> None:
        closable = [ep.env for ep in episodes if ep.env is not None and not ep.hung]
        list(pool.map(_safe_close, closable))
        # A hung step keeps its thread; do not wait for it (its env is closed when it returns).
        pool.shutdown(wait=not any(ep.hung for ep in episodes), cancel_futures=True)


def local_env(env_id: str, env_kwargs: dict[str, Any], wrappers: Sequence[EnvWrapper]) -> gym.Env:
    """The default env factory: ``ActionParser`` around the registered env, then ``wrappers`` in order."""
    env: gym.Env = ActionParser(aem_envs.make(env_id, **env_kwargs))
    for w in wrappers:
        env = w(env)
    return env


def _safe_close(env: gym.Env | None) -> None:
    if env is None:
        return
    try:
        env.close()
    except Exception:  # closing is best effort; the env's own close must be idempotent anyway
        pass


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"rollout {desc}", unit="ep", disable=not enabled, leave=False)
