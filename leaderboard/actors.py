"""How the evaluator gets one action per turn from an agent spec (``oracle``, ``random``, ``hf:PATH`` ...).

Policies, prompts and action parsing belong to the agents package (``aem_gym.agents.make_policy``,
``aem_gym.agents.prompts``); this module only adapts a policy to the evaluator's turn loop::

    actor.begin(slot, env_id, instance_id, seed)               # a new episode in a batch slot
    actor.act_many([(slot, env, observation, info), ...])     # one turn of every active episode

One request per active episode and turn, all in one ``generate`` call (model backends batch them), built with the env family's prompt builder and the same ``context`` the rollout
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
    logprob: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def episode_seed(seed: int, env_id: str, instance_id: str) -> int:
    """A per-episode seed for the agent's sampling, stable across processes (no Python ``hash``)."""
    return (seed * 1_000_003 + zlib.crc32(f"{env_id}|{instance_id}".encode())) % (2**31)


@dataclass
class _Slot:
    env_id: str
    instance_id: str
    seed: int
    builder: Any
    state: Any = None
    last_action: str = ""


class PolicyActor:
    """A ``aem_gym.agents.make_policy(spec)`` policy driven one turn at a time for a batch of episodes ("slots"):
    one ``policy.generate`` call per turn for all active episodes, so model backends batch them."""

    def __init__(self, spec: str, history: int = 3, sampling: dict[str, Any] | None = None):
        from aem_gym.agents.policy import make_policy
        from aem_gym.agents.types import SamplingParams

        self.spec = spec
        self.policy = make_policy(spec)
        self.name = getattr(self.policy, "name", None) or spec
        self.history_k = history
        self.sampling = SamplingParams(**(sampling or {}))
        self.config = {"history": history, "sampling": dict(sampling or {}),
                       "policy": getattr(self.policy, "config", None) or type(self.policy).__name__}
        self._slots: dict[int, _Slot] = {}

    def begin(self, slot: int, env_id: str, instance_id: str, seed: int) -> None:
        from aem_gym.agents.prompts import prompt_builder

        self._slots[slot] = _Slot(env_id, instance_id, episode_seed(seed, env_id, instance_id),
                                  prompt_builder(env_id, k=self.history_k))

    def _request(self, slot: int, env: Any, observation: str, info: dict[str, Any]):
        from dataclasses import replace

        from aem_gym.agents.prompts import PromptState
        from aem_gym.agents.types import GenerationRequest

        sl = self._slots[slot]
        acts = info.get("admissible_actions")
        if sl.state is None:
            sl.state = PromptState(sl.env_id, task=observation, observation=observation)
        else:  # the previous action and what it led to
            sl.state.history.append((sl.last_action, observation))
        s = sl.state
        s.observation, s.admissible_actions = observation, list(acts) if acts else None
        ctx = {"admissible_actions": s.admissible_actions, "oracle": env.unwrapped.oracle_action,
               "turn": s.turn, "env_id": sl.env_id, "instance_id": sl.instance_id, "observation": observation}
        return GenerationRequest(sl.builder.build(s), replace(self.sampling, seed=sl.seed + s.turn), ctx)

    def act_many(self, turns: list[tuple[int, Any, str, dict[str, Any]]]) -> list[ActOut]:
        """One action for each ``(slot, env, observation, info)``, from a single ``generate`` call."""
        from aem_gym.agents.policy import check_generations
        from aem_gym.agents.prompts import parse_action

        reqs = [self._request(*t) for t in turns]
        gens = check_generations(reqs, self.policy.generate(reqs))
        outs = []
        for (slot, *_), gen in zip(turns, gens, strict=True):
            action = parse_action(gen.text)
            if action is None:
                action = " ".join(str(gen.text).split())[:MAX_RAW_ACTION]
            sl = self._slots[slot]
            sl.last_action = action
            sl.state.turn += 1
            outs.append(ActOut(action=action, raw_text=gen.text, entropy=gen.mean_entropy(),
                               logprob=gen.total_logprob(),
                               prompt_tokens=int(gen.usage.prompt_tokens),
                               completion_tokens=int(gen.usage.completion_tokens)))
        return outs

    def close(self) -> None:
        close = getattr(self.policy, "close", None)
        if callable(close):
            close()


def make_actor(spec: str, **kw: Any) -> PolicyActor:
    return PolicyActor(spec, **kw)
