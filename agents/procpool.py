"""Env worker processes for the episode loop (``RolloutEngine(process=True)``): the ``ProcessPool`` kind
of ``aem_gym.agents.envpool`` (the protocol, batching and timeout rules are described there).

Each worker process hosts its share of the envs (an episode's env lives in the least loaded worker). The
calls queued for a worker in one scheduling round travel as one message; the worker answers each open,
step and oracle call, says when it is ready and when it has unpacked a batch (start-up and imports are no
episode's time), and a thread per worker in the loop's process reads the answers. A worker whose call
overran its episode's time is killed and replaced; the other episodes it hosted lose their envs.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym

from aem_gym.agents.envpool import Done, safe_close
from aem_gym.agents.episode import EnvWrapper, env_stack, oracle_of


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
        safe_close(env)


def _worker_call(envs: dict[int, gym.Env], key: int, op: str, args: Any) -> Any:
    if op == "open":
        env_id, env_kwargs, wrappers, seed, options = args
        env = envs[key] = env_stack(env_id, env_kwargs, wrappers)
        return env.reset(seed=seed, options=options)
    if op == "close":
        safe_close(envs.pop(key, None))
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
