"""Policies that need no model: named scripts, uniform random, and the env's oracle.

They act from ``request.context``, which the rollout engine fills with:

* ``admissible_actions``: the env's list for the current state (or ``None``),
* ``oracle``: a zero-argument callable returning ``env.unwrapped.oracle_action()``,
* ``turn``, ``env_id``, ``instance_id``, ``observation``.

Their answers are written ``<action>…</action>`` so they go through the same parser as a model's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from aem_envs.registry import Registry
from aem_gym.agents.policy import register_policy
from aem_gym.agents.prompts import format_action
from aem_gym.agents.types import Generation, GenerationRequest

Script = Callable[[GenerationRequest, np.random.Generator], str]
SCRIPTS: Registry[Script] = Registry(
    "script", fix="There is also 'garbage' (replies with no action tag); add a script with @script('NAME')")


def script(name: str) -> Callable[[Script], Script]:
    """Decorator registering a named script for ``scripted:NAME``; it returns the bare action."""
    return SCRIPTS.register(name)


def _admissible(req: GenerationRequest) -> list[str]:
    return req.context.get("admissible_actions") or []  # read only: no copy


@script("first")
def _first(req: GenerationRequest, rng: np.random.Generator) -> str:
    """Always the first admissible action (``look`` where the env lists none)."""
    acts = _admissible(req)
    return acts[0] if acts else "look"


@script("cycle")
def _cycle(req: GenerationRequest, rng: np.random.Generator) -> str:
    """Admissible action number ``turn`` (mod the list length): walks around without randomness."""
    acts = _admissible(req)
    return acts[int(req.context.get("turn", 0)) % len(acts)] if acts else "look"


@script("invalid")
def _invalid(req: GenerationRequest, rng: np.random.Generator) -> str:
    """A well-formed action no env understands: exercises the invalid-action path."""
    return "xyzzy plugh"


class _LazyRng:
    """``np.random.default_rng(seed)``, built on first use: most scripts never draw, and building a generator
    costs more than a whole env step of a light env."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int):
        self._seed, self._rng = seed, None

    def __getattr__(self, name: str) -> Any:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return getattr(self._rng, name)


class ScriptedPolicy:
    """Runs one named script per request and writes its action as ``<action>…</action>``."""

    needs_prompt = False  # acts from ``request.context`` only: the engine need not render prompts

    def __init__(self, script_fn: Script, seed: int = 0, name: str = "scripted"):
        self.script_fn, self.name = script_fn, name
        self.rng = np.random.default_rng(seed)

    def _rng(self, req: GenerationRequest) -> np.random.Generator:
        # A per-request seed (set by the engine) makes the answer independent of batch composition.
        if req.sampling.seed is None:
            return self.rng
        return _LazyRng(req.sampling.seed)  # type: ignore[return-value]

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(text=format_action(self.script_fn(r, self._rng(r)))) for r in requests]

    def close(self) -> None:
        pass


class GarbagePolicy(ScriptedPolicy):
    """Answers without any ``<action>`` tag: exercises the parse-error path."""

    def __init__(self, seed: int = 0):
        super().__init__(lambda r, g: "", seed, name="garbage")

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(text="I am not sure what to do.") for _ in requests]


class RandomPolicy(ScriptedPolicy):
    """A uniformly random admissible action (``fallback`` where the env lists none)."""

    def __init__(self, seed: int = 0, fallback: str = "look"):
        super().__init__(self._pick, seed, name="random")
        self.fallback = fallback

    def _pick(self, req: GenerationRequest, rng: np.random.Generator) -> str:
        acts = _admissible(req)
        return acts[int(rng.integers(len(acts)))] if acts else self.fallback


class OraclePolicy(ScriptedPolicy):
    """The env's oracle (``env.unwrapped.oracle_action()``, passed as ``context["oracle"]``).

    Where the env has no oracle or it returns ``None`` the policy falls back to a random admissible
    action if ``fallback_random`` is set, else raises: an "oracle" baseline that silently plays something
    else would be a lie.
    """

    def __init__(self, seed: int = 0, fallback_random: bool = False):
        super().__init__(self._ask, seed, name="oracle")
        self.fallback_random = fallback_random

    def _ask(self, req: GenerationRequest, rng: np.random.Generator) -> str:
        oracle = req.context.get("oracle")
        action = oracle() if callable(oracle) else None
        if action is not None:
            return action
        acts = _admissible(req)
        if self.fallback_random and acts:
            return acts[int(rng.integers(len(acts)))]
        raise RuntimeError(f"env {req.context.get('env_id', '?')} has no oracle action here "
                           "(oracle_action() returned None); use fallback_random=True to play on")


@register_policy("scripted")
def _make_scripted(name: str, seed: int = 0, **kw: Any) -> ScriptedPolicy:
    if name == "garbage":
        return GarbagePolicy(seed=seed)
    return ScriptedPolicy(SCRIPTS.get(name), seed=seed, name=f"scripted:{name}")


@register_policy("random")
def _make_random(arg: str = "", seed: int = 0, **kw: Any) -> RandomPolicy:
    return RandomPolicy(seed=seed, **kw)


@register_policy("oracle")
def _make_oracle(arg: str = "", seed: int = 0, **kw: Any) -> OraclePolicy:
    return OraclePolicy(seed=seed, **kw)
