"""``aem/TextWorld-<kind>-v0``: games made with TextWorld's generator, played through ``textworld.start``.

Contract (on top of ``aem_envs.core.TextEnv``):

* kinds: ``coin`` (tw-coin_collector), ``treasure`` (tw-treasure_hunter), ``custom`` (make_game with a
  world size, object count and quest length); instances ``<kind>-<seed>`` in ``tasks/textworld/v0``
  (pinned to ``textworld==1.7.0``; games generated and cached on first use, see ``games.py``);
* the first observation is the game's objective and opening room, without TextWorld's ASCII banner,
  the ``>`` prompt or the status line;
* ``reward`` is the change in game score divided by the game's max score (a won game returns 1.0);
  ``won``/``lost`` end the episode; ``info["score"]`` and ``info["max_score"]`` are the raw points;
* ``info["admissible_actions"]`` is TextWorld's admissible command list (sorted). A command is valid iff
  it is one of them (after lower-casing and collapsing spaces); any other command is still sent to the
  game, whose parser answers it, but counts as ``is_action_valid=False``;
* ``oracle_action()`` is the first of TextWorld's ``policy_commands`` (its planner, from *any* state,
  not just along the walkthrough); ``walkthrough()`` is the recorded solution from the start.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from aem_envs._upstream import UpstreamTextEnv, clean_action
from aem_envs.core import StepResult
from aem_envs.textworld.games import game_file

MAX_ACTION_CHARS = 300
REFUSED_OBSERVATION = "I beg your pardon? (Commands are short, e.g. 'go north' or 'take coin'.)"
# The interpreter's status bar ("-= Room =-3/5"), often glued to the ">" prompt line by the padding.
_STATUS = re.compile(r"^\s*>?\s*-= [^\n]*? =-\s*-?\d+/\d+\s*$", re.M)


def clean_feedback(text: str, objective: str | None = None) -> str:
    """TextWorld's feedback without the banner (before the objective), prompts, status line and padding."""
    if objective and objective in text:
        text = text[text.index(objective):]
    text = _STATUS.sub("", text.replace("\r", ""))
    lines = [ln.rstrip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln.strip() != ">"]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    out = re.sub(r"\s*>\s*$", "", out)  # a prompt glued to the last line
    return out


def _norm(command: str) -> str:
    return " ".join(command.lower().split())


class TextWorldEnv(UpstreamTextEnv):
    """One kind of generated TextWorld game; see the module docstring for the contract."""

    tasks_env, select_by = "textworld", "kind"
    over_text = "The game is over; call reset()."

    def __init__(self, kind: str, split: str = "train", render_mode: str | None = None):
        super().__init__(kind, split=split, render_mode=render_mode)
        self.kind = kind
        self._state: Any = None
        self._task: Any = None

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        import textworld

        path = game_file(task)
        # jericho warns on every TextWorld game that it cannot track score/moves itself (TextWorld does).
        # Re-added per reset because test runners restore the warning filters around each test.
        warnings.filterwarnings("ignore", message=r"Game .* is not fully supported", module="jericho")
        if self._upstream is not None:
            self._upstream.close()
        infos = textworld.EnvInfos(admissible_commands=True, policy_commands=True, won=True, lost=True,
                                   score=True, max_score=True, objective=True)
        self._upstream = textworld.start(str(path), request_infos=infos)
        self._task, self._done = task, False
        self._state = self._upstream.reset()
        objective = self._state.objective or ""
        return clean_feedback(self._state.feedback, objective), {
            "score": 0, "max_score": self._state.max_score, "task_description": objective}

    def _step(self, action: str) -> StepResult:
        command = clean_action(action, MAX_ACTION_CHARS)
        # The Z-machine reads ASCII only (jericho fails to decode the echo of other bytes), and dumb-frotz
        # takes a leading backslash as an interpreter escape: neither may reach it.
        command = command and " ".join(command.encode("ascii", "ignore").decode().replace("\\", " ").split())
        if not command:
            return StepResult(REFUSED_OBSERVATION, is_action_valid=False,
                              info={"score": self._state.score, "max_score": self._state.max_score})
        admissible = {_norm(c) for c in self._state.admissible_commands or []}
        before = self._state.score
        self._state, score, done = self._upstream.step(command)
        max_score = self._state.max_score or 1
        self._done = bool(done or self._state.won or self._state.lost)
        return StepResult(clean_feedback(self._state.feedback), reward=(score - before) / max_score,
                          terminated=self._done, is_action_valid=_norm(command) in admissible,
                          won=bool(self._state.won),
                          info={"score": score, "max_score": self._state.max_score})

    def admissible_actions(self) -> list[str] | None:
        if self._state is None:
            return None
        return [] if self._done else sorted(set(self._state.admissible_commands or []))

    def oracle_action(self) -> str | None:
        if self._state is None or self._done:
            return None
        policy = self._state.policy_commands or []
        return policy[0] if policy else None

    def walkthrough(self) -> list[str]:
        """The recorded solution of the current game, from its start."""
        if self._task is None:
            raise RuntimeError("call reset() first")
        return list(self._task["walkthrough"])
