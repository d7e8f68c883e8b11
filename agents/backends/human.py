"""``HumanPolicy``: a person answers each request at the terminal.

The prompt's last message is shown with the admissible actions numbered; the person types an action, its
number, or raw text with ``<action>…</action>`` tags. End of input (Ctrl-D) raises ``EOFError``, which
stops the rollout (after the engine closes the envs).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TextIO

from aem_gym.agents.policy import register_policy
from aem_gym.agents.prompts import format_action
from aem_gym.agents.types import Generation, GenerationRequest


class HumanPolicy:
    def __init__(self, input_fn: Callable[[str], str] = input, out: TextIO | None = None,
                 show_prompt: bool = True):
        self.input_fn, self.out, self.show_prompt = input_fn, out, show_prompt

    def _print(self, text: str) -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [self._ask(r, i, len(requests)) for i, r in enumerate(requests)]

    def _ask(self, req: GenerationRequest, i: int, n: int) -> Generation:
        acts = list(req.context.get("admissible_actions") or [])
        header = f"== episode {i + 1}/{n}, turn {int(req.context.get('turn', 0)) + 1} =="
        self._print(header)
        if self.show_prompt and req.messages:
            self._print(req.messages[-1]["content"])
        if acts:
            self._print("\n".join(f"  [{k}] {a}" for k, a in enumerate(acts)))
        line = self.input_fn("> ").strip()
        if line.isdigit() and int(line) < len(acts):
            line = acts[int(line)]
        text = line if "<action>" in line.lower() else format_action(line)
        return Generation(text=text)

    def close(self) -> None:
        pass


@register_policy("human")
def _make_human(arg: str = "", **kw: Any) -> HumanPolicy:
    return HumanPolicy(**kw)
