"""``aem/MiniWoB-<task>-v0``: MiniWoB++ tasks in real headless Chromium, seen and driven as text.

Contract (on top of ``aem_envs.core.TextEnv``):

* one env = one MiniWoB task; an instance is a page seed (``<task>-<seed>``, ``tasks/miniwob/v0``, pinned
  to ``miniwob==1.1.0``); MiniWoB seeds the page's ``Math.random`` with it, so the same instance is the
  same page;
* the observation is the task's utterance and a text rendering of the page's DOM with element refs (see
  ``page.py``); actions are ``click[ref]`` and ``type[ref][text]``. Unparsable text, unknown refs and typing
  into a non-field are ``is_action_valid=False`` and change nothing; the observation then says why and
  repeats the page;
* ``reward`` is MiniWoB's *raw* reward when the episode ends (1 success, -1 failure, partial credit on some
  tasks), never the time-decayed one, and MiniWoB's 10-second episode timer is switched off: a slow
  policy (an LLM) gets the same episode as a fast one, which keeps seeded episodes reproducible;
* ``won`` is raw reward 1; ``info["admissible_actions"]`` lists ``click[ref]`` for every element on the
  page (typing takes free text, so it is not enumerable);
* ``oracle_action()`` is a scripted solver for each registered task (``oracles.py``).

One browser per env, started at the first reset (~1-2 s) and stopped by ``close``.
"""

from __future__ import annotations

from typing import Any

from aem_envs._upstream import UpstreamTextEnv
from aem_envs.core import StepResult
from aem_envs.miniwob.oracles import ORACLES
from aem_envs.miniwob.page import Element, ParsedAction, elements, parse, render

NO_TIMER_MS = 2**31 - 1  # setTimeout's largest delay (~24.8 days); anything bigger fires at once


class MiniWoBEnv(UpstreamTextEnv):
    """One MiniWoB++ task in headless Chromium; see the module docstring for the contract."""

    tasks_env, select_by = "miniwob", "task"

    def __init__(self, task: str, split: str = "train", render_mode: str | None = None):
        super().__init__(task, split=split, render_mode=render_mode)
        self.task = task
        self._utterance = ""
        self._fields: dict[str, str] = {}
        self._elems: list[Element] = []

    def _browser(self) -> Any:
        if self._upstream is None:
            from aem_envs.miniwob.browser import configure

            configure()
            from miniwob.environment import MiniWoBEnvironment
            from miniwob.reward import get_raw_reward

            self._upstream = MiniWoBEnvironment(subdomain=self.task, reward_processor=get_raw_reward)
        return self._upstream

    def _see(self, obs: Any, info: dict[str, Any]) -> str:
        self._utterance = str(obs["utterance"])
        self._fields = {str(k): str(v) for k, v in obs.get("fields", ())}
        self._elems = elements(info["root_dom"])
        return render(self._utterance, self._elems)

    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        mw = self._browser()
        if mw.instance.died:
            mw._hard_reset_instance()  # Chromium crashed: start a fresh one
        mw.instance.driver.execute_script(f"core.EPISODE_MAX_TIME = {NO_TIMER_MS};")
        obs, info = mw.reset(seed=int(task["seed"]))
        self._done = False
        text = self._see(obs, info)
        return text, {"utterance": self._utterance, "fields": dict(self._fields)}

    def _step(self, action: str) -> StepResult:
        parsed = parse(action, self._elems)
        if isinstance(parsed, str):
            return StepResult(f"{parsed}\n\n{render(self._utterance, self._elems)}", is_action_valid=False)
        mw = self._browser()
        obs, reward, terminated, truncated, info = mw.step(self._to_miniwob(mw, parsed))
        if mw.instance.died or "utterance" not in obs and not terminated:
            # The browser failed under this action (miniwob logs the error): end the episode cleanly;
            # the next reset starts a fresh browser.
            self._done, self._elems = True, []
            return StepResult("The browser failed while performing this action; the episode is over.",
                              is_action_valid=False, terminated=True)
        if terminated:
            self._done, self._elems = True, []
            raw = float(info.get("raw_reward", reward))
            won = raw >= 1.0
            text = f"The episode is over: {'success' if won else 'failure'} (reward {raw:g})."
            return StepResult(text, reward=raw, terminated=True, won=won, info={"raw_reward": raw})
        return StepResult(self._see(obs, info))

    @staticmethod
    def _to_miniwob(mw: Any, parsed: ParsedAction) -> Any:
        from miniwob.action import ActionTypes

        if parsed.kind == "click":
            return mw.create_action(ActionTypes.CLICK_ELEMENT, ref=parsed.ref)
        return mw.create_action(ActionTypes.FOCUS_ELEMENT_AND_TYPE_TEXT, ref=parsed.ref, text=parsed.text)

    def admissible_actions(self) -> list[str] | None:
        if self.instance_id is None:
            return None
        return [f"click[{e.ref}]" for e in self._elems]

    def oracle_action(self) -> str | None:
        solver = ORACLES.find(self.task)
        if solver is None or self._done or self.instance_id is None:
            return None
        return solver(self._fields, self._elems)
