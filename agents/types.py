"""Data at the boundaries of the policy adapter and the rollout engine.

Requests and generations cross the ``Policy`` protocol; ``TurnRecord`` rows (one per agent turn) leave the
rollout engine for the trainer (``baselines``) and the evaluator (``leaderboard``). Token-level fields are
``None`` where the backend cannot provide them (an OpenAI endpoint without logprobs, a scripted agent).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass
class SamplingParams:
    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    # OpenAI semantics cut the text before a stop string; keep it (vLLM's flag) when it closes the
    # action, e.g. stop=["</action>"].
    include_stop_str_in_output: bool = False
    # "admissible": decode only replies that name one of ``context["admissible_actions"]`` (token-level
    # masking; agents.constrained). The policy is then the masked distribution, and the log-probs/entropies
    # a backend returns are that distribution's. None: free text.
    constrain: str | None = None
    # Alternatives per response token to return with their log-probs (OpenAI's top_logprobs; hf backend).
    top_logprobs: int = 0


@dataclass
class GenerationRequest:
    """One prompt: chat messages (rendered with the backend's chat template) and how to sample."""

    messages: list[Message]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    # Context the scripted/oracle/human backends may use (the env's admissible actions, the env itself).
    # The rollout engine leaves ``messages`` empty for a policy whose ``needs_prompt`` is False.
    context: dict[str, Any] = field(default_factory=dict)
    # The tools protocol (``aem_gym.agents.tools``): OpenAI-style function schemas the reply may call.
    # A backend with ``supports_tools = True`` sends them natively; for the others the loop has already
    # written them into the prompt (text fallback) and ``tools`` stays None.
    tools: list[dict[str, Any]] | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Generation:
    """A backend's answer. ``entropies`` are per response token, over the full vocabulary, in nats."""

    text: str
    finish_reason: Literal["stop", "length", "error"] = "stop"
    usage: Usage = field(default_factory=Usage)
    prompt_ids: list[int] | None = None
    response_ids: list[int] | None = None
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    error: str | None = None  # why finish_reason is "error" (an endpoint that failed after retries)
    # Under constrained decoding: the token ids that were allowed at each response position (a trainer
    # re-applies the same masks, so its log-probs are those of the distribution the tokens came from).
    allowed_token_ids: list[list[int]] | None = None
    # Native tool calls, OpenAI shape: [{"id", "type": "function", "function": {"name", "arguments"}}].
    tool_calls: list[dict[str, Any]] | None = None
    # Per response token, the ``SamplingParams.top_logprobs`` most likely (token id, log-prob) pairs.
    top_logprobs: list[list[tuple[int, float]]] | None = None
    reasoning: str | None = None  # a reasoning model's separate reasoning text (kept in the trajectory)

    def total_logprob(self) -> float | None:
        """log p(response) = the sum of its tokens' log-probs, where the backend returned them."""
        return float(sum(self.logprobs)) if self.logprobs else None

    def mean_entropy(self) -> float | None:
        if not self.entropies:
            return None
        return sum(self.entropies) / len(self.entropies)


@dataclass
class TurnRecord:
    """One agent turn inside a rollout group (G copies of one task, same seed).

    ``group_uid`` names the group (task × seed), ``traj_uid`` the trajectory, ``turn_idx`` counts from 0.
    ``reward`` is the env's (possibly shaped) reward for this turn; ``episode_return`` and ``won`` repeat
    the trajectory's outcome on every row so estimators need no join.
    """

    group_uid: str
    traj_uid: str
    turn_idx: int
    env_id: str
    instance_id: str
    task_type: str
    observation: str
    action_text: str
    reward: float
    done: bool
    episode_return: float = 0.0
    won: bool = False
    prompt_ids: list[int] | None = None
    response_ids: list[int] | None = None
    logprobs: list[float] | None = None
    entropies: list[float] | None = None
    is_action_valid: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    allowed_token_ids: list[list[int]] | None = None  # Generation.allowed_token_ids (constrained decoding)
    # Added by the rollout engine: why a done row ended (truncated = turn limit, timeout or env error,
    # not a terminal state: a trainer may bootstrap there) and the reset seed of the group.
    truncated: bool = False
    seed: int | None = None
    prompt_tokens: int = 0  # Generation.usage: what the backend counted (also where it gives no ids)
    completion_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
