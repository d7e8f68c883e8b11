"""WebShop's purchase score (``goal.py: get_reward`` in princeton-nlp/WebShop), re-implemented.

``reward = r_type * (attribute matches + option matches + price ok) / (#attributes + #options + 1)``

* ``r_type``: 1.0, lowered to 0.5 when neither the query bucket, the breadcrumb (>= 2 shared levels) nor the
  title nouns (> 0.2) match the target, to 0.1 when the title-noun score is below 0.1 and to 0.0 when it is
  0 (later rules override earlier ones, exactly as upstream, so a query match does not save a product
  whose title shares no noun with the target's).
* an attribute matches when a product attribute has ``token_set_ratio > 85`` with it, or when it is a
  substring of the lowercased title, bullets or description;
* an option matches when a bought value has ``token_set_ratio > 85`` with it after ``normalize_color``
  on both sides (the first colour word of ``COLOR_SET`` found as a *substring*; upstream's leniency such
  as ``light blue`` → ``blue`` or ``standard`` → ``tan`` is kept on purpose, see the package docstring);
* the price is ok when the hidden purchase price is ``<= price_upper``.

Departures, both deliberate: fuzzy matching uses ``rapidfuzz`` with thefuzz's preprocessing (thefuzz >= 0.20
is a wrapper around it, so the numbers are the same), and the title nouns come from a pinned lexical rule
(``title_nouns``) instead of a spaCy model whose tags change between model versions and which cannot be
downloaded here. ``COLOR_SET`` is our own alphabetical list of colour words with upstream's semantics.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

FUZZY_THRESHOLD = 85  # strictly greater than, as upstream

# Alphabetical on purpose: normalize_color returns the FIRST entry found as a substring.
COLOR_SET = (
    "almond", "amber", "apricot", "aqua", "ash", "azure", "beige", "berry", "black", "blonde", "blue",
    "blush", "bronze", "brown", "burgundy", "camel", "champagne", "charcoal", "cherry", "chocolate",
    "cinnamon", "clear", "coffee", "copper", "coral", "cream", "crimson", "cyan", "dark", "denim", "emerald",
    "fuchsia", "gold", "gray", "green", "grey", "honey", "indigo", "ivory", "jade", "khaki", "lavender",
    "lemon", "light", "lilac", "lime", "magenta", "mahogany", "maroon", "mauve", "mint", "mocha", "multi",
    "mustard", "natural", "navy", "neon", "nude", "oak", "olive", "orange", "peach", "pearl", "pink", "plum",
    "purple", "red", "rose", "ruby", "rust", "sage", "salmon", "sand", "sapphire", "silver", "sky", "slate",
    "tan", "taupe", "teal", "turquoise", "violet", "walnut", "wheat", "white", "wine", "yellow",
)

# The pinned "tagger": every title word that is not one of these counts as a noun. Titles are title-cased
# product names, which spaCy tags mostly NOUN/PROPN too; the list drops function words and units.
NON_NOUNS = frozenset(
    "a an and or the of for with without in on at to by from into over under up down as is are be it its "
    "this that these those your my our their his her you we i me all any each per plus x vs via not no "
    "oz fl ounce ounces lb lbs pound pounds inch inches ft cm mm ml kg gb tb mah "
    "w count pack pcs pc set piece pieces pair pairs".split())
_WORD = re.compile(r"[a-z][a-z'\-]*")


@lru_cache(maxsize=65536)
def title_nouns(title: str) -> tuple[str, ...]:
    """Lowercased noun tokens of a product title (duplicates kept, as upstream's list is)."""
    out = []
    for w in _WORD.findall(title.lower()):
        w = w.removesuffix("'s").strip("'-")
        if len(w) > 1 and w not in NON_NOUNS:
            out.append(w)
    return tuple(out)


@lru_cache(maxsize=65536)
def normalize_color(s: str) -> str:
    """Upstream's colour normalisation: the first ``COLOR_SET`` word contained in ``s``, else ``s``."""
    for c in COLOR_SET:
        if c in s:
            return c
    return s


def _option_key(opt: Any) -> str:
    # Upstream keeps synthetic (name, value) goal options as tuples; thefuzz then scores their str().
    if isinstance(opt, tuple):
        if any(x in COLOR_SET for x in opt):  # `in` on a tuple tests equality, so only exact colour words
            return next(x for x in COLOR_SET if x in opt)
        return str(opt)
    return normalize_color(str(opt))


def fuzzy(a: str, b: str) -> float:
    """thefuzz's ``token_set_ratio`` with its default full processing (lowercase, punctuation → spaces)."""
    return fuzz.token_set_ratio(a, b, processor=default_process)


@dataclass(frozen=True)
class Score:
    """The reward and its parts, as upstream's verbose info reports them."""

    reward: float
    r_type: float
    r_att: float
    w_att: float
    r_option: float | None
    w_option: float
    r_price: bool
    w_price: float
    query_match: bool
    category_match: bool
    title_score: float
    num_attr_matches: int
    num_option_matches: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def type_reward(bought: Mapping[str, Any], goal: Mapping[str, Any]) -> tuple[float, bool, bool, float]:
    """``(r_type, query_match, category_match, title_score)`` for a bought product and a goal."""
    query_match = bought["query"].strip().lower() == goal["query"].strip().lower()
    cat_a = {p.strip() for p in bought["product_category"].split("›")}
    cat_b = {p.strip() for p in goal["product_category"].split("›")}
    category_match = len(cat_a & cat_b) >= 2
    goal_nouns = title_nouns(goal["name"])
    if goal_nouns:
        title_score = len(set(title_nouns(bought["name"])) & set(goal_nouns)) / len(goal_nouns)
    else:
        title_score = 0.2
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return r_type, query_match, category_match, title_score


def attribute_matches(bought: Mapping[str, Any], goal_attributes: Sequence[str]) -> int:
    title = bought["name"].lower()
    bullets = " ".join(bought["bullets"]).lower()
    desc = bought["description"].lower()
    n = 0
    for g in goal_attributes:
        if any(fuzzy(a, g) > FUZZY_THRESHOLD for a in bought["attributes"]):
            n += 1
        elif g in title or g in bullets or g in desc:
            n += 1
    return n


def option_matches(bought_values: Iterable[str], goal_options: Sequence[Any] | Mapping[str, str]) -> int:
    goal_list = list(goal_options.items()) if isinstance(goal_options, Mapping) else list(goal_options)
    bought = [normalize_color(v) for v in bought_values]
    return sum(any(fuzzy(_option_key(g), b) > FUZZY_THRESHOLD for b in bought) for g in goal_list)


def score(bought: Mapping[str, Any], price: float, options: Mapping[str, str],
          goal: Mapping[str, Any]) -> Score:
    """Score buying ``bought`` at hidden ``price`` with ``options`` (group -> value) against ``goal``.

    ``bought`` needs ``name, query, product_category, attributes, bullets, description``; ``goal`` needs
    ``name, query, product_category, attributes, goal_options, price_upper``.
    """
    r_type, query_match, category_match, title_score = type_reward(bought, goal)
    attrs = list(goal["attributes"])
    goal_options = goal["goal_options"]
    n_att = attribute_matches(bought, attrs)
    n_opt = option_matches(options.values(), goal_options)
    n_goal_opt = len(goal_options)
    r_price = bool(price <= goal["price_upper"]) if goal["price_upper"] > 0 else False
    denom = len(attrs) + n_goal_opt + 1
    total = r_type * (n_att + n_opt + int(r_price)) / denom
    return Score(
        reward=total, r_type=r_type, r_att=n_att / len(attrs) if attrs else 0.0, w_att=len(attrs) / denom,
        r_option=n_opt / n_goal_opt if n_goal_opt else None, w_option=n_goal_opt / denom, r_price=r_price,
        w_price=1 / denom, query_match=query_match, category_match=category_match, title_score=title_score,
        num_attr_matches=n_att, num_option_matches=n_opt)
