"""The episode loop: every episode any part of the suite runs goes through ``RolloutEngine``.

    engine = RolloutEngine(workers=4, episode_timeout_s=600)
    result = engine.run("aem/Household-v0", tasks=[(None, 0), ("task-17", 5)], group_size=8,
                        policy=make_policy("hf:runs/tiny"), max_turns=30)
    result.turns            # list[TurnRecord], one per agent turn
    result.trajectories     # list[Trajectory]
    result.write_jsonl("runs/rollouts/iter-3")

Training rollouts (``baselines.collect``), evaluation (``agents.evaluate``, used by ``aem eval`` and the
trainer's periodic eval), SFT demonstrations (a demonstrator policy) and leaderboard replay (a policy
that plays recorded replies, ``agents.replay``) are all calls of ``run`` or ``run_specs``.

Contract:

* ``tasks`` is a list of ``(instance_id | None, seed)`` (a bare int means ``(None, seed)``). Each task is a
  group: its G copies are reset with the same seed (and instance id), so they start from the same state;
  they differ only by the policy's samples (``agents.episode.request_seed``: per episode and turn).
* Each episode is a state machine (``agents.episode.Episode``); the loop schedules them. ``schedule=
  "lockstep"`` (default): one ``policy.generate`` call for every episode waiting for an action, made when
  no env call is in flight, so a batched model sees the same batches on every run. ``"independent"``:
  no barrier; each episode waiting for an action gets its own call, up to ``max_concurrent`` calls at
  once in policy threads (API models: a slow reply holds back only its own episode). ``"auto"``: the
  policy's ``preferred_schedule`` (API backends say ``independent``), else lockstep. At most
  ``max_concurrent`` episodes are open at a time (None: all).
* Env calls run in a worker pool (``agents.envpool``): inline for one worker without timeout, else
  ``workers`` threads, or ``workers`` processes with ``process=True`` (CPU-bound envs).
* The env stack is ``ActionParser``, then ``wrappers`` (callables ``env -> env``, e.g.
  ``functools.partial(InvalidActionPenalty, penalty=-0.1)``), then ``TurnLimit(max_turns)``.
* ``request.context`` carries ``admissible_actions``, ``oracle`` (``env.unwrapped.oracle_action``),
  ``turn``, ``env_id``, ``instance_id``, ``observation``, ``seed`` and ``traj_uid``, for scripted,
  oracle, human and replay policies. A policy with ``needs_prompt = False`` gets no rendered prompt.
* An episode ends when the env stack terminates or truncates (``max_turns`` included), at its own turn
  budget (``EpisodeSpec.max_turns``), when its time exceeds ``episode_timeout_s`` (truncated,
  ``timed_out``; a call still running is abandoned and its row recorded with ``info["timed_out"]``), or
  when the env raises (truncated, the error kept). A ``BackendError`` from the policy (or a reply with
  ``finish_reason="error"``) ends the episodes it failed with ``status="error"`` (``agents.errors``: not
  the agent's failure); any other policy exception stops the run (after closing the envs). An episode's
  time is its own env calls and the policy calls it took part in; time queued behind other episodes is
  not charged.
* ``protocol="tools"``: the agent acts by tool calls (``agents.tools``): a ``ToolCallParser`` sits just
  outside ``ActionParser``, the prompt says so, and a backend with ``supports_tools`` gets the schemas.
* ``on_done(trajectory)``: called in the loop's thread as each episode ends (a journal for resume).
* Deterministic given the seeds and a deterministic policy: same arguments → same rows, for any
  ``workers`` and pool kind. Uids are ``{run_id}-g{group}`` and ``{group_uid}-{copy}``; ``run_id`` defaults
  to a hash of the arguments.
"""

from __future__ import annotations

import hashlib
import itertools
import queue
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from aem_gym.agents.envpool import Done, InlinePool, ThreadPool
from aem_gym.agents.episode import (
    EnvFactory,
    EnvWrapper,
    Episode,
    EpisodeSpec,
    env_stack,
    registered_limit,
    with_turn_limit,
)
from aem_gym.agents.errors import BackendError, call_policy
from aem_gym.agents.policy import Policy
from aem_gym.agents.procpool import ProcessPool
from aem_gym.agents.prompts import DEFAULT_HISTORY, PromptBuilder, prompt_builder
from aem_gym.agents.records import RolloutResult, Trajectory
from aem_gym.agents.tools import ToolCallParser, ToolsPrompt, check_protocol, toolset
from aem_gym.agents.types import Generation, SamplingParams

TaskSpec = tuple[str | None, int] | int
SCHEDULES = ("lockstep", "independent")
local_env = env_stack  # the default env factory (kept under its old name for custom factories)


def normalize_tasks(tasks: Sequence[TaskSpec]) -> list[tuple[str | None, int]]:
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
    """Runs episodes (see the module docstring for the full contract).

    ``workers``: env workers. ``episode_timeout_s``: wall-clock budget per episode (None = none).
    ``history_k``: at most this many past turns in the prompt (None: no cap); ``history_tokens``: the
    past turns shown fit this many estimated tokens (None: no budget). ``prompt``: a ``PromptBuilder``
    (default: the one registered for each env id). ``progress``: a tqdm bar of finished episodes.
    ``env_factory``: ``(env_id, env_kwargs, wrappers) -> env`` (default ``agents.episode.env_stack``;
    ``aem_gym.agents.ray_pool.RayEnvPool`` places the envs in Ray actors). ``process``: env workers are
    processes (kept between runs until ``close()``). ``schedule``/``max_concurrent``: see above.
    """

    def __init__(self, workers: int = 2, episode_timeout_s: float | None = None,
                 history_k: int | None = DEFAULT_HISTORY, prompt: PromptBuilder | None = None,
                 progress: bool = True,
                 env_factory: EnvFactory | None = None, max_concurrent: int | None = None,
                 schedule: str = "auto", process: bool = False, history_tokens: int | None = None,
                 protocol: str = "text"):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        if schedule not in (*SCHEDULES, "auto"):
            raise ValueError(f"schedule must be auto or one of {SCHEDULES}, got {schedule!r}")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1 (or None: every episode at once)")
        if process and env_factory is not None:
            raise ValueError("process workers build their envs themselves: pass env_factory or process=True")
        self.workers, self.episode_timeout_s = workers, episode_timeout_s
        self.history_k, self.history_tokens = history_k, history_tokens
        self.prompt, self.progress = prompt, progress
        self.env_factory, self.max_concurrent, self.schedule, self.process = (env_factory, max_concurrent,
                                                                              schedule, process)
        self.protocol = check_protocol(protocol)
        self._processes: ProcessPool | None = None
        self._keys = itertools.count()

    # -- public API -----------------------------------------------------------------------------------
    def run(self, env_id: str, tasks: Sequence[TaskSpec], policy: Policy, group_size: int = 1,
            max_turns: int | None = 50, env_kwargs: dict[str, Any] | None = None,
            wrappers: Sequence[EnvWrapper] = (), sampling: SamplingParams | None = None, seed: int = 0,
            run_id: str | None = None, output_dir: str | Path | None = None,
            reset_options: dict[str, Any] | None = None,
            on_done: Callable[[Trajectory], None] | None = None) -> RolloutResult:
        """Roll out ``len(tasks) × group_size`` episodes of ``env_id``; see the module docstring."""
        if group_size < 1:
            raise ValueError("group_size must be >= 1")
        task_list = normalize_tasks(tasks)
        key = repr((env_id, task_list, group_size, seed)).encode()
        run_id = run_id or "r" + hashlib.sha1(key).hexdigest()[:8]
        specs = [EpisodeSpec(env_id, s, iid, group_uid=f"{run_id}-g{g}", traj_uid=f"{run_id}-g{g}-{c}",
                             copy=c, options=dict(reset_options or {}))
                 for g, (iid, s) in enumerate(task_list) for c in range(group_size)]
        return self.run_specs(specs, policy, max_turns=max_turns, env_kwargs=env_kwargs, wrappers=wrappers,
                              sampling=sampling, seed=seed, output_dir=output_dir, desc=env_id,
                              on_done=on_done)

    def run_specs(self, specs: Sequence[EpisodeSpec], policy: Policy, max_turns: int | None = 50,
                  env_kwargs: dict[str, Any] | None = None, wrappers: Sequence[EnvWrapper] = (),
                  sampling: SamplingParams | None = None, seed: int = 0, output_dir: str | Path | None = None,
                  desc: str = "", on_done: Callable[[Trajectory], None] | None = None) -> RolloutResult:
        """Run ``specs`` (any envs); trajectories come back in ``specs`` order. ``seed``: the root of the
        per-request sampling seeds."""
        if max_turns is not None and max_turns < 1:
            raise ValueError("max_turns must be >= 1 (or None: the env's own limit)")
        episodes = [Episode(spec, i) for i, spec in enumerate(specs)]
        pool = self._pool()
        from tqdm.auto import tqdm

        bar = tqdm(total=len(episodes), desc=f"rollout {desc}".rstrip(), unit="ep", disable=not self.progress,
                   leave=False)
        if self.protocol == "tools":
            wrappers = [ToolCallParser, *wrappers]  # just outside ActionParser, inside the caller's
        driver = _Driver(self, episodes, pool, policy, sampling or SamplingParams(), seed, max_turns,
                         dict(env_kwargs or {}), with_turn_limit(wrappers, max_turns), bar)
        driver.on_done = on_done
        t0 = time.perf_counter()
        try:
            driver.run()
        finally:
            bar.close()
            pool.finish()
        wall = time.perf_counter() - t0
        turns = [row for ep in episodes for row in ep.traj.turns]
        stats = {"policy_s": driver.policy_s, "env_s": max(0.0, wall - driver.policy_s), "wall_s": wall,
                 "turns_per_s": len(turns) / wall if wall > 0 else 0.0, "n_turns": len(turns)}
        result = RolloutResult(turns=turns, trajectories=[ep.traj for ep in episodes], stats=stats)
        if output_dir is not None:
            result.write_jsonl(output_dir)
        return result

    def close(self) -> None:
        """Stop the process workers, if any (a thread pool lives only as long as its run)."""
        if self._processes is not None:
            self._processes.close()
            self._processes = None

    def __enter__(self) -> RolloutEngine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------------------
    def _pool(self) -> InlinePool | ThreadPool | ProcessPool:
        if self.process:
            if self._processes is None:
                self._processes = ProcessPool(self.workers)
            return self._processes
        if self.workers == 1 and self.episode_timeout_s is None:
            return InlinePool(self.env_factory)
        return ThreadPool(self.workers, self.env_factory)

    def builder(self, env_id: str, policy: Policy) -> PromptBuilder | None:
        if not getattr(policy, "needs_prompt", True):
            return None
        inner = self.prompt or prompt_builder(env_id, k=self.history_k, history_tokens=self.history_tokens)
        if self.protocol == "tools":
            native = bool(getattr(policy, "supports_tools", False))
            return ToolsPrompt(inner, env_id, native=native)  # type: ignore[return-value]
        return inner

    def tools(self, env_id: str, policy: Policy) -> list[dict[str, Any]] | None:
        """The schemas a request carries: under the tools protocol, for a backend that sends them."""
        if self.protocol != "tools" or not getattr(policy, "supports_tools", False):
            return None
        return list(toolset(env_id).schemas)


class _Generated:
    """A policy call that finished in a policy thread (independent schedule)."""

    __slots__ = ("episodes", "gens", "error", "seconds", "backend_error")

    def __init__(self, episodes: list[Episode], gens: list[Generation | None] | None,
                 error: BaseException | None, seconds: float, backend_error: BackendError | None = None):
        self.episodes, self.gens, self.error, self.seconds = episodes, gens, error, seconds
        self.backend_error = backend_error  # failed some of the requests (their gens are None)


class _Driver:
    """One run: opens episodes under the concurrency cap, batches requests, dispatches steps, handles what
    comes back and enforces the per-episode time budget."""

    def __init__(self, engine: RolloutEngine, episodes: list[Episode], pool: Any, policy: Policy,
                 sampling: SamplingParams, seed: int, max_turns: int | None, env_kwargs: dict[str, Any],
                 wrappers: list[EnvWrapper], bar: Any):
        self.engine, self.pool, self.policy, self.sampling, self.seed = engine, pool, policy, sampling, seed
        self.max_turns, self.env_kwargs, self.wrappers, self.bar = max_turns, env_kwargs, wrappers, bar
        self.timeout, self.cap = engine.episode_timeout_s, engine.max_concurrent
        self.by_key = {next(engine._keys): ep for ep in episodes}
        self.key = {id(ep): k for k, ep in self.by_key.items()}
        self.waiting: deque[Episode] = deque(episodes)  # not opened yet
        self.ready: list[Episode] = []  # waiting for an action
        self.busy: dict[int, str] = {}  # key -> "open" | "step" in flight
        self.live = self.in_policy = 0
        self.policy_s = 0.0
        self.builders: dict[str, tuple[PromptBuilder | None, list[dict[str, Any]] | None]] = {}
        self.env_limits: dict[str, int | None] = {}
        self.on_done: Callable[[Trajectory], None] | None = None
        self.policy_pool: ThreadPoolExecutor | None = None
        self.schedule = engine.schedule if engine.schedule != "auto" else \
            getattr(policy, "preferred_schedule", "lockstep")
        pool.eager = self.schedule == "independent"  # lockstep needs every answer before it goes on

    def run(self) -> None:
        try:
            while True:
                self._open_more()
                self._generate()
                self.pool.flush()
                if not (self.busy or self.in_policy or self.waiting or self.ready):
                    return
                self._wait()
        finally:
            if self.policy_pool is not None:
                self.policy_pool.shutdown(wait=True, cancel_futures=True)

    # -- scheduling -----------------------------------------------------------------------------------
    def _open_more(self) -> None:
        while self.waiting and (self.cap is None or self.live < self.cap):
            ep = self.waiting.popleft()
            key = self.key[id(ep)]
            self.live += 1
            self.busy[key] = "open"
            spec = ep.spec
            self.pool.open(key, spec.env_id, self.env_kwargs, self.wrappers, spec.seed, spec.reset_options())

    def _generate(self) -> None:
        if not self.ready:
            return
        if self.schedule == "lockstep":
            if self.busy:  # the barrier: a batched model sees the same batches whatever the timing
                return
            batch, self.ready = sorted(self.ready, key=lambda e: e.index), []
            reqs = [self._request(ep) for ep in batch]
            t0 = time.perf_counter()
            gens, error = call_policy(self.policy, reqs)
            self._charge(batch, time.perf_counter() - t0)
            self._answered(batch, gens, error)
            return
        limit = self.cap or len(self.by_key)
        if self.policy_pool is None:
            self.policy_pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="aem-policy")
        while self.ready and self.in_policy < limit:  # one call per episode, each on its own
            ep = self.ready.pop(0)
            self.in_policy += 1
            self.policy_pool.submit(self._generate_async, [ep], [self._request(ep)])

    def _generate_async(self, batch: list[Episode], reqs: list) -> None:
        t0 = time.perf_counter()
        backend: BackendError | None = None
        try:
            (gens, backend), error = call_policy(self.policy, reqs), None
        except BaseException as e:  # re-raised in the loop's thread: a policy failure stops the run
            gens, error = None, e
        self.pool.events.put(_Generated(batch, gens, error, time.perf_counter() - t0, backend))

    def _answered(self, batch: list[Episode], gens: list[Generation | None],
                  error: BackendError | None) -> None:
        """Step each episode with its reply; one whose reply failed (``BackendError``, or a generation with
        ``finish_reason="error"``) ends with ``status="error"`` instead: not the agent's failure."""
        for ep, gen in zip(batch, gens, strict=True):
            if ep.done:  # it may have lost its env meanwhile
                continue
            if gen is None or gen.finish_reason == "error":
                ep.backend_failed(str(error) if gen is None else gen.error or "the backend returned an error")
                self._finished(ep)
            else:
                self._dispatch(ep, gen)

    def _request(self, ep: Episode):
        env_id = ep.spec.env_id
        if env_id not in self.builders:
            self.builders[env_id] = (self.engine.builder(env_id, self.policy),
                                     self.engine.tools(env_id, self.policy))
            self.env_limits[env_id] = registered_limit(env_id)
        builder, tools = self.builders[env_id]
        limits = [x for x in (self._budget(ep), self.env_limits[env_id]) if x is not None]
        return ep.request(builder, self.sampling, self.seed, min(limits) if limits else None, tools)

    def _charge(self, batch: list[Episode], seconds: float) -> None:
        self.policy_s += seconds
        for ep in batch:
            ep.used += seconds

    def _dispatch(self, ep: Episode, gen: Generation) -> None:
        key = self.key[id(ep)]
        self.busy[key] = "step"
        self.pool.step(key, ep.reply(gen))

    # -- events ---------------------------------------------------------------------------------------
    def _wait(self) -> None:
        try:
            ev = self.pool.events.get(timeout=self._next_deadline())
        except queue.Empty:
            ev = None
        while ev is not None:
            for one in ev if isinstance(ev, list) else (ev,):
                self._handle(one)
            try:
                ev = self.pool.events.get_nowait()
            except queue.Empty:
                ev = None
        if self.timeout is not None:
            self._abandon_overdue()

    def _handle(self, ev: Done | _Generated) -> None:
        if isinstance(ev, _Generated):
            self.in_policy -= 1
            if ev.error is not None:
                raise ev.error
            self._charge(ev.episodes, ev.seconds)
            self._answered(ev.episodes, ev.gens or [], ev.backend_error)
            return
        ep = self.by_key.get(ev.key)
        if ep is None or ep.done or self.busy.pop(ev.key, None) is None:
            return  # an answer from another run, or to a call the loop gave up on
        ep.used += ev.seconds
        if not ev.ok:
            if ev.op == "open":
                ep.end(truncated=True, error=ev.value)
            else:
                ep.step_failed(ev.value)
        elif ev.op == "open":
            ep.opened(*ev.value, seconds=ev.seconds)
            ep.oracle = self.pool.oracle(ev.key)
            if self._budget(ep) == 0:  # a replay of an episode that recorded no turn
                ep.end(truncated=True, budget_reached=True)
        else:
            ep.stepped(ev.value, self._budget(ep))
        if ep.done:
            self._finished(ep)
        elif self.timeout is not None and ep.used >= self.timeout:
            ep.expire()
            self._finished(ep)
        else:
            self.ready.append(ep)

    def _budget(self, ep: Episode) -> int | None:
        own = ep.spec.max_turns
        if self.max_turns is None:
            return own
        return self.max_turns if own is None else min(own, self.max_turns)

    def _finished(self, ep: Episode) -> None:
        self.pool.release(self.key[id(ep)])
        self.live -= 1
        self.bar.update(1)
        if self.on_done is not None:
            self.on_done(ep.traj)

    # -- timeouts -------------------------------------------------------------------------------------
    def _next_deadline(self) -> float | None:
        """Seconds until the first in-flight call could overrun its episode's budget (None: no timeout)."""
        if self.timeout is None or not self.busy:
            return None
        now, soonest = time.perf_counter(), float("inf")
        for key in self.busy:
            ep = self.by_key[key]
            since = self.pool.running_since(key)
            # a call not yet seen running may start any moment: it cannot overrun before its whole budget
            soonest = min(soonest, (since if since is not None else now) + max(0.0, self.timeout - ep.used))
        return max(0.0, soonest - now) + 1e-3

    def _abandon_overdue(self) -> None:
        now = time.perf_counter()
        for key, op in list(self.busy.items()):
            ep, since = self.by_key[key], self.pool.running_since(key)
            if since is None or ep.used + (now - since) < self.timeout:  # type: ignore[operator]
                continue
            del self.busy[key]
            lost = self.pool.abandon(key)
            ep.hung = True
            if op == "open":
                ep.end(truncated=True, timed_out=True)
            else:
                ep.step_failed(None)
            self._finished(ep)
            for other in lost:  # a killed worker process took these episodes' envs with it
                self.busy.pop(other, None)
                lost_ep = self.by_key[other]
                if lost_ep in self.ready:
                    self.ready.remove(lost_ep)
                lost_ep.abort("env worker restarted: another episode on it overran its time")
                self.live -= 1
                self.bar.update(1)
                if self.on_done is not None:
                    self.on_done(lost_ep.traj)
