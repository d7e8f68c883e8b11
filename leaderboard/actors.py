"""How the evaluator gets one action per turn from an agent spec (``oracle``, ``random``, ``hf:PATH`` ...).

The agents package owns policies (``agents.make_policy(spec)``) and prompting; this module only adapts a
policy to the evaluator's turn loop: ``actor.act(env, observation, info, seed) -> ActOut`` where ``env``
is the evaluated env stack (the oracle and scripted agents read state from it). ``make_actor`` uses
``agents.make_policy`` when the agents package provides it; until then only the two env-driven specs
(``oracle``: the env's own planner, ``random``: a uniform admissible action) are available.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass
class ActOut:
    action: str
    raw_text: str | None = None
    entropy: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Actor(Protocol):
    name: str
    config: dict[str, Any]

    def begin(self, env_id: str, instance_id: str, seed: int) -> None: ...

    def act(self, env: Any, observation: str, info: dict[str, Any]) -> ActOut: ...


def episode_seed(seed: int, env_id: str, instance_id: str) -> int:
    """A per-episode seed for the agent's sampling, stable across processes (no Python ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(f"{env_id}|{instance_id}".encode())) % (2**31)


class _OracleActor:
    """The env's planner (``env.unwrapped.oracle_action()``); an env without one cannot run this agent."""

    name, config = "oracle", {}

    def begin(self, env_id: str, instance_id: str, seed: int) -> None:
        pass

    def act(self, env: Any, observation: str, info: dict[str, Any]) -> ActOut:
        a = env.unwrapped.oracle_action()
        if a is None:
            raise ValueError(f"{env.spec.id if env.spec else env} has no oracle (oracle_action() returned None)")
        return ActOut(a)


class _RandomActor:
    """A uniform admissible action (or ``look`` where the env cannot list them), seeded per episode."""

    name, config = "random", {}

    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)

    def begin(self, env_id: str, instance_id: str, seed: int) -> None:
        self.rng = np.random.default_rng(episode_seed(seed, env_id, instance_id))

    def act(self, env: Any, observation: str, info: dict[str, Any]) -> ActOut:
        acts = info.get("admissible_actions") or ["look"]
        return ActOut(str(acts[int(self.rng.integers(len(acts)))]))


_FALLBACK = {"oracle": _OracleActor, "random": _RandomActor}


def make_actor(spec: str) -> Actor:
    try:
        from agents import make_policy  # noqa: F401
    except ImportError:
        make_policy = None
    if make_policy is not None:
        from leaderboard.policy_actor import PolicyActor

        return PolicyActor(spec)
    if spec in _FALLBACK:
        return _FALLBACK[spec]()
    raise ValueError(f"agent spec {spec!r} needs agents.make_policy, which is not available; "
                     f"without it only {sorted(_FALLBACK)} can be evaluated")
