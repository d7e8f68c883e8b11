"""Where the episode loop's env calls run: inline, in threads, or in worker processes.

Each episode's env stack lives in one pool for the episode's whole life. The loop asks the pool to
``open`` it (build the stack and reset it), ``step`` it and ``release`` it (close it), and reads the
outcome of every open and step from ``pool.events`` (a queue of ``Done``), so it never blocks on one env::

    pool.open(key, env_id, env_kwargs, wrappers, seed, options)  # Done(key, "open", ok, (obs, info))
    pool.step(key, text)        # Done(key, "step", ok, (obs, reward, terminated, truncated, info))
    pool.flush()                # send what was queued (process workers)
    pool.finish()               # end of the run: close what is left

* ``InlinePool``: every call runs at once in the loop's own thread: no hand-off at all (one worker and
  no per-episode timeout: nothing could run beside it or interrupt it anyway).
* ``ThreadPool``: N threads (envs that wait: sandboxes, web pages, remote actors; the env factory may
  return proxies, e.g. ``aem_gym.agents.ray_pool.RayEnvPool``).
* ``ProcessPool`` (``aem_gym.agents.procpool``): N worker processes, each hosting its share of the envs,
  for CPU-bound Python envs that threads cannot run side by side under the GIL. The calls queued for a
  worker in one scheduling round travel as one message. Wrappers must be picklable (``functools.partial``
  of a class, not a lambda), and a script that uses process workers needs the ``if __name__ ==
  "__main__":`` guard (workers are spawned: they import the main module).

Results come back in batches (a list of ``Done``): by default when nothing the pool was given is still
running (the lockstep schedule needs them all anyway, and one wake-up per turn instead of one per call
is what keeps threads from fighting over the GIL); each at once with ``pool.eager = True`` (the
independent schedule). Timeouts: ``running_since(key)`` says since when the call an episode waits on has
been running (``None`` while it is queued behind others: queued time is not the episode's fault). The
loop gives up on a call that overruns its episode's budget with ``abandon(key)``: a thread is left to
finish (its env is closed when it returns); a worker process is killed, so the other episodes it hosted
lose their envs, and ``abandon`` returns their keys.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from aem_gym.agents.episode import EnvFactory, EnvWrapper, env_stack, oracle_of


@dataclass(slots=True)
class Done:
    """The outcome of one env call: ``value`` is the call's result, or the exception's repr if not ``ok``."""

    key: int
    op: str  # "open" | "step"
    ok: bool
    value: Any
    seconds: float  # the call's own duration (time queued excluded)


def safe_close(env: gym.Env | None) -> None:
    if env is None:
        return
    try:
        env.close()
    except Exception:  # closing is best effort; an env's own close must be idempotent anyway
        pass


class ThreadPool:
    """Env calls in ``workers`` threads; ``env_factory(env_id, env_kwargs, wrappers)`` builds each stack."""

    kind = "thread"

    def __init__(self, workers: int, env_factory: EnvFactory | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers, self.env_factory = workers, env_factory or env_stack
        self.events: queue.SimpleQueue[list[Done]] = queue.SimpleQueue()
        self.eager = False
        self._envs: dict[int, gym.Env] = {}
        self._running: dict[int, float] = {}
        self._abandoned: set[int] = set()  # keys whose env is closed when their running call returns
        self._outstanding: set[int] = set()  # keys with a call given and not yet answered (nor abandoned)
        self._results: list[Done] = []  # answers not delivered yet
        self._lock = threading.Lock()
        self._executor = self._make_executor()

    def _make_executor(self) -> ThreadPoolExecutor | None:
        return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="aem-env")

    def _submit(self, fn: Callable[[], None]) -> None:
        self._executor.submit(fn)  # type: ignore[union-attr]

    def _call(self, key: int, op: str, call: Callable[[], Any]) -> None:
        with self._lock:
            self._outstanding.add(key)
        self._submit(lambda: self._run(key, op, call))

    def _run(self, key: int, op: str, call: Callable[[], Any]) -> None:
        start = self._running[key] = time.perf_counter()
        try:
            ok, value = True, call()
        except Exception as e:  # an env bug ends this episode, not the run
            ok, value = False, repr(e)
        done = Done(key, op, ok, value, time.perf_counter() - start)
        with self._lock:
            del self._running[key]
            gone = key in self._abandoned
            if key in self._outstanding:
                self._outstanding.discard(key)
                self._results.append(done)
            batch = self._take()
        if gone:  # the loop gave up on this call or released its episode: free the env it left behind
            safe_close(self._envs.pop(key, None))
        if batch:
            self.events.put(batch)

    def _take(self) -> list[Done] | None:
        """The answers to deliver now (called under the lock)."""
        if self._results and (self.eager or not self._outstanding):
            batch, self._results = self._results, []
            return batch
        return None

    def _close_later(self, key: int) -> bool:
        """Mark ``key``'s env to be closed by its running call; False when no call is running."""
        with self._lock:
            if key not in self._running:
                return False
            self._abandoned.add(key)
            return True

    # -- the pool protocol ------------------------------------------------------------------------------
    def open(self, key: int, env_id: str, env_kwargs: Mapping[str, Any], wrappers: Sequence[EnvWrapper],
             seed: int, options: dict[str, Any]) -> None:
        def call() -> Any:
            env = self._envs[key] = self.env_factory(env_id, dict(env_kwargs), list(wrappers))
            return env.reset(seed=seed, options=options)

        self._call(key, "open", call)

    def step(self, key: int, action: str) -> None:
        self._call(key, "step", lambda: self._envs[key].step(action))

    def oracle(self, key: int) -> Callable[[], Any]:
        return oracle_of(self._envs.get(key))

    def release(self, key: int) -> None:
        if self._close_later(key):  # a call the loop gave up on still uses the env
            return
        env = self._envs.pop(key, None)
        if env is not None:
            self._submit(lambda: safe_close(env))

    def flush(self) -> None:
        pass

    def running_since(self, key: int) -> float | None:
        return self._running.get(key)

    def abandon(self, key: int) -> list[int]:
        with self._lock:
            self._outstanding.discard(key)
            batch = self._take()  # the others' answers were waiting for this call
        if not self._close_later(key):  # it returned meanwhile: close its env now
            safe_close(self._envs.pop(key, None))
        if batch:
            self.events.put(batch)
        return []

    def finish(self) -> None:
        with self._lock:
            hung = bool(self._running)
            idle = [k for k in self._envs if k not in self._running]
            self._abandoned.update(self._running)
        for key in idle:
            safe_close(self._envs.pop(key, None))
        if self._executor is not None:  # queued closes still run; a hung call keeps its thread: no waiting
            self._executor.shutdown(wait=not hung)


class InlinePool(ThreadPool):
    """Every env call runs at once in the caller's thread (its ``Done`` is queued before the call returns)."""

    kind = "inline"

    def __init__(self, env_factory: EnvFactory | None = None):
        super().__init__(1, env_factory)

    def _make_executor(self) -> None:
        return None

    def _submit(self, fn: Callable[[], None]) -> None:
        fn()

    def _run(self, key: int, op: str, call: Callable[[], Any]) -> None:
        # Nothing runs beside the loop and nothing can be abandoned: no bookkeeping, just the call.
        start = time.perf_counter()
        try:
            ok, value = True, call()
        except Exception as e:  # an env bug ends this episode, not the run
            ok, value = False, repr(e)
        self.events.put([Done(key, op, ok, value, time.perf_counter() - start)])

    def _call(self, key: int, op: str, call: Callable[[], Any]) -> None:
        self._run(key, op, call)

    def step(self, key: int, action: str) -> None:  # the hot path, without the closures
        start = time.perf_counter()
        try:
            ok, value = True, self._envs[key].step(action)
        except Exception as e:  # an env bug ends this episode, not the run
            ok, value = False, repr(e)
        self.events.put([Done(key, "step", ok, value, time.perf_counter() - start)])
