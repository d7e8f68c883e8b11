"""``aem/ScienceWorld-<task>-v0``: AllenAI's ScienceWorld simulator behind the text-env contract.

Contract (on top of ``aem_envs.core.TextEnv``):

* one env = one of the 30 upstream tasks; instances are its variations (``<task>-<variation>``), split
  train/dev/test exactly as upstream (``tasks/scienceworld/v0``, pinned to ``scienceworld==1.2.3``);
* ``reset`` loads the variation and plays upstream's opening "look around"; the observation is the task
  description followed by that look;
* ``step(action)`` sends one command. ``reward`` is the change in upstream score divided by 100 (so an
  episode's return is its final score in [-1, 1]); ``info["score"]`` is the raw 0-100 score; ``won`` is
  score 100 and completion; the episode terminates when upstream says completed or the score is negative.
  Text the parser cannot match ("No known action matches that input.") is ``is_action_valid=False``;
* the valid-action list costs 0.15-0.4 s a step (most of a step's time), so it is computed only when asked:
  ``admissible_actions()`` always works, and ``info["admissible_actions"]`` is filled only when the env was
  made with ``admissible_actions=True`` (the "request the infos you need" pattern of TextWorld's EnvInfos).
  The list is upstream's, filtered to actions the parser accepts (see ``_listed_valid_actions``);
* ``oracle_action()`` follows upstream's gold path. It is generated the first time it is asked for in an
  instance (about 1-5 s, then cached per process) and is only defined while the episode has followed it.

One JVM per env (started at the first reset, stopped by ``close``); see ``aem_envs/_upstream.py`` for why
JVMs are started with a fixed identity hash.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from aem_envs._upstream import UpstreamTextEnv, clean_action, follow_gold, jvm_upstream
from aem_envs.core import StepResult

MAX_ACTION_CHARS = 500
UNKNOWN_ACTION = "No known action matches that input."
REFUSED_OBSERVATION = "No known action matches that input. (Actions are short commands, e.g. 'look around'.)"

_gold_cache: dict[tuple[str, int, str], list[str]] = {}
_gold_lock = threading.Lock()


class ScienceWorldEnv(UpstreamTextEnv):
    """One ScienceWorld task; see the module docstring for the contract."""

    tasks_env, select_by = "scienceworld", "task_name"

    def __init__(self, task_name: str, split: str = "train", simplifications: str = "",
                 admissible_actions: bool = False, render_mode: str | None = None):
        super().__init__(task_name, split=split, render_mode=render_mode)
        self.task_name = task_name
        self.simplifications = simplifications
        self.request_admissible = admissible_actions
        self._variation = -1
        self._history: list[str] = []
        self._score = 0
        self._valid_cache: tuple[int, list[str]] | None = None

    # -- simulator -------------------------------------------------------------------------------------
    def _simulator(self) -> Any:
        if self._upstream is None:
            upstream = jvm_upstream("ScienceWorld", "scienceworld.scienceworld")
            self._upstream = upstream.ScienceWorldEnv("", envStepLimit=10**9)  # our TimeLimit truncates
        return self._upstream

    def _load(self, gold: bool) -> None:
        self._simulator().load(self.task_name, self._variation, self.simplifications, generateGoldPath=gold)

    # -- TextEnv hooks ---------------------------------------------------------------------------------
    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self._variation = int(task["variation"])
        self._load(gold=False)
        server = self._simulator().server
        look = server.step("look around")  # upstream's reset plays this move too; gold paths assume it
        self._history, self._score, self._done, self._valid_cache = [], 0, False, None
        description = server.getTaskDescription()
        info = {"score": 0, "task_description": description, "variation": self._variation}
        if self.request_admissible:
            info["admissible_actions"] = self.admissible_actions()
        return f"{description}\n\n{look}", info

    def _step(self, action: str) -> StepResult:
        command = clean_action(action, MAX_ACTION_CHARS)
        if not command:
            return StepResult(REFUSED_OBSERVATION, is_action_valid=False, info=self._info())
        server = self._simulator().server
        obs = server.step(command)
        self._history.append(command)
        self._valid_cache = None
        score = int(round(100 * server.getScore()))
        completed = bool(server.getCompleted())
        reward = (score - self._score) / 100.0
        self._score = score
        self._done = completed or score < 0
        won = completed and score >= 100
        valid = not obs.startswith(UNKNOWN_ACTION)
        return StepResult(obs, reward=reward, terminated=self._done, is_action_valid=valid, won=won,
                          info=self._info())

    def _info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"score": self._score}
        if self.request_admissible:
            info["admissible_actions"] = self.admissible_actions()
        return info

    def _complete_info(self, info: dict[str, Any], valid: bool) -> dict[str, Any]:
        # The base class lists admissible actions in every info; here that listing is the expensive part of
        # a step, so it appears only when requested (``_info`` adds it) and is otherwise left to callers.
        info = dict(info)
        info.setdefault("admissible_actions", None)
        out = super()._complete_info(info, valid)
        if out["admissible_actions"] is None:
            del out["admissible_actions"]
        return out

    def admissible_actions(self) -> list[str] | None:
        if self._upstream is None or self.instance_id is None or self._done:
            return [] if self._done else None
        if self._valid_cache is None or self._valid_cache[0] != len(self._history):
            self._valid_cache = (len(self._history), self._listed_valid_actions())
        return list(self._valid_cache[1])

    def _listed_valid_actions(self) -> list[str]:
        """Upstream's valid action-object combinations, minus those naming objects the agent cannot perceive.

        Upstream lists combinations over every object in scope, including ones inside closed containers
        that its own parser then refuses: in the kitchen of boil-0, 1022 of 2726 listed actions answer
        "No known action matches that input.". Keeping only combinations whose objects are all in the
        observable-referent table removed every such action in the states we probed (find-animal, boil,
        chemistry-mix) while keeping ~55 %; what it also drops (a few inventory and part-of objects, e.g.
        "connect agent to drain") can still be typed.
        """
        server = self._upstream.server
        combos = json.loads(server.getValidActionObjectCombinationsJSON())["validActions"]
        visible = set(json.loads(server.getPossibleObjectReferentLUTJSON()))
        return sorted({c["action"] for c in combos if all(str(o) in visible for o in c["obj_ids"])})

    def gold_path(self) -> list[str]:
        """Upstream's gold action sequence for the current instance (generated once per process)."""
        if self.instance_id is None:
            raise RuntimeError("call reset() before asking for the gold path")
        key = (self.task_name, self._variation, self.simplifications)
        with _gold_lock:
            cached = _gold_cache.get(key)
        if cached is None:
            self._load(gold=True)
            cached = list(self._upstream.get_gold_action_sequence())
            with _gold_lock:
                _gold_cache[key] = cached
            # Loading with a gold path leaves a fresh episode: replay ours to return to where we were.
            server = self._upstream.server
            server.step("look around")
            for command in self._history:
                server.step(command)
            self._valid_cache = None
        return list(cached)

    def oracle_action(self) -> str | None:
        if self.instance_id is None or self._done:
            return None
        return follow_gold(self._history, self.gold_path())
