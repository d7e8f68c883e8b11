"""agents: one policy interface for every agent, the episode loop that drives envs with it (training
rollouts, evaluation, SFT demonstrations, replay), and the one evaluator (``EvalConfig``).

    from aem_gym.agents import RolloutEngine, make_policy
    policy = make_policy("hf:runs/tiny")            # or "oracle", "random", "scripted:first", "openai:M@URL"
    result = RolloutEngine(workers=4).run("aem/Household-v0", tasks=[(None, s) for s in range(8)],
                                          group_size=4, policy=policy, max_turns=30)

``import agents`` is light: torch/transformers/vllm load only when an ``hf``/``vllm`` policy is built or
``aem_gym.agents.tiny`` is used.
"""

from aem_gym.agents.episode import EpisodeSpec
from aem_gym.agents.errors import BackendError
from aem_gym.agents.evaluate import EvalConfig
from aem_gym.agents.policy import Policy, make_policy, policy_kinds, register_policy
from aem_gym.agents.prompts import (
    DEFAULT_HISTORY,
    PromptBuilder,
    PromptState,
    format_action,
    parse_action,
    prompt_builder,
    register_prompt,
)
from aem_gym.agents.records import RolloutResult, Trajectory, read_turns
from aem_gym.agents.rollout import RolloutEngine
from aem_gym.agents.types import Generation, GenerationRequest, SamplingParams, TurnRecord, Usage

__all__ = [
    "BackendError", "DEFAULT_HISTORY", "EpisodeSpec", "EvalConfig", "Generation", "GenerationRequest",
    "Policy", "PromptBuilder", "PromptState", "RolloutEngine",
    "RolloutResult", "SamplingParams", "Trajectory", "TurnRecord", "Usage", "format_action", "make_policy",
    "parse_action", "policy_kinds", "prompt_builder", "read_turns", "register_policy", "register_prompt",
]
