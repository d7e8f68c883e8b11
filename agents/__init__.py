"""agents: one policy interface for every agent, and the rollout engine that drives envs with it.

    from agents import RolloutEngine, make_policy
    policy = make_policy("hf:runs/tiny")            # or "oracle", "random", "scripted:first", "openai:M@URL"
    result = RolloutEngine(workers=4).run("aem/Household-v0", tasks=[(None, s) for s in range(8)],
                                          group_size=4, policy=policy, max_turns=30)

``import agents`` is light: torch/transformers/vllm load only when an ``hf``/``vllm`` policy is built or
``agents.tiny`` is used.
"""

from agents.policy import Policy, make_policy, policy_kinds, register_policy
from agents.prompts import (
    PromptBuilder,
    PromptState,
    format_action,
    parse_action,
    prompt_builder,
    register_prompt,
)
from agents.records import RolloutResult, Trajectory, read_turns
from agents.rollout import RolloutEngine
from agents.types import Generation, GenerationRequest, SamplingParams, TurnRecord, Usage

__all__ = [
    "Generation", "GenerationRequest", "Policy", "PromptBuilder", "PromptState", "RolloutEngine",
    "RolloutResult", "SamplingParams", "Trajectory", "TurnRecord", "Usage", "format_action", "make_policy",
    "parse_action", "policy_kinds", "prompt_builder", "read_turns", "register_policy", "register_prompt",
]
