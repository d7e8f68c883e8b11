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
* ``ProcessPool``: N worker processes, each hosting its share of the envs, for CPU-bound Python envs that
  threads cannot run side by side under the GIL. The calls queued for a worker in one scheduling round
  travel as one message; results come back one by one. Wrappers must be picklable
  (``functools.partial`` of a class, not a lambda), and a script that uses process workers needs the
  ``if __name__ == "__main__":`` guard (workers are spawned: they import the main module).

Results come back in batches (a list of ``Done``): by default when nothing the pool was given is still
running (the lockstep schedule needs them all anyway, and one wake-up per turn instead of one per call
is what keeps threads from fighting over the GIL); each at once with ``pool.eager = True`` (the
independent schedule). Timeouts: ``running_since(key)`` says since when the call an episode waits on has
been running (``None`` while it is queued behind others: queued time is not the episode's fault). The loop gives up on a call
that overruns its episode's budget with ``abandon(key)``: a thread is left to finish (its env is closed
when it returns); a worker process is killed, so the other episodes it hosted lose their envs, and
``abandon`` returns their keys.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections import deque
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


def _safe_close(env: gym.Env | None) -> None:
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
            _safe_close(self._envs.pop(key, None))
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
            self._submit(lambda: _safe_close(env))

    def flush(self) -> None:
        pass

    def running_since(self, key: int) -> float | None:
        return self._running.get(key)

    def abandon(self, key: int) -> list[int]:
        with self._lock:
            self._outstanding.discard(key)
            batch = self._take()  # the others' answers were waiting for this call
        if not self._close_later(key):  # it returned meanwhile: close its env now
            _safe_close(self._envs.pop(key, None))
        if batch:
            self.events.put(batch)
        return []

    def finish(self) -> None:
        with self._lock:
            hung = bool(self._running)
            idle = [k for k in self._envs if k not in self._running]
            self._abandoned.update(self._running)
        for key in idle:
            _safe_close(self._envs.pop(key, None))
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


# -- worker processes -------------------------------------------------------------------------------------
def _serve(conn: Any) -> None:
    """A worker process: says it is ready (its imports done, so start-up is nobody's episode time), then
    runs the batches of calls it receives, one reply per open, step and oracle."""
    import aem_envs

    aem_envs.list_envs()  # load the env plugins now, not inside the first episode's reset
    conn.send(READY)
    envs: dict[int, gym.Env] = {}
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            break
        if batch is None:
            break
        conn.send(STARTED)  # unpickling may have imported the wrappers' modules: not the episode's time
        for key, op, args in batch:
            start = time.perf_counter()
            try:
                ok, value = True, _worker_call(envs, key, op, args)
            except Exception as e:  # an env bug ends its episode, not the worker
                ok, value = False, repr(e)
            if op == "close":
                continue
            try:
                conn.send((key, op, ok, value, time.perf_counter() - start))
            except Exception as e:  # an info dict that cannot be pickled: say so instead of dying
                why = f"cannot send the result back: {e!r}"
                conn.send((key, op, False, why, time.perf_counter() - start))
    for env in envs.values():
        _safe_close(env)


def _worker_call(envs: dict[int, gym.Env], key: int, op: str, args: Any) -> Any:
    if op == "open":
        env_id, env_kwargs, wrappers, seed, options = args
        env = envs[key] = env_stack(env_id, env_kwargs, wrappers)
        return env.reset(seed=seed, options=options)
    if op == "close":
        _safe_close(envs.pop(key, None))
        return None
    if key not in envs:
        raise RuntimeError(f"no env for episode {key} in this worker (its worker process was restarted)")
    if op == "step":
        return envs[key].step(args)
    if op == "oracle":
        return oracle_of(envs[key])()
    raise ValueError(f"unknown env call {op!r}")


READY = (-1, "ready", True, None, 0.0)
STARTED = (-1, "started", True, None, 0.0)


class _Worker:
    """One worker process, the calls sent to it and not yet answered, and a thread reading its replies."""

    def __init__(self, ctx: Any, events: queue.SimpleQueue, eager: bool = False):
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child,), daemon=True, name="aem-env-worker")
        self.proc.start()
        child.close()
        self.events = events
        self.outbox: list[tuple[int, str, Any]] = []
        self.pending: deque[tuple[int, int]] = deque()  # (key, batch number) of unanswered opens/steps
        self.results: list[Done] = []  # answers not delivered yet
        self.eager = eager
        self.sent = self.started = 0  # batches sent, batches the worker has unpacked
        self.last_reply = 0.0  # when the worker last answered or unpacked a batch
        self.replies: dict[int, queue.SimpleQueue] = {}  # oracle calls waiting for their answer
        self.lock = threading.Lock()
        self.killed = False
        self.ready = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True, name="aem-env-reader")
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                key, op, ok, value, seconds = self.conn.recv()
            except (EOFError, OSError):
                break
            if op in ("ready", "started"):
                with self.lock:
                    self.last_reply = time.perf_counter()  # the next call starts now, not before
                    self.started += op == "started"
                self.ready.set()
                continue
            if op == "oracle":
                self.replies.pop(key).put((ok, value))
                continue
            with self.lock:
                if self.pending:
                    self.pending.popleft()
                self.last_reply = time.perf_counter()
                self.results.append(Done(key, op, ok, value, seconds))
                batch = None
                if self.eager or not self.pending:
                    batch, self.results = self.results, []
            if batch:
                self.events.put(batch)
        if not self.killed:  # the process died under its episodes: end each one still waiting
            with self.lock:
                lost, self.pending = list(self.pending), deque()
                batch, self.results = self.results, []
            batch += [Done(key, "step", False, "env worker process died", 0.0) for key, _ in lost]
            if batch:
                self.events.put(batch)

    def send(self, batch: list[tuple[int, str, Any]]) -> None:
        with self.lock:
            self.sent += 1
            self.pending.extend((key, self.sent) for key, op, _ in batch if op in ("open", "step"))
            self.conn.send(batch)

    def call(self, key: int, op: str) -> Any:
        """A synchronous call (the oracle): sent at once, answered after the calls queued before it."""
        box: queue.SimpleQueue = queue.SimpleQueue()
        self.replies[key] = box
        with self.lock:
            self.sent += 1
            self.conn.send([(key, op, None)])
        ok, value = box.get()
        if not ok:
            raise RuntimeError(value)
        return value

    def running(self) -> tuple[int, float] | None:
        """The call this worker is on and since when: it started when the one before it was answered, or
        when its batch was unpacked (the worker says so), whichever came last."""
        with self.lock:
            if not self.pending or self.pending[0][1] > self.started:  # its batch is not unpacked yet
                return None
            return self.pending[0][0], self.last_reply

    def stop(self, kill: bool = False) -> None:
        self.killed = True
        try:
            if kill:
                self.proc.kill()
            else:
                with self.lock:
                    self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=None if not kill else 5)
        if self.proc.is_alive():
            self.proc.kill()
        self.conn.close()


class ProcessPool:
    """Env calls in ``workers`` processes (``start_method``: ``spawn`` by default, safe beside threads and
    torch). The pool outlives a run (its processes start once; a run's keys are unique, so a late answer
    from an earlier run is recognised and dropped); stop it with ``close()`` or use it as a context manager.
    ``RolloutEngine(process=True)`` makes one on its first run and keeps it until ``engine.close()``."""

    kind = "process"

    def __init__(self, workers: int, start_method: str = "spawn", ready_timeout_s: float = 300.0):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self._ctx = mp.get_context(start_method)
        self.events: queue.SimpleQueue[list[Done]] = queue.SimpleQueue()
        self._eager = False
        self._workers = [_Worker(self._ctx, self.events) for _ in range(workers)]
        self._home: dict[int, int] = {}  # episode key -> worker index
        for w in self._workers:  # start-up (imports, plugins) happens here, not in the first episodes
            if not w.ready.wait(ready_timeout_s):
                self.close()
                raise RuntimeError(f"env worker processes did not start within {ready_timeout_s:.0f} s")

    @property
    def workers(self) -> int:
        return len(self._workers)

    @property
    def eager(self) -> bool:
        return self._eager

    @eager.setter
    def eager(self, value: bool) -> None:
        self._eager = value
        for w in self._workers:
            w.eager = value

    def open(self, key: int, env_id: str, env_kwargs: Mapping[str, Any], wrappers: Sequence[EnvWrapper],
             seed: int, options: dict[str, Any]) -> None:
        load = [0] * len(self._workers)
        for w in self._home.values():
            load[w] += 1
        w = self._home[key] = load.index(min(load))  # the least loaded worker
        args = (env_id, dict(env_kwargs), list(wrappers), seed, options)
        self._workers[w].outbox.append((key, "open", args))

    def step(self, key: int, action: str) -> None:
        self._workers[self._home[key]].outbox.append((key, "step", action))

    def release(self, key: int) -> None:
        w = self._home.pop(key, None)
        if w is not None:
            self._workers[w].outbox.append((key, "close", None))

    def oracle(self, key: int) -> Callable[[], Any]:
        worker = self._workers[self._home[key]]
        return lambda: worker.call(key, "oracle")

    def flush(self) -> None:
        for i, w in enumerate(self._workers):
            if not w.outbox:
                continue
            batch, w.outbox = w.outbox, []
            if not w.proc.is_alive():  # it died (its episodes were told): later calls go to a fresh one
                w.stop(kill=True)
                w = self._workers[i] = _Worker(self._ctx, self.events, self._eager)
            w.send(batch)

    def running_since(self, key: int) -> float | None:
        w = self._home.get(key)
        cur = self._workers[w].running() if w is not None else None
        return cur[1] if cur is not None and cur[0] == key else None

    def abandon(self, key: int) -> list[int]:
        w = self._home.pop(key)
        self._workers[w].stop(kill=True)
        self._workers[w] = _Worker(self._ctx, self.events, self._eager)
        lost = [k for k, h in self._home.items() if h == w]
        for k in lost:
            del self._home[k]
        return lost

    def finish(self) -> None:
        """Close the run's envs; the processes stay up for the next run until ``close()``."""
        for key in list(self._home):
            self.release(key)
        self.flush()

    def close(self) -> None:
        """Stop the worker processes (their envs are closed first)."""
        for w in self._workers:
            w.stop()
        self._workers = []

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
