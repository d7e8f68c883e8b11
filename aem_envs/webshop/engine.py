"""WebShop's page machine, shared by the text env and the web server.

A ``State`` (frozen, hashable, serialisable into a URL query) says which page is shown; ``Engine.step``
applies one ``search[...]`` / ``click[...]`` action to it and ``Engine.view`` lists the page's elements,
which ``render_text`` / ``render_text_rich`` (here) and ``html.render_html`` turn into observations.

Pages and buttons are upstream's V1 site (``Back to Search``, ``< Prev``, ``Next >``, ``Description``,
``Features``, ``Reviews``, ``Buy Now``), 10 results a page out of the top 50. The action grammar is
upstream's ``(.+)\\[(.+)\\]`` (greedy, first line only, case-sensitive name, argument lowercased and not
stripped), implemented without a backtracking regex so hostile input stays linear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from aem_envs.core import keyed_order
from aem_envs.webshop.catalog import Catalog, price_text, rating_text

BACK, PREV, NEXT, BUY = "Back to Search", "< Prev", "Next >", "Buy Now"
SUB_PAGES = ("Description", "Features", "Reviews")
PAGE_SIZE = 10
MAX_ACTION_CHARS = 2000  # longer actions are refused before parsing


@dataclass(frozen=True)
class State:
    """Where the shopper is. ``options`` is ``((group, value), ...)`` in first-selection order."""

    page: str = "search"  # search | results | item | sub | done
    keywords: tuple[str, ...] = ()
    page_num: int = 1
    asin: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    sub: str | None = None

    @property
    def selected(self) -> dict[str, str]:
        return dict(self.options)

    def with_option(self, group: str, value: str) -> State:
        opts = dict(self.options)
        opts[group] = value  # re-selecting a group overwrites it in place; there is no "unselect"
        return replace(self, options=tuple(opts.items()))

    def to_query(self) -> dict[str, str]:
        q = {"page": self.page}
        if self.keywords:
            q["q"] = " ".join(self.keywords)
            q["p"] = str(self.page_num)
        if self.asin:
            q["asin"] = self.asin
        if self.options:
            q["o"] = json.dumps(list(self.options), separators=(",", ":"))
        if self.sub:
            q["sub"] = self.sub
        return q

    @classmethod
    def from_query(cls, q: Mapping[str, str]) -> State:
        """Inverse of ``to_query``; raises ``ValueError`` on a malformed query."""
        page = q.get("page", "search")
        if page not in ("search", "results", "item", "sub", "done"):
            raise ValueError(f"unknown page {page!r}")
        opts = json.loads(q["o"]) if q.get("o") else []
        if not all(isinstance(o, list) and len(o) == 2 and all(isinstance(x, str) for x in o) for o in opts):
            raise ValueError("options must be a list of [group, value] pairs")
        sub = q.get("sub")
        if sub is not None and sub not in SUB_PAGES:
            raise ValueError(f"unknown sub-page {sub!r}")
        return cls(page=page, keywords=tuple(q["q"].split(" ")) if q.get("q") else (),
                   page_num=max(1, int(q.get("p", "1"))), asin=q.get("asin") or None,
                   options=tuple((g, v) for g, v in opts), sub=sub)


@dataclass(frozen=True)
class Outcome:
    state: State
    valid: bool
    message: str = ""  # why an action was refused


def split_command(action: str) -> tuple[str, str] | None:
    """``(name, argument)`` as upstream's ``re.match(r'(.+)\\[(.+)\\]', action)`` would give, or ``None``."""
    line = action.split("\n", 1)[0]
    r = line.rfind("]")
    if r < 3:
        return None
    i = line.rfind("[", 1, r - 1)  # greedy first group: the last "[" that leaves a non-empty argument
    if i < 1:
        return None
    return line[:i], line[i + 1:r]


@lru_cache(maxsize=4096)
def _tie_order(asins: tuple[str, ...], groups: tuple[int, ...], key: int) -> tuple[str, ...]:
    runs: dict[int, list[str]] = {}
    for a, g in zip(asins, groups, strict=True):
        runs.setdefault(g, []).append(a)
    return tuple(a for g in sorted(runs) for a in keyed_order(runs[g], key))


class Engine:
    """The page machine over one catalog. Stateless: every method takes the ``State``.

    ``tie_key``: 0 lists equally scored results in catalog order (Lucene's index order); another value
    permutes each run of equal scores by that key (the env sets its episode key: docs/envs-seeds.md).
    """

    def __init__(self, catalog: Catalog, search_anywhere: bool = True, tie_key: int = 0):
        self.catalog = catalog
        self.search_anywhere = search_anywhere
        self.tie_key = tie_key

    def results(self, state: State) -> tuple[str, ...]:
        asins, groups = self.catalog.search.ranked(state.keywords)
        return _tie_order(asins, groups, self.tie_key) if self.tie_key else asins

    def page_items(self, state: State) -> tuple[str, ...]:
        start = (state.page_num - 1) * PAGE_SIZE
        return self.results(state)[start:start + PAGE_SIZE]

    def clickables(self, state: State) -> dict[str, tuple[str, str]]:
        """Lowercased clickable text -> (kind, argument), in page order; duplicate texts collapse into the
        later element, as upstream's dict does (generated products never have such duplicates)."""
        out: dict[str, tuple[str, str]] = {}
        if state.page == "search":
            out["search"] = ("search", "")
        elif state.page == "results":
            out[BACK.lower()] = ("back", "")
            if state.page_num > 1:
                out[PREV.lower()] = ("prev", "")
            out[NEXT.lower()] = ("next", "")
            for asin in self.page_items(state):
                out[asin.lower()] = ("asin", asin)
        elif state.page == "item":
            out[BACK.lower()] = ("back", "")
            out[PREV.lower()] = ("prev", "")
            for sub in SUB_PAGES:
                out[sub.lower()] = ("sub", sub)
            out[BUY.lower()] = ("buy", "")
            for group, values in self.catalog.by_asin[state.asin]["options"].items():
                for v in values:
                    out[v] = ("option", group)
        elif state.page == "sub":
            out[BACK.lower()] = ("back", "")
            out[PREV.lower()] = ("prev", "")
        return out

    def step(self, state: State, action: str) -> Outcome:
        if state.page == "done":
            return Outcome(state, False, "the purchase is complete; the episode is over")
        if len(action) > MAX_ACTION_CHARS:
            return Outcome(state, False, f"the action is longer than {MAX_ACTION_CHARS} characters")
        parsed = split_command(action)
        if parsed is None:
            return Outcome(state, False, "actions look like search[keywords] or click[button]")
        name, arg = parsed[0], parsed[1].lower()
        if name == "search":
            if not self.search_anywhere and state.page != "search":
                return Outcome(state, False, "there is no search box on this page")
            return Outcome(State("results", tuple(arg.split(" ")), 1), True)
        if name != "click":
            return Outcome(state, False, f"unknown action {name!r}; use search[...] or click[...]")
        target = self.clickables(state).get(arg)
        if target is None:
            return Outcome(state, False, f"{arg!r} is not a button on this page")
        kind, value = target
        if kind == "search":  # upstream lists the Search button but never clicks it
            return Outcome(state, False, "type the query with search[keywords] instead of clicking Search")
        if kind == "back":
            return Outcome(State(), True)
        if kind == "next":
            return Outcome(replace(state, page_num=state.page_num + 1), True)
        if kind == "prev":
            if state.page == "results":
                return Outcome(replace(state, page_num=state.page_num - 1), True)
            if state.page == "item":  # back to the results: the search is re-run and options reset
                return Outcome(State("results", state.keywords, state.page_num), True)
            return Outcome(replace(state, page="item", sub=None), True)  # sub-page: options kept
        if kind == "sub":
            return Outcome(replace(state, page="sub", sub=value), True)
        if kind == "asin":
            return Outcome(State("item", state.keywords, state.page_num, asin=value), True)
        if kind == "option":
            return Outcome(state.with_option(value, arg), True)
        return Outcome(replace(state, page="done", sub=None), True)  # buy now

    # -- views --------------------------------------------------------------------------------------------
    def view(self, state: State, instruction: str, score: float | None = None) -> list[tuple[str, str, Any]]:
        """The page as ``(kind, text, data)`` elements in page order (see ``render_text``)."""
        if state.page == "done":
            opts = json.dumps(state.selected, sort_keys=True)
            els: list[tuple[str, str, Any]] = [
                ("heading", "Thank you for shopping with us!", None), ("label", "Purchased", None),
                ("label", "asin", None), ("text", state.asin or "", None), ("label", "options", None),
                ("text", opts, None), ("label", "Your score (min 0.0, max 1.0)", None)]
            if score is not None:
                els.append(("score", f"{score}", score))
            return els
        els = [] if state.page != "search" else [("logo", "WebShop", None)]
        if state.page == "item":  # what was clicked, latest first (upstream's text_rich feedback, issue 20)
            els += [("clicked", f"You have clicked {v}.", v) for _, v in reversed(state.options)]
        els += [("label", "Instruction:", None), ("instruction", instruction, None)]
        if state.page == "search":
            return els + [("search", "Search", None)]
        els.append(("button", BACK, "back"))
        if state.page == "results":
            total = len(self.results(state))
            els.append(("label", f"Page {state.page_num} (Total results: {total})", None))
            if state.page_num > 1:
                els.append(("button", PREV, "prev"))
            els.append(("button", NEXT, "next"))
            for asin in self.page_items(state):
                p = self.catalog.by_asin[asin]
                els += [("product", asin, asin), ("text", p["name"], None),
                        ("text", price_text(p["pricing"]), None)]
            return els
        els.append(("button", PREV, "prev"))
        p = self.catalog.by_asin[state.asin]
        if state.page == "item":
            rank = {gv: k for k, gv in enumerate(state.options)}  # data: selection order, None if unselected
            for group, values in p["options"].items():
                els.append(("group", group, None))
                els += [("option", v, rank.get((group, v))) for v in values]
            els += [("title", p["name"], None), ("text", f"Price: {price_text(p['pricing'])}", None),
                    ("text", f"Rating: {rating_text(p['reviews'])}", None)]
            els += [("button", s, "sub") for s in SUB_PAGES]
            return els + [("button", BUY, "buy")]
        if state.sub == "Description":
            return els + [("para", p["description"], None)]
        if state.sub == "Features":
            return els + [("bullet", b, None) for b in p["bullets"]]
        for r in p["reviews"]:
            els += [("review_title", r["title"], None), ("text", f"{r['score']} out of 5 stars", None),
                    ("para", r["body"], None)]
        return els


SELECTED_MARK = " (selected)"


def render_text(elements: list[tuple[str, str, Any]]) -> str:
    """Upstream's ``text`` mode: every visible text, joined with `` [SEP] ``.

    One departure (issue 20, defect 8): on an item page the chosen options are said (``You have clicked
    x.``, as upstream's ``text_rich`` says it) and marked (``x (selected)``); upstream's ``text`` page is
    byte-identical before and after a click, so an agent cannot tell that its choice registered.
    """
    return " [SEP] ".join(text + SELECTED_MARK if kind == "option" and data is not None else text
                          for kind, text, data in elements)


def render_text_rich(elements: list[tuple[str, str, Any]], visited: frozenset[str] = frozenset()) -> str:
    """Upstream's ``text_rich`` mode: one line per text, buttons marked, selected options shown."""
    lines = []
    for kind, text, data in elements:
        if kind in ("button", "search"):
            lines.append(f"[button] {text} [button_]")
        elif kind == "product":
            tag = "clicked button" if text in visited else "button"
            lines.append(f"\n[{tag}] {text} [{tag}_]")
        elif kind == "option":
            tag = "button" if data is None else "clicked button"
            lines.append(f"  [{tag}] {text} [{tag}_]")
        else:
            lines.append(text)
    return "\n".join(lines)
