"""Replay: recorded replies played again through the episode loop, on fresh env stacks.

``ReplayPolicy`` answers every request with the reply recorded for that episode and turn (by
``context["traj_uid"]`` and ``context["turn"]``). Each ``EpisodeSpec`` carries the recorded number of
turns as its budget (``max_turns``), so the loop plays exactly those turns unless the env ends first;
the caller then compares what the envs answered with what was recorded (``aem_gym.leaderboard.validate``
does, for submissions). Everything else (the env stack, parallel workers, timeouts) is the loop's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aem_envs.wrappers.action_parser import CutReply
from aem_gym.agents.episode import EpisodeSpec
from aem_gym.agents.prompts import format_action
from aem_gym.agents.records import RolloutResult
from aem_gym.agents.rollout import RolloutEngine
from aem_gym.agents.types import Generation, GenerationRequest, Usage

UNPARSABLE_REPLY = ""  # any text without an <action> tag: the parser's answer is the same for all of them


def reply_for(action: str, parse_error: bool, reply_cut: int | None = None) -> str:
    """The reply that makes the env stack receive ``action`` again (or fail to parse again); a reply the
    policy had cut at its token limit (``info["reply_cut"]``) is replayed as cut."""
    text = UNPARSABLE_REPLY if parse_error else format_action(action)
    ok = isinstance(reply_cut, int) and not isinstance(reply_cut, bool)  # a tampered value replays uncut
    return CutReply(text, reply_cut) if ok else text


class ReplayPolicy:
    """Plays ``replies[traj_uid][turn]``; a request beyond the recorded turns is a caller's bug."""

    needs_prompt = False
    name = "replay"

    def __init__(self, replies: Mapping[str, Sequence[str]]):
        self.replies = replies

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [_generation(self.replies[r.context["traj_uid"]][r.context["turn"]]) for r in requests]


def _generation(reply: str) -> Generation:
    cut = getattr(reply, "cut_at", None)
    if cut is None:
        return Generation(text=reply)
    return Generation(text=str(reply), finish_reason="length", usage=Usage(completion_tokens=cut))


def replay(specs: Sequence[EpisodeSpec], replies: Mapping[str, Sequence[str]], max_turns: int | None,
           engine: RolloutEngine, env_kwargs: Mapping[str, Any] | None = None) -> RolloutResult:
    """Run ``specs`` (each with ``max_turns`` = its number of recorded replies) with ``ReplayPolicy``."""
    for spec in specs:
        if spec.max_turns is None or spec.max_turns > len(replies[spec.traj_uid]):
            raise ValueError(f"episode {spec.traj_uid!r}: its turn budget must be its number of replies")
    return engine.run_specs(list(specs), ReplayPolicy(replies), max_turns=max_turns,
                            env_kwargs=dict(env_kwargs or {}), desc="replay")
