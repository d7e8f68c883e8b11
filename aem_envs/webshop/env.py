"""``aem/WebShop-v1`` (and ``-v0``): WebShop's shopping task as a text env (rules: the package docstring).

Contract (on top of ``aem_envs.TextEnv``):

* ``reset(seed=, options={"instance_id": ...})`` → the search page with the instruction;
  ``info["instruction"]`` repeats the instruction text.
* ``step("search[keywords]" | "click[button]")``. Reward 0 on every step except ``click[buy now]``, which
  ends the episode with WebShop's score in [0, 1] (``info["score"]`` has its parts). ``won`` iff the score
  is exactly 1.0. A refused action leaves the page as it was and says why (``is_action_valid=False``).
* ``info["admissible_actions"]``: ``search[<your query>]`` on the search page, else ``click[x]`` for every
  clickable (upstream's list without the never-working ``click[search]``).
* ``oracle_action()``: the next step of a shopper that knows the target (search its title, page to it,
  open it, pick the goal's options, buy), from whatever state the env is in.
* ``observation_mode``: ``text`` (upstream's ``[SEP]`` text, default), ``text_rich`` or ``html``.
* ``version``: which shipped catalog (``v1``, the default and ``aem/WebShop-v1``; ``v0``, the first and easier
  one, is ``aem/WebShop-v0``; see docs/webshop.md). Same rules and reward on both.
* ``data_dir``: load upstream's original data files instead of the generated catalog (``original.py``).
* The reset seed orders search results of equal BM25 score (upstream: index order); nothing else about an
  episode depends on it once ``instance_id`` is given (docs/envs-seeds.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, ClassVar

from aem_envs.core import StepResult, TextEnv
from aem_envs.registry import Registry
from aem_envs.tasks import MANIFEST_NAME, TaskSet, tasks_root
from aem_envs.webshop.catalog import CATALOG_FILE, Catalog, cached_catalog, read_jsonl_gz
from aem_envs.webshop.engine import PAGE_SIZE, Engine, State, render_text, render_text_rich
from aem_envs.webshop.reward import Score, score

SEARCH_PLACEHOLDER = "search[<your query>]"
DEFAULT_VERSION = "v1"  # the catalog ``WebShopEnv()`` loads; ``aem/WebShop-v0`` pins v0 (docs/webshop.md)
_Renderer = Callable[[list, frozenset], str]
# name -> (renderer, separator for notices)
OBSERVATION_MODES: Registry[tuple[_Renderer, str]] = Registry("observation_mode")


def observation_mode(name: str, sep: str) -> Callable[[_Renderer], _Renderer]:
    def wrap(fn: _Renderer) -> _Renderer:
        OBSERVATION_MODES.register(name, (fn, sep))
        return fn
    return wrap


observation_mode("text", " [SEP] ")(lambda els, visited: render_text(els))
observation_mode("text_rich", "\n")(render_text_rich)


@observation_mode("html", "\n")
def _html(els: list, visited: frozenset) -> str:
    from aem_envs.webshop.html import render_page

    return render_page(els, links=None)


class _SharedTaskSet(TaskSet):
    """A TaskSet whose parsed records are shared by every env of the process with the same manifest (the
    folder is still verified on each make; only the 7,000-line parse is skipped)."""

    _shared: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def _load_records(self) -> dict[str, dict[str, Any]]:
        with self._shared_lock:
            recs = self._shared.get(self.manifest.sha256)
            if recs is None:
                recs = self._shared[self.manifest.sha256] = super()._load_records()
            return recs


def available_versions() -> list[str]:
    """The shipped catalog versions (folders of ``tasks/webshop`` with a manifest)."""
    root = tasks_root() / "webshop"
    return sorted(p.name for p in root.iterdir() if (p / MANIFEST_NAME).is_file()) if root.is_dir() else []


def load_generated(version: str = DEFAULT_VERSION) -> tuple[TaskSet, Catalog]:
    """The shipped tasks and catalog (verified against the manifest; the catalog is cached per hash)."""
    if version not in available_versions():
        raise ValueError(f"WebShop catalog version {version!r} is not shipped; choose one of "
                         f"{available_versions()} (docs/webshop.md)")
    tasks = _SharedTaskSet.open("webshop", version)
    return tasks, cached_catalog(tasks.manifest.sha256, lambda: read_jsonl_gz(tasks.path(CATALOG_FILE)))


class WebShopEnv(TextEnv):
    """WebShop over our generated catalog (or upstream's files with ``data_dir``)."""

    def __init__(self, split: str = "train", observation_mode: str = "text", data_dir: str | None = None,
                 human_goals: bool = True, num_products: int | None = None, search_anywhere: bool = True,
                 render_mode: str | None = None, version: str = DEFAULT_VERSION):
        renderer = OBSERVATION_MODES.get(observation_mode)  # unknown modes fail before any loading
        if data_dir is None:
            if num_products is not None or not human_goals:
                raise ValueError("num_products and human_goals apply to upstream's files: pass data_dir=PATH")
            tasks, catalog = load_generated(version)
        else:
            from aem_envs.webshop.original import load_original

            tasks, catalog = load_original(data_dir, human_goals=human_goals, num_products=num_products)
        super().__init__(tasks, split=split, render_mode=render_mode)
        self.catalog = catalog
        self.engine = Engine(catalog, search_anywhere=search_anywhere)
        self.observation_mode = observation_mode
        self._render, self._sep = renderer
        self.goal: dict[str, Any] = {}
        self.state = State()
        self.visited: set[str] = set()
        self.last_score: Score | None = None

    # -- TextEnv hooks ----------------------------------------------------------------------------------
    def _reset_task(self, task: Any, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.goal = dict(task)
        self.state, self.visited, self.last_score = State(), set(), None
        self.engine.tie_key = self.episode_key  # equally ranked search results in this seed's order
        return self._observe(), {"instruction": self.goal["instruction_text"]}

    def _task_type(self, task: Any) -> str:
        return str(task.get("task_type") or task.get("category") or "shop")

    def _observe(self) -> str:
        score = self.last_score.reward if self.last_score else None
        els = self.engine.view(self.state, self.goal["instruction_text"], score)
        return self._render(els, frozenset(self.visited))

    def _step(self, action: str) -> StepResult:
        out = self.engine.step(self.state, action)
        if not out.valid:
            return StepResult(f"Invalid action: {out.message}.{self._sep}{self._observe()}",
                              is_action_valid=False)
        self.state = out.state
        if self.state.page == "item":
            self.visited.add(self.state.asin)
        if self.state.page != "done":
            return StepResult(self._observe())
        self.last_score = self.purchase_score(self.state)
        won = self.last_score.reward == 1.0
        return StepResult(self._observe(), reward=self.last_score.reward, terminated=True, won=won,
                          info={"score": self.last_score.to_dict(), "purchased": self.state.asin})

    def purchase_score(self, state: State) -> Score:
        """WebShop's score for buying ``state.asin`` with ``state.options`` against the current goal."""
        product = self.catalog.by_asin[state.asin]
        return score(product, product["price"], state.selected, self.goal)

    def admissible_actions(self) -> list[str]:
        if self.state.page == "search":
            return [SEARCH_PLACEHOLDER]
        return [f"click[{c}]" for c, (kind, _) in self.engine.clickables(self.state).items()
                if kind != "search"]

    def oracle_action(self) -> str | None:
        """Search the target's title, page to it, open it, pick the goal's options, buy."""
        st, target = self.state, self.goal.get("asin")
        if st.page == "done" or target not in self.catalog.by_asin:
            return None
        if st.asin == target and st.page == "sub":
            return "click[< prev]"
        if st.asin == target and st.page == "item":
            clickables = self.engine.clickables(st)
            chosen = st.selected
            for v in self._goal_values():
                kind, group = clickables.get(v, ("", ""))
                if kind == "option" and chosen.get(group) != v:
                    return f"click[{v}]"
            return "click[buy now]"
        if st.page == "results":
            results = self.engine.results(st)
            if target in results:
                want = results.index(target) // PAGE_SIZE + 1
                if want == st.page_num:
                    return f"click[{target.lower()}]"
                return "click[next >]" if want > st.page_num else "click[< prev]"
        if st.page != "search" and not self.engine.search_anywhere:
            return "click[back to search]"
        return f"search[{self._oracle_query()}]"

    def _goal_values(self) -> list[str]:
        opts = self.goal.get("goal_options") or []
        return [str(v).lower() for v in (opts.values() if isinstance(opts, dict) else opts)]

    def _oracle_query(self) -> str:
        title = self.catalog.by_asin[self.goal["asin"]]["name"].lower()
        return " ".join(title.replace("[", " ").replace("]", " ").split()) or "product"
