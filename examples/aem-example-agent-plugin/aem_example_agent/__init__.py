"""An example third-party agent: ``prefer:PREFIX,PREFIX,...``, a scripted policy for any env that lists
its admissible actions.

Each turn it takes the first admissible action that starts with the earliest prefix of its argument
(``prefer:open chest,take key``); when none matches it walks: admissible action ``turn`` (mod their number)
among those starting with ``go`` (or among all). It needs no model and no prompt, so it shows the whole
policy contract in a few lines:

* ``generate(requests) -> generations``, one per request, in order (batched: the episode loop asks for
  every open episode at once);
* ``needs_prompt = False``: it acts from ``request.context`` (admissible actions, turn), so the loop skips
  rendering prompts;
* answers are written ``<action>…</action>`` so they go through the same parser as a model's.

Installed, ``aem eval --agent "prefer:open chest,take key" --suite example`` runs it; nothing in aem-gym
names it. See docs/agents.md.
"""

from __future__ import annotations

from typing import Any

from aem_gym.agents import Generation, GenerationRequest, format_action

__all__ = ["PreferPolicy", "make_policy"]


class PreferPolicy:
    """Takes the admissible action matching the earliest preferred prefix; otherwise walks."""

    needs_prompt = False

    def __init__(self, prefixes: list[str]):
        self.prefixes = prefixes
        self.name = "prefer:" + ",".join(prefixes)

    def act(self, admissible: list[str], turn: int) -> str:
        for prefix in self.prefixes:
            for action in admissible:
                if action.startswith(prefix):
                    return action
        moves = [a for a in admissible if a.startswith("go")] or admissible
        return moves[turn % len(moves)] if moves else "look"

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(text=format_action(self.act(r.context.get("admissible_actions") or [],
                                                       int(r.context.get("turn", 0)))))
                for r in requests]

    def close(self) -> None:
        pass


def make_policy(arg: str, **kwargs: Any) -> PreferPolicy:
    """The entry point's factory: ``arg`` is the text after ``prefer:``; keyword arguments the evaluator
    passes (seed, sampling settings) are accepted and unused: this policy is deterministic."""
    prefixes = [p.strip().lower() for p in arg.split(",") if p.strip()]
    if not prefixes:
        raise ValueError("prefer needs at least one action prefix, e.g. 'prefer:open chest,take key'")
    return PreferPolicy(prefixes)
