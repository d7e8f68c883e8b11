"""Ray backend for the rollout engine: env workers as Ray actors across a cluster, the policy where the
GPUs are.

    from aem_gym.agents.ray_pool import RayEnvPool, RayPolicy, ray_engine
    with RayEnvPool(num_workers=16) as pool:                 # joins $RAY_ADDRESS, or starts a local Ray
        engine = ray_engine(pool)                             # a RolloutEngine whose envs live in the actors
        result = engine.run("aem/Household-v0", tasks, policy=make_policy("hf:runs/tiny"), group_size=8)

Contract:

* ``RayEnvPool`` is an ``env_factory`` for ``aem_gym.agents.rollout.RolloutEngine``: each episode's env
  (``ActionParser`` + wrappers, built exactly as ``aem_gym.agents.episode.env_stack`` builds it) is created
  inside one of ``num_workers`` actors (round robin; ``scheduling="SPREAD"`` places the actors across nodes)
  and driven through a ``RemoteEnv`` proxy. Reset seeds travel with the calls, so the TurnRecords are the same
  as with the local thread pool for the same seeds, whatever actor an env lands on.
* An actor runs one call at a time (Ray's default), so envs that are not thread-safe stay safe; the
  engine's threads only wait on ``ray.get``, so give it at least as many threads as actors
  (``ray_engine`` does).
* An env's exception is sent back and re-raised as the same exception (not a ``RayTaskError``), so an
  env bug ends its episode with the same recorded error as locally. A dead actor ends its episodes the
  same way (the engine records the error and carries on).
* ``RayPolicy(spec, num_gpus=1)`` builds ``make_policy(spec)`` inside an actor that holds the GPU(s), so
  the driver can run on a CPU node. The oracle in a request's context survives the trip only when it
  belongs to a ``RemoteEnv`` (a local env cannot be shipped); otherwise the remote side sees no oracle.

Needs the ``ray`` extra (``pip install -e '.[ray]'``); importing this module works without it.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from aem_gym.agents.types import Generation, GenerationRequest


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


def _ray():
    try:
        import ray
    except ImportError as e:
        raise ImportError("the Ray backend needs Ray: pip install -e '.[ray]'") from e
    return ray


class _Raised:
    """An env exception, shipped back as a value so the driver re-raises the very same exception."""

    def __init__(self, exc: BaseException):
        self.exc = exc


class EnvWorker:
    """Hosts many envs, keyed by the driver's ids. Used as a Ray actor class (``ray.remote(EnvWorker)``)."""

    def __init__(self) -> None:
        self.envs: dict[int, Any] = {}

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # the driver re-raises it; the actor stays up for its other envs
            return _Raised(e)

    def open(self, key: int, env_id: str, env_kwargs: dict[str, Any], wrappers: Sequence[Any]):
        from aem_gym.agents.episode import env_stack

        def build():
            self.envs[key] = env_stack(env_id, env_kwargs, wrappers)

        return self._call(build)

    def reset(self, key: int, seed: int | None, options: dict[str, Any] | None):
        return self._call(lambda: self.envs[key].reset(seed=seed, options=options))

    def step(self, key: int, action: Any):
        return self._call(lambda: self.envs[key].step(action))

    def oracle(self, key: int):
        def run():
            fn = getattr(self.envs[key].unwrapped, "oracle_action", None)
            return fn() if callable(fn) else None

        return self._call(run)

    def close(self, key: int):
        env = self.envs.pop(key, None)
        return self._call(env.close) if env is not None else None

    def where(self) -> dict[str, Any]:
        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "envs": len(self.envs)}


def _unwrap(value: Any) -> Any:
    if isinstance(value, _Raised):
        raise value.exc
    return value


class RemoteEnv:
    """Driver-side proxy of one env living in an ``EnvWorker`` actor (the gym calls the engine makes)."""

    def __init__(self, actor: Any, key: int):
        self.actor, self.key = actor, key
        self._closed = False

    def _get(self, ref: Any) -> Any:
        return _unwrap(_ray().get(ref))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        return self._get(self.actor.reset.remote(self.key, seed, options))

    def step(self, action: Any):
        return self._get(self.actor.step.remote(self.key, action))

    def oracle_action(self) -> Any:
        return self._get(self.actor.oracle.remote(self.key))

    @property
    def unwrapped(self) -> RemoteEnv:
        return self  # the engine asks ``env.unwrapped.oracle_action``: answered remotely

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._get(self.actor.close.remote(self.key))
        except Exception:  # the actor may already be gone at shutdown; closing is best effort
            pass


class RayEnvPool:
    """``num_workers`` env actors; call it like ``aem_gym.agents.episode.env_stack`` to get a ``RemoteEnv``.

    ``address``: a Ray cluster (default ``$RAY_ADDRESS``, else a local instance started here with
    ``init_kwargs``). ``num_cpus``: CPUs reserved per actor (verl-agent uses fractions; a whole CPU keeps
    a JVM-backed env from being starved). ``scheduling``: Ray scheduling strategy of the actors.
    ``ready_timeout_s``: how long to wait for every actor to start; actors the cluster cannot place
    (not enough free CPUs) raise a clear error instead of hanging the first rollout.
    """

    def __init__(self, num_workers: int = 2, num_cpus: float = 1.0, address: str | None = None,
                 scheduling: str = "SPREAD", init_kwargs: dict[str, Any] | None = None,
                 ready_timeout_s: float | None = 120.0):
        if num_workers < 1:
            raise ValueError("num_workers must be >= 1")
        ray = _ray()
        self._owns_ray = False
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": False, **(init_kwargs or {})}
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), **kw)
            self._owns_ray = True
        cls = ray.remote(num_cpus=num_cpus, scheduling_strategy=scheduling)(EnvWorker)
        self.actors = [cls.remote() for _ in range(num_workers)]
        try:
            ray.get([a.where.remote() for a in self.actors], timeout=ready_timeout_s)
        except ray.exceptions.GetTimeoutError:
            free = ray.available_resources().get("CPU", 0.0)
            self.shutdown()
            raise RuntimeError(f"could not start {num_workers} env actors with num_cpus={num_cpus} in "
                               f"{ready_timeout_s}s (free CPUs in the cluster: {free}); lower num_cpus or "
                               "num_workers, or free other actors") from None
        self._keys = itertools.count()
        self._lock = threading.Lock()  # the engine opens envs from several threads

    @property
    def num_workers(self) -> int:
        return len(self.actors)

    def __call__(self, env_id: str, env_kwargs: dict[str, Any], wrappers: Sequence[Any]) -> RemoteEnv:
        with self._lock:
            key = next(self._keys)
        actor = self.actors[key % len(self.actors)]
        env = RemoteEnv(actor, key)
        env._get(actor.open.remote(key, env_id, dict(env_kwargs), list(wrappers)))
        return env

    def placement(self) -> list[dict[str, Any]]:
        """Where each actor runs (pid, Ray node id, envs it holds)."""
        return _ray().get([a.where.remote() for a in self.actors])

    def shutdown(self) -> None:
        ray = _ray()
        for a in self.actors:
            ray.kill(a)
        self.actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def __enter__(self) -> RayEnvPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()


def ray_engine(pool: RayEnvPool, threads: int | None = None, **engine_kw: Any):
    """A ``RolloutEngine`` driving ``pool``'s actors (``threads`` in-flight calls, default 2 per actor)."""
    from aem_gym.agents.rollout import RolloutEngine

    return RolloutEngine(workers=threads or 2 * pool.num_workers, env_factory=pool, **engine_kw)


def _no_oracle() -> None:
    return None


class PolicyWorker:
    """Builds ``make_policy(spec, **kw)`` where it runs. Used as a Ray actor class."""

    def __init__(self, spec: str, kw: dict[str, Any]):
        from aem_gym.agents.policy import make_policy

        self.policy = make_policy(spec, **kw)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self.policy.generate(requests)

    def close(self) -> None:
        close = getattr(self.policy, "close", None)
        if callable(close):
            close()


class RayPolicy:
    """A ``Policy`` whose model lives in a Ray actor with ``num_gpus`` GPUs (e.g. ``vllm:PATH``)."""

    def __init__(self, spec: str, num_gpus: float = 0, num_cpus: float = 1, **policy_kw: Any):
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
        cls = ray.remote(num_gpus=num_gpus, num_cpus=num_cpus)(PolicyWorker)
        self.actor = cls.remote(spec, policy_kw)

    @staticmethod
    def _shippable(req: GenerationRequest) -> GenerationRequest:
        oracle = req.context.get("oracle")
        if oracle is None or isinstance(getattr(oracle, "__self__", None), RemoteEnv):
            return req
        return replace(req, context={**req.context, "oracle": _no_oracle})

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        ray = _ray()
        return ray.get(self.actor.generate.remote([self._shippable(r) for r in requests]))

    def close(self) -> None:
        if self.actor is not None:
            ray = _ray()
            try:
                ray.get(self.actor.close.remote())
            finally:
                ray.kill(self.actor)
                self.actor = None
