"""``aem/TWX-<game>-v0``: TextWorldExpress (allenai/textworld-express) games behind the text-env contract.

Contract (on top of ``aem_envs.core.TextEnv``):

* one env = one upstream game (cookingworld, coin, twc, mapreader, arithmetic, sorting, simonsays,
  peckingorder) with upstream's default generation parameters; an instance is a seed of one of upstream's
  folds (``<game>-<fold>-<seed>``: train seeds 0.., dev 10000.., test 20000..), listed in
  ``tasks/twx/v0`` (pinned to ``textworld-express==1.1.0``);
* the first observation is the task description followed by upstream's opening observation;
* ``reward`` is the change in upstream's normalised score (so a won episode returns 1.0); ``won`` is
  upstream's ``tasksuccess``; the episode terminates on success or failure; ``info["score"]`` is the score;
* upstream computes the valid actions with every step at no extra cost, so ``info["admissible_actions"]``
  is always there (sorted). Text the parser rejects ("Unknown action ...") is ``is_action_valid=False``;
* ``oracle_action()`` follows upstream's gold path, generated on first request in an instance and only
  defined while the episode has followed it.

One JVM per env (started at the first reset, ~0.4 s), launched with a fixed identity hash like ScienceWorld
(see ``aem_envs/_upstream.py``).
"""

from __future__ import annotations

from typing import Any

from aem_envs._upstream import UpstreamTextEnv, clean_action, follow_gold, jvm_upstream
from aem_envs.core import StepResult

MAX_ACTION_CHARS = 500
UNKNOWN_ACTION = "Unknown action"
REFUSED_OBSERVATION = ("Unknown action: I'm not sure what you mean. "
                       "(Actions are short commands, e.g. 'look around'.)")


class TextWorldExpressEnv(UpstreamTextEnv):
    """One TextWorldExpress game; see the module docstring for the contract."""

    tasks_env, select_by = "twx", "game"

    def __init__(self, game: str, split: str = "train", render_mode: str | None = None):
        super().__init__(game, split=split, render_mode=render_mode)
        self.game = game
        self._task: Any = None
        self._history: list[str] = []
        self._valid: list[str] = []
        self._score = 0.0
        self._gold: list[str] | None = None

    def _simulator(self) -> Any:
        if self._upstream is None:
            upstream = jvm_upstream("TextWorldExpress", "textworld_express.textworld_express")
            self._upstream = upstream.TextWorldExpressEnv(envStepLimit=10**9)  # our TimeLimit truncates
        return self._upstream

    def _start(self, gold: bool) -> tuple[str, dict[str, Any]]:
        t = self._task
        return self._simulator().reset(seed=int(t["seed"]), gameFold=t["fold"], gameName=self.game,
                                       gameParams=t.get("params", ""), generateGoldPath=gold)

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._task = task
        obs, infos = self._start(gold=False)
        self._history, self._score, self._done, self._gold = [], 0.0, False, None
        self._valid = sorted(set(infos["validActions"]))
        description = infos["taskDescription"]
        return f"{description}\n\n{obs}", {"score": 0.0, "task_description": description}

    def _step(self, action: str) -> StepResult:
        command = clean_action(action, MAX_ACTION_CHARS)
        if not command:
            return StepResult(REFUSED_OBSERVATION, is_action_valid=False, info={"score": self._score})
        obs, _, _, infos = self._simulator().step(command)
        self._history.append(command)
        if command != "help":  # upstream answers "help" from its cache, without fresh infos
            self._valid = sorted(set(infos["validActions"]))
        score = float(infos["score"])
        reward, self._score = score - self._score, score
        won = bool(infos.get("tasksuccess"))
        self._done = won or bool(infos.get("taskfailure"))
        valid = not obs.startswith(UNKNOWN_ACTION)
        return StepResult(obs, reward=reward, terminated=self._done, is_action_valid=valid, won=won,
                          info={"score": score})

    def admissible_actions(self) -> list[str] | None:
        if self._task is None:
            return None
        return [] if self._done else list(self._valid)

    def gold_path(self) -> list[str]:
        """Upstream's gold action sequence for the current instance."""
        if self._task is None:
            raise RuntimeError("call reset() before asking for the gold path")
        if self._gold is None:
            self._start(gold=True)
            self._gold = list(self._upstream.getGoldActionSequence())
            for command in self._history:  # back to where the episode was
                self._upstream.step(command)
        return list(self._gold)

    def oracle_action(self) -> str | None:
        if self._task is None or self._done:
            return None
        return follow_gold(self._history, self.gold_path())
