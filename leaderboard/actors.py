"""How the evaluator gets one action per turn from an agent spec (``oracle``, ``random``, ``hf:PATH`` ...).

Policies, prompts and action parsing belong to the agents package (``agents.make_policy``,
``agents.prompts``); this module only adapts a policy to the evaluator's turn loop::

    actor.begin(env_id, instance_id, seed)            # new episode
    actor.act(env, observation, info) -> ActOut       # one turn

One request per turn, built with the env family's prompt builder and the same ``context`` the rollout
engine gives (admissible actions, the env's oracle, turn, ids), with a sampling seed derived from the
episode seed and the turn, so a re-run gives the same actions. The env action is the ``<action>…</action>``
in the answer; an answer without one is sent to the env as its raw text, which the env answers as an
invalid action. The recorded action is therefore always exactly what the env received, so replay needs no
parser.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

MAX_RAW_ACTION = 1000  # chars of an unparsable answer passed on to the env


@dataclass
class ActOut:
    action: str
    raw_text: str | None = None
    entropy: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def episode_seed(seed: int, env_id: str, instance_id: str) -> int:
    """A per-episode seed for the agent's sampling, stable across processes (no Python ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(f"{env_id}|{instance_id}".encode())) % (2**31)


class PolicyActor:
    """A ``agents.make_policy(spec)`` policy driven one turn at a time."""

    def __init__(self, spec: str, history: int = 3, sampling: dict[str, Any] | None = None):
        from agents.policy import make_policy
        from agents.types import SamplingParams

        self.spec = spec
        self.policy = make_policy(spec)
        self.name = getattr(self.policy, "name", None) or spec
        self.history_k = history
        self.sampling = SamplingParams(**(sampling or {}))
        self.config = {"history": history, "sampling": dict(sampling or {}),
                       "policy": getattr(self.policy, "config", None) or type(self.policy).__name__}
        self._seed = 0
        self._builder = None
        self._state = None
        self._last_action = ""

    def begin(self, env_id: str, instance_id: str, seed: int) -> None:
        from agents.prompts import prompt_builder

        self._env_id, self._instance_id = env_id, instance_id
        self._seed = episode_seed(seed, env_id, instance_id)
        self._builder = prompt_builder(env_id, k=self.history_k)
        self._state = None

    def act(self, env: Any, observation: str, info: dict[str, Any]) -> ActOut:
        from dataclasses import replace

        from agents.prompts import PromptState, parse_action
        from agents.types import GenerationRequest

        acts = info.get("admissible_actions")
        s = self._state
        if s is None:
            s = self._state = PromptState(self._env_id, task=observation, observation=observation)
        else:  # the previous action and what it led to
            s.history.append((self._last_action, observation))
        s.observation, s.admissible_actions = observation, list(acts) if acts else None
        ctx = {"admissible_actions": s.admissible_actions, "oracle": env.unwrapped.oracle_action,
               "turn": s.turn, "env_id": self._env_id, "instance_id": self._instance_id,
               "observation": observation}
        req = GenerationRequest(self._builder.build(s), replace(self.sampling, seed=self._seed + s.turn), ctx)
        gen = self.policy.generate([req])[0]
        action = parse_action(gen.text)
        if action is None:
            action = " ".join(str(gen.text).split())[:MAX_RAW_ACTION]
        self._last_action = action
        s.turn += 1
        return ActOut(action=action, raw_text=gen.text, entropy=gen.mean_entropy(),
                      prompt_tokens=int(gen.usage.prompt_tokens), completion_tokens=int(gen.usage.completion_tokens))

    def close(self) -> None:
        close = getattr(self.policy, "close", None)
        if callable(close):
            close()


def make_actor(spec: str, **kw: Any) -> PolicyActor:
    return PolicyActor(spec, **kw)
