"""How hard a WebShop catalog is for shallow strategies: statistics and two reference shoppers.

Statistics per goal (``goal_stats``; docs/webshop.md reports them for v0 and v1):

* ``title_overlap``: the share of the instruction's search terms (``search.tokenize`` of the text before
  ``", and price"``) that occur in the target's title: how far "match the title" gets you;
* ``attrs_in_title`` / ``options_in_title``: the share of the goal's attributes / option values that occur
  in the target's title as whole words;
* on page 1 of a search for the instruction: is the target there, how many products could score 1.0,
  how many are one unit short (what a shopper who does not read the item pages picks from);
* near-duplicate distractors: other products of the target's query bucket that would score exactly one
  unit short of 1.0 (``reward.score`` with their best option picks), by what they miss: an attribute, an
  option, or only the price (``price_binds``: the ceiling is what separates it from the target).

Shoppers (``env, info -> action``): ``title_match_action`` searches the instruction, opens the first
result whose title shares most words with it and buys (with ``options=True`` it first clicks the option
values the instruction names); ``random_action`` searches the instruction, then clicks uniformly among the
admissible buttons.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aem_envs.webshop.catalog import Catalog
from aem_envs.webshop.reward import option_matches, score
from aem_envs.webshop.search import tokenize


def instruction_core(text: str) -> str:
    """The instruction without upstream's ``", and price lower than X dollars"`` tail."""
    return text.split(", and price lower than")[0]


def title_overlap(instruction: str, title: str) -> float:
    terms = tokenize(instruction_core(instruction))
    title_terms = set(tokenize(title))
    return sum(t in title_terms for t in terms) / len(terms) if terms else 0.0


def in_title(phrase: str, text: str) -> bool:
    """``phrase`` occurs in ``text`` (a title) as whole words, case-insensitive: "5" is not in "LU-385"."""
    return re.search(rf"(?<![\w-]){re.escape(phrase.lower())}(?![\w-])", text.lower()) is not None


def best_picks(product: Mapping[str, Any], goal: Mapping[str, Any]) -> dict[str, str]:
    """Per option group, a value the goal names if the product offers one, else the group's first value."""
    return {group: next((v for v in values if option_matches([v], goal["goal_options"])), values[0])
            for group, values in product["options"].items()}


def best_score(product: Mapping[str, Any], goal: Mapping[str, Any]) -> float:
    """The highest reward buying ``product`` can earn for ``goal``."""
    return score(product, product["price"], best_picks(product, goal), goal).reward


def miss_kind(product: Mapping[str, Any], goal: Mapping[str, Any]) -> str | None:
    """``"attribute"``, ``"option"`` or ``"price"`` when ``product`` misses exactly that one unit of the
    goal (type matched, everything else matched), else ``None``."""
    s = score(product, product["price"], best_picks(product, goal), goal)
    if s.r_type != 1.0:
        return None
    misses = {"attribute": len(goal["attributes"]) - s.num_attr_matches,
              "option": len(goal["goal_options"]) - s.num_option_matches, "price": int(not s.r_price)}
    missed = [k for k, n in misses.items() if n]
    return missed[0] if len(missed) == 1 and misses[missed[0]] == 1 else None


@dataclass(frozen=True)
class GoalStats:
    title_overlap: float
    attrs_in_title: float
    options_in_title: float
    distractors: int  # near-duplicates one unit short, in the target's query bucket
    attribute_distractors: int
    option_distractors: int
    price_distractors: int
    first_page_target: bool  # the target is on page 1 of a search for the instruction
    first_page_full: int  # products on that page that can score 1.0 (the target included)
    first_page_near: int  # products on that page one unit short

    @property
    def price_binds(self) -> bool:
        return self.price_distractors > 0


def goal_stats(goal: Mapping[str, Any], catalog: Catalog, bucket: list[Mapping[str, Any]]) -> GoalStats:
    """Statistics of one goal; ``bucket`` is the catalog's products with the target's ``query``."""
    target = catalog.by_asin[goal["asin"]]
    title = target["name"].lower()
    kinds = [miss_kind(p, goal) for p in bucket if p["asin"] != target["asin"]]
    attrs, opts = goal["attributes"], list(goal["goal_options"])
    page = [catalog.by_asin[a] for a in
            catalog.search.search(tuple(instruction_core(goal["instruction_text"]).split(" ")))[:10]]
    return GoalStats(
        title_overlap=title_overlap(goal["instruction_text"], target["name"]),
        attrs_in_title=sum(in_title(a, title) for a in attrs) / len(attrs) if attrs else 0.0,
        options_in_title=sum(in_title(str(v), title) for v in opts) / len(opts) if opts else 0.0,
        distractors=sum(k is not None for k in kinds), attribute_distractors=kinds.count("attribute"),
        option_distractors=kinds.count("option"), price_distractors=kinds.count("price"),
        first_page_target=target in page, first_page_full=sum(best_score(p, goal) == 1.0 for p in page),
        first_page_near=sum(miss_kind(p, goal) is not None for p in page))


def catalog_stats(goals: list[Mapping[str, Any]], catalog: Catalog) -> dict[str, float]:
    """Means of ``goal_stats`` over ``goals`` (``price_binds`` as the share of goals where it binds)."""
    buckets: dict[str, list[Mapping[str, Any]]] = {}
    for p in catalog.products:
        buckets.setdefault(p["query"], []).append(p)
    rows = [goal_stats(g, catalog, buckets[catalog.by_asin[g["asin"]]["query"]]) for g in goals]
    out = {k: sum(asdict(r)[k] for r in rows) / len(rows) for k in asdict(rows[0])}
    out["price_binds"] = sum(r.price_binds for r in rows) / len(rows)
    out["goals_with_distractor"] = sum(r.distractors > 0 for r in rows) / len(rows)
    return out


# -- reference shoppers --------------------------------------------------------------------------------
def title_match_action(env: Any, info: Mapping[str, Any], options: bool = False) -> str:
    """Search the instruction; open the first result whose title shares most words with it; buy.

    With ``options``, first click in each option group the longest value the instruction names.
    """
    ws = env.unwrapped
    instruction = ws.goal["instruction_text"]
    page = ws.state.page
    if page == "item":
        product = ws.catalog.by_asin[ws.state.asin]
        for group, values in product["options"].items() if options else ():
            named = [v for v in values if in_title(v, instruction_core(instruction))]
            if named and ws.state.selected.get(group) != max(named, key=len):
                return f"click[{max(named, key=len)}]"
        return "click[buy now]"
    if page == "results":
        items = ws.engine.page_items(ws.state)
        if items:
            words = set(tokenize(instruction_core(instruction)))
            best = max(items, key=lambda a: (len(words & set(tokenize(ws.catalog.by_asin[a]["name"]))),
                                             -items.index(a)))
            return f"click[{best.lower()}]"
    return f"search[{instruction_core(instruction)}]"


def random_action(env: Any, info: Mapping[str, Any], rng: random.Random) -> str:
    """Search the instruction on the search page; elsewhere a uniformly random admissible click."""
    ws = env.unwrapped
    if ws.state.page == "search":
        return f"search[{instruction_core(ws.goal['instruction_text'])}]"
    return rng.choice(info["admissible_actions"])


class CarefulShopper:
    """A shopper that reads before it buys, within the 15-step budget: searches the instruction, skips
    results whose shown price is over the ceiling, opens the next candidate, leaves it if an asked option
    value is not offered, reads Features, Reviews and Description until every asked attribute is found
    (leaving it if one is missing), then picks the asked values and buys. It takes the attribute phrases and
    option values from the goal record, as a reader of the instruction would extract them. One per episode.
    """

    SUBS = ("Features", "Reviews", "Description")

    def __init__(self, budget: int = 15):
        self.budget, self.steps = budget, 0
        self.rejected: set[str] = set()
        self.read: dict[str, set[str]] = {}

    def __call__(self, env: Any, info: Mapping[str, Any]) -> str:
        self.steps += 1
        return self._act(env.unwrapped)

    def _act(self, ws: Any) -> str:
        goal, st = ws.goal, ws.state
        if st.page == "search":
            return f"search[{instruction_core(goal['instruction_text'])}]"
        if st.page == "sub":
            self.read.setdefault(st.asin, set()).add(st.sub)
            return "click[< prev]"
        if st.page == "results":
            items = [a for a in ws.engine.page_items(st) if a not in self.rejected
                     and ws.catalog.by_asin[a]["pricing"][0] <= goal["price_upper"]]
            return f"click[{items[0].lower()}]" if items else "click[next >]"
        product = ws.catalog.by_asin[st.asin]
        offered = {v for vals in product["options"].values() for v in vals}
        wanted = [str(v) for v in goal["goal_options"] if str(v) in offered]
        todo = [v for v in wanted if v not in st.selected.values()]
        left = self.budget - self.steps
        if len(wanted) < len(goal["goal_options"]) and left > len(todo) + 1:
            return self._leave(st.asin)
        seen = self._seen(product, self.read.get(st.asin, set()))
        missing = [a for a in goal["attributes"] if a not in seen]
        unread = [s for s in self.SUBS if s not in self.read.get(st.asin, set())]
        if missing and left > len(todo) + 3:
            return f"click[{unread[0].lower()}]" if unread else self._leave(st.asin)
        return f"click[{todo[0]}]" if todo else "click[buy now]"

    def _leave(self, asin: str) -> str:
        self.rejected.add(asin)
        return "click[< prev]"

    @staticmethod
    def _seen(product: Mapping[str, Any], read: set[str]) -> str:
        parts = [product["name"]]
        if "Features" in read:
            parts += product["bullets"]
        if "Reviews" in read:
            parts += [r["body"] for r in product["reviews"]]
        if "Description" in read:
            parts.append(product["description"])
        return " ".join(parts).lower()
